package vault

// A randomized, model-based test of the reference protocol: several actors (each a Vault, as
// separate processes would be) interleave Store, StoreBatch, Delete, GC and Verify over one
// shared store, with faults injected into their requests, and a model of which conversations
// exist is checked against the store after every step.
//
// Interleaving is under the test's control: every backend call of every actor is a yield point
// (each actor has its own fault wrappers, whose hook blocks the call), and a scheduler seeded
// with STOWKEN_MODEL_SEED picks, step by step, which actor moves next — start a new operation,
// or let one pending call through (possibly failed before sending, failed after applying,
// delivered twice, or the first call of a crashed operation, after which all its calls fail).
// Only one actor runs at a time. The fake clock advances at random, so grace periods, writer
// deadlines and claims expire in the middle of operations; deadlines the vault derives from the
// clock fire on it (virtual deadlines in the wrappers), as real clients' do. A writer that meets
// a claimed segment sleeps in real time between polls; the scheduler parks it and lets it poll
// again only once the segment's head has changed, the claim has expired or its deadline has
// passed. The seed fixes the scheduler's and the injector's choices and the vault's random
// nonces and claim ids, but not the order in which the vault iterates its own maps (Verify's
// repairs, StoreBatch's segment checks), so a seed reproduces the shape of a run, not every
// step: a failure prints the last 80 steps, and STOWKEN_MODEL_TRACE=file writes them all.
//
// After every step that wrote something or finished an operation: the protocol's invariants
// hold (no manifest uses a missing object; every segment of a manifest has a head and a
// reference from the manifest's owner; every live head has its object), every stored
// conversation retrieves byte-exactly as one of the contents stored under its id, and every
// conversation the model knows to be stored is stored with the content the model expects. A
// Store or Delete that failed may or may not have taken effect; the model resolves it from the
// manifest once no operation on that id is in flight.
//
// At the end: faults off, the clock past every deadline and claim, Verify --repair and GC run
// twice, and then nothing may leak.
//
// STOWKEN_MODEL_STEPS is the number of operations to start (default 3,000, a third of that
// under the race detector); each is many scheduling steps.
//
//	STOWKEN_MODEL_STEPS=20000 STOWKEN_MODEL_SEED=42 go test -run TestGCModel -v ./vault/

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/internal/faults"
	"github.com/stowken/stowken/manifest"
	objfaulty "github.com/stowken/stowken/objstore/faulty"
	"github.com/stowken/stowken/refcount"
	reffaulty "github.com/stowken/stowken/refcount/faulty"
	"github.com/stowken/stowken/tokenizer"
)

const (
	modelActors   = 4
	modelIDs      = 10 // ids; each may hold one of 3 contents
	modelContents = 3 * modelIDs
	// defaultModelOps is the number of operations a plain go test run starts.
	defaultModelOps = 3000
	// modelWatchdog bounds the wait for an actor's next call (a writer polling a claimed
	// segment sleeps at most a second between polls).
	modelWatchdog = 20 * time.Second
)

func TestGCModel(t *testing.T) {
	if testing.Short() {
		t.Skip("model test: not in -short mode")
	}
	ops := defaultModelOps
	if raceEnabled() {
		ops = defaultModelOps / 3 // the race detector slows the scheduler down about tenfold
	}
	if s := os.Getenv("STOWKEN_MODEL_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("STOWKEN_MODEL_STEPS=%q: want a positive number of operations", s)
		}
		ops = n
	}
	seed := rand.Uint64()
	if s := os.Getenv("STOWKEN_MODEL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STOWKEN_MODEL_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (reproduce with STOWKEN_MODEL_SEED=%d), %d operations", seed, seed, ops)
	cryptotest.SetGlobalRandom(t, seed) // nonces and claim ids too
	start := time.Now()
	m := newGCModel(t, seed)
	m.run(ops)
	m.finish()
	st := m.stats
	t.Logf("%d operations (%s), %d scheduling steps, %d invariant checks, %d parked-writer polls; %v fake time, %v real time",
		m.opsDone, m.opCounts(), st.steps, st.checks, st.parkedPolls, m.e.clock.Since(fakeclock.Epoch).Round(time.Minute), time.Since(start).Round(time.Millisecond))
	t.Logf("faults injected: %d fail-before, %d fail-after, %d duplicated, %d crashes (%d calls failed by them), %d calls refused at a virtual deadline",
		st.failBefore, st.failAfter, st.duplicate, st.crashes, st.crashedCalls, m.deadlineRefusals())
	t.Logf("outcomes: %s", m.outcomeCounts())
	t.Logf("batches: %d members stored as continuations of an earlier member, %d members stored in packs", st.continuations, st.packed)
	if ops >= defaultModelOps/3 && (st.continuations == 0 || st.packed == 0) {
		t.Errorf("the run stored %d continuations and %d pack members; want both", st.continuations, st.packed)
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// mContent is one conversation of the pool: prompts and passages are shared between contents,
// so that their segments are; every fifth content has a message given as tokens. The third
// content of each id continues the first content of the id before it (mBase) with another
// turn, as an API log's next request does: a batch holding both, base first, stores it as a
// continuation (see pack.go).
func mContent(k int) *conversation.Conversation {
	if base := mBase(k); base >= 0 {
		c := mContent(base)
		if k/3%2 == 0 {
			// A turn of its own: packed with its base.
			c.Messages = append(c.Messages,
				conversation.Message{Role: "user", Content: fmt.Sprintf("And then, w%d?", k)},
				conversation.Message{Role: "assistant", Content: words(9000+k, 120)})
		} else {
			// A long turn that other contents share: once stored, nothing of the continuation
			// is packed, and it reaches its base's pack only through continueBase.
			c.Messages = append(c.Messages, conversation.Message{Role: "user", Content: words(9500, 400)})
		}
		return c
	}
	return mNew(k)
}

// mBase returns the pool content that content k continues, or -1.
func mBase(k int) int {
	if k%3 != 2 {
		return -1
	}
	return 3 * ((k/3 + modelIDs - 1) % modelIDs)
}

// mNew is a pool content that continues none.
func mNew(k int) *conversation.Conversation {
	c := &conversation.Conversation{Tokenizer: "cl100k_base", Application: []string{"app-a", "app-b"}[k%2], Messages: []conversation.Message{
		{Role: "system", Content: words(5000+k%4, 500)},
		{Role: "user", Content: "Please read:\n" + words(6000+k%7, 350) + fmt.Sprintf("\nWhat about w%d?", k)},
		{Role: "assistant", Content: words(7000+k, 80+k%3*100)},
	}}
	if k%5 == 0 {
		tok, _ := tokenizer.Get(c.Tokenizer)
		c.Messages = append(c.Messages, conversation.Message{Role: "user", Tokens: tok.Encode(words(8000+k, 60))})
	}
	return c
}

// mIDState is what the model knows about one id.
type mIDState struct {
	known    bool // the model knows whether and what is stored
	variant  int  // the content stored (index into the pool), -1 for none; valid when known
	inflight int  // operations on the id in flight
	dirty    bool // operations on the id overlapped since inflight was last 0
	tried    map[int]bool
}

type mActor struct {
	n int
	v *Vault
	// The actor's own fault wrappers (over the shared ones), so that every call is known to
	// be the actor's, whatever context it carries.
	bucket *objfaulty.Bucket
	refs   *reffaulty.Store
	// clockRead, when set, is closed at the actor's next clock reading.
	clockRead atomic.Pointer[chan struct{}]
	ev        chan mEvent
	state     int // mIdle, mRunning, mReady, mParked
	req       *mRequest
	op        *mOp
	// parked on a claimed segment: the head it saw
	parkSeg, parkClaim string
	parkExpires        time.Time
	parkCtx            context.Context
}

const (
	mIdle = iota
	mRunning
	mReady
	mParked
)

type mEvent struct {
	req  *mRequest
	done bool
}

type mRequest struct {
	ctx   context.Context // the call's context
	obj   *objfaulty.Call
	ref   *reffaulty.Call
	reply chan *faults.Fault[struct{}]
}

func (r *mRequest) write() bool {
	if r.obj != nil {
		return r.obj.Write()
	}
	return r.ref.Write()
}

func (r *mRequest) String() string {
	if r.obj != nil {
		return fmt.Sprintf("bucket.%s(%s)", r.obj.Op, r.obj.Key)
	}
	c := r.ref
	s := fmt.Sprintf("refs.%s(", c.Op)
	if c.Owner != "" {
		s += c.Owner + " "
	}
	for i, seg := range c.Segments {
		if i == 4 {
			s += fmt.Sprintf("+%d", len(c.Segments)-4)
			break
		}
		s += fmt.Sprintf("%.8s ", seg)
	}
	if c.ClaimID != "" {
		s += "claim " + c.ClaimID[:6]
	}
	return strings.TrimSpace(s) + ")"
}

type mOp struct {
	kind     string // store, batch, delete, gc, verify
	ids      []string
	variants []int
	gc       GCOptions
	verify   VerifyOptions
	crashed  bool
	adopting bool // a Verify inside adoptSegment, which follows the writer protocol
	// results
	errs []error
	res  []StoreResult
}

type gcModel struct {
	t        *testing.T
	e        *gcEnv
	rng      *rand.Rand
	actors   []*mActor
	pool     []*conversation.Conversation
	wantJSON [][]byte // marshalled pool contents, without id
	ids      map[string]*mIDState

	opsStarted, opsDone int
	kinds               map[string]int
	outcomes            map[string]int
	stats               struct {
		steps, checks, parkedPolls                              int
		failBefore, failAfter, duplicate, crashes, crashedCalls int
		// continuations: batch members stored after their base in the same batch;
		// packed: batch members stored that reference a pack (a chunk at an offset).
		continuations, packed int
	}
	manifestCache map[string]*manifest.Manifest // id, batch and nonce → manifest
	retrieved     map[string]int                // id, manifest etag and segment etags → content matched
	dirty         bool                          // something was written since the last check
	trace         []string                      // the last scheduling decisions, for failures
	traceFile     *os.File                      // every decision, with STOWKEN_MODEL_TRACE
}

// note records a scheduling decision; a failure prints the last ones.
func (m *gcModel) note(format string, args ...any) {
	const keep = 80
	if len(m.trace) == keep {
		m.trace = m.trace[1:]
	}
	line := fmt.Sprintf("%6d %s ", m.stats.steps, m.e.clock.Since(fakeclock.Epoch).Round(time.Second)) + fmt.Sprintf(format, args...)
	m.trace = append(m.trace, line)
	if m.traceFile != nil {
		fmt.Fprintln(m.traceFile, line)
	}
}

func newGCModel(t *testing.T, seed uint64) *gcModel {
	e := newGCEnv(t)
	m := &gcModel{t: t, e: e, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ids: map[string]*mIDState{},
		kinds: map[string]int{}, outcomes: map[string]int{}, manifestCache: map[string]*manifest.Manifest{}, retrieved: map[string]int{}}
	e.refs.SortLists(true)
	if path := os.Getenv("STOWKEN_MODEL_TRACE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		m.traceFile = f
	}
	if m.rng.IntN(2) == 0 {
		// Objects keep the real clock's times, decades before the fake clock: the audit sees
		// every object as old, the adversarial case for its leak detection. Otherwise objects
		// are stamped with the fake clock.
		e.bucket.StampModTimes(nil)
		t.Log("object times: real clock (every object looks old to the audit)")
	} else {
		t.Log("object times: fake clock")
	}
	for k := range modelContents {
		c := mContent(k)
		m.pool = append(m.pool, c)
		b, err := conversation.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		m.wantJSON = append(m.wantJSON, b)
	}
	for i := range modelIDs {
		m.ids[mID(i)] = &mIDState{known: true, variant: -1, tried: map[int]bool{}}
	}
	for i := range modelActors {
		a := &mActor{n: i, ev: make(chan mEvent), bucket: objfaulty.New(e.bucket), refs: reffaulty.New(e.refs)}
		a.bucket.VirtualDeadlines(e.clock.Now, fakeclock.Epoch)
		a.refs.VirtualDeadlines(e.clock.Now, fakeclock.Epoch)
		now := func() time.Time {
			t := e.clock.Now()
			if ch := a.clockRead.Swap(nil); ch != nil {
				close(*ch)
			}
			return t
		}
		v, err := New(context.Background(), Options{Bucket: a.bucket, Refs: a.refs, Now: now, CacheBytes: -1, Concurrency: 1})
		if err != nil {
			t.Fatal(err)
		}
		a.v = v
		a.bucket.SetHook(func(ctx context.Context, c *objfaulty.Call) *objfaulty.Fault {
			f := m.yield(a, &mRequest{ctx: ctx, obj: c})
			if f == nil {
				return nil
			}
			return &objfaulty.Fault{Kind: f.Kind, Err: f.Err}
		})
		a.refs.SetHook(func(ctx context.Context, c *reffaulty.Call) *reffaulty.Fault {
			f := m.yield(a, &mRequest{ctx: ctx, ref: c})
			if f == nil {
				return nil
			}
			return &reffaulty.Fault{Kind: f.Kind, Err: f.Err}
		})
		m.actors = append(m.actors, a)
	}
	return m
}

func mID(i int) string { return fmt.Sprintf("m%02d", i) }

// yield runs on an actor's goroutine at every backend call: it hands the call to the scheduler
// and waits for the decision.
func (m *gcModel) yield(a *mActor, req *mRequest) *faults.Fault[struct{}] {
	req.reply = make(chan *faults.Fault[struct{}], 1)
	a.ev <- mEvent{req: req}
	return <-req.reply
}

func (m *gcModel) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("step %d, operation %d: %s\nlast steps (step, fake time, actor, operation, call, decision):\n  %s",
		m.stats.steps, m.opsStarted, fmt.Sprintf(format, args...), strings.Join(m.trace, "\n  "))
}

// await receives the actor's next event: a call waiting for a decision, or the end of its
// operation.
func (m *gcModel) await(a *mActor) {
	var ev mEvent
	select {
	case ev = <-a.ev:
	case <-time.After(modelWatchdog): // a watchdog, not an ordering device
		m.stuck(a)
	}
	m.handle(a, ev)
}

func (m *gcModel) stuck(a *mActor) {
	buf := make([]byte, 1<<20)
	m.fatalf("actor %d (%s) made no progress; goroutines:\n%s", a.n, a.op.kind, buf[:runtime.Stack(buf, true)])
}

// handle takes in an actor's event.
func (m *gcModel) handle(a *mActor, ev mEvent) {
	if ev.done {
		a.state, a.req = mIdle, nil
		m.opFinished(a)
		return
	}
	a.state, a.req = mReady, ev.req
}

func (m *gcModel) run(ops int) {
	for m.opsStarted < ops {
		m.step(true)
	}
	for {
		busy := false
		for _, a := range m.actors {
			busy = busy || a.state != mIdle
		}
		if !busy {
			return
		}
		m.step(false)
	}
}

// step makes one scheduling decision.
func (m *gcModel) step(startNew bool) {
	m.stats.steps++
	var cands []*mActor
	for _, a := range m.actors {
		switch a.state {
		case mIdle:
			if startNew {
				cands = append(cands, a)
			}
		case mReady:
			cands = append(cands, a)
		case mParked:
			if m.unparked(a) {
				cands = append(cands, a)
			}
		}
	}
	if len(cands) == 0 || m.rng.IntN(100) < 2 {
		m.advanceClock(len(cands) == 0)
		return
	}
	a := cands[m.rng.IntN(len(cands))]
	switch a.state {
	case mIdle:
		m.start(a)
		m.await(a)
	case mParked:
		m.stats.parkedPolls++
		a.state = mRunning
		m.await(a)
	case mReady:
		m.grant(a)
	}
	if m.dirty {
		m.check()
	}
}

func (m *gcModel) advanceClock(stuck bool) {
	var d time.Duration
	switch r := m.rng.IntN(10); {
	case stuck || r == 0:
		d = time.Duration(5+m.rng.IntN(30)) * time.Minute
	default:
		d = time.Duration(1+m.rng.IntN(90)) * time.Second
	}
	m.e.clock.Advance(d)
	m.note("clock +%s", d)
}

// unparked reports whether a writer waiting on a claimed segment would see something new.
func (m *gcModel) unparked(a *mActor) bool {
	if virtuallyExpired(a.parkCtx, m.e.clock.Now()) {
		return true
	}
	h, err := m.e.refs.Inner().GetHead(context.Background(), a.parkSeg)
	if err != nil || h.State != refcount.Deleting || h.ClaimID != a.parkClaim || !h.ClaimExpires.Equal(a.parkExpires) {
		return true
	}
	return !m.e.clock.Now().Before(h.ClaimExpires)
}

func virtuallyExpired(ctx context.Context, now time.Time) bool {
	d, ok := ctx.Deadline()
	return ok && d.After(fakeclock.Epoch) && !now.Before(d)
}

// start begins a random operation on an idle actor.
func (m *gcModel) start(a *mActor) {
	m.opsStarted++
	op := &mOp{}
	r := m.rng.IntN(100)
	switch {
	case r < 35:
		op.kind = "store"
	case r < 45:
		op.kind = "batch"
	case r < 70:
		op.kind = "delete"
	case r < 90:
		op.kind = "gc"
		if m.rng.IntN(2) == 0 {
			op.gc.Grace = time.Duration(1+m.rng.IntN(5)) * time.Minute
		}
	default:
		op.kind = "verify"
		op.verify.Repair = m.rng.IntN(3) > 0
		op.verify.MinAge = time.Nanosecond // the floor is the writer deadline
		if m.rng.IntN(3) == 0 {
			op.verify.MinAge = time.Hour
		}
	}
	m.kinds[op.kind]++
	defer func() { m.note("actor %d starts %s %v %v", a.n, op.kind, op.ids, op.variants) }()
	switch op.kind {
	case "store", "delete":
		i := m.rng.IntN(modelIDs)
		op.ids, op.variants = []string{mID(i)}, []int{3*i + m.rng.IntN(3)}
	case "batch":
		ids := m.rng.Perm(modelIDs)[:2+m.rng.IntN(3)]
		if m.rng.IntN(2) == 0 {
			// An API log's requests: a conversation, then its continuation (the next id's
			// third content), in this order.
			i := ids[0]
			j := (i + 1) % modelIDs
			ids = append([]int{i, j}, slices.DeleteFunc(ids[1:], func(k int) bool { return k == j })...)
			op.ids, op.variants = []string{mID(i), mID(j)}, []int{3 * i, 3*j + 2}
			ids = ids[2:]
		}
		for _, i := range ids {
			op.ids, op.variants = append(op.ids, mID(i)), append(op.variants, 3*i+m.rng.IntN(3))
		}
	}
	for i, id := range op.ids {
		st := m.ids[id]
		st.inflight++
		if st.inflight > 1 {
			st.dirty = true
		}
		if op.kind != "delete" {
			st.tried[op.variants[i]] = true
		}
	}
	a.op, a.state = op, mRunning
	ctx := context.Background()
	go func() {
		defer func() { a.ev <- mEvent{done: true} }()
		convs := make([]*conversation.Conversation, len(op.ids))
		for i, id := range op.ids {
			c := *m.pool[op.variants[i]]
			c.ID = id
			convs[i] = &c
		}
		switch op.kind {
		case "store":
			res, err := a.v.Store(ctx, convs[0])
			op.res, op.errs = []StoreResult{res}, []error{err}
		case "batch":
			op.res, op.errs = a.v.StoreBatch(ctx, convs)
		case "delete":
			op.errs = []error{a.v.Delete(ctx, op.ids[0])}
		case "gc":
			_, err := a.v.GC(ctx, op.gc)
			op.errs = []error{err}
		case "verify":
			rep, err := a.v.Verify(ctx, op.verify)
			op.errs = []error{err}
			if err == nil && !rep.OK() {
				// Reports under concurrent writes and faults may be noisy; the invariant
				// checks are what count. Keep a count for the log.
				op.errs = []error{errVerifyNotOK}
			}
		}
	}()
}

var errVerifyNotOK = errors.New("verify reported problems")

// grant decides the fate of a ready actor's pending call and lets it go.
func (m *gcModel) grant(a *mActor) {
	req, op := a.req, a.op
	var f *faults.Fault[struct{}]
	switch r := m.rng.IntN(1000); {
	case op.crashed:
		f = &faults.Fault[struct{}]{Kind: faults.FailBefore, Err: errCrash}
		m.stats.crashedCalls++
	case r < 2:
		op.crashed = true
		f = &faults.Fault[struct{}]{Kind: faults.FailBefore, Err: errCrash}
		m.stats.crashes++
	case r < 12:
		f = &faults.Fault[struct{}]{Kind: faults.FailBefore}
		m.stats.failBefore++
	case r < 22 && req.write():
		f = &faults.Fault[struct{}]{Kind: faults.FailAfter}
		m.stats.failAfter++
	case r < 32 && req.write():
		f = &faults.Fault[struct{}]{Kind: faults.Duplicate}
		m.stats.duplicate++
	}
	if req.ref != nil && req.ref.Op == reffaulty.OpAddRefs && strings.HasPrefix(req.ref.Owner, "verify:") {
		op.adopting = true
	}
	if req.ref != nil && req.ref.Op == reffaulty.OpRemoveRefs && strings.HasPrefix(req.ref.Owner, "verify:") {
		op.adopting = false
	}
	// A writer whose head read will find the segment claimed sleeps before reading again:
	// park it instead of waiting for it.
	park := false
	if f == nil && req.ref != nil && req.ref.Op == reffaulty.OpGetHead && (op.kind == "store" || op.kind == "batch" || op.adopting) &&
		!virtuallyExpired(req.ctx, m.e.clock.Now()) {
		h, err := m.e.refs.Inner().GetHead(context.Background(), req.ref.Segment())
		if err == nil && h.State == refcount.Deleting && m.e.clock.Now().Before(h.ClaimExpires) {
			park = true
			a.parkSeg, a.parkClaim, a.parkExpires, a.parkCtx = req.ref.Segment(), h.ClaimID, h.ClaimExpires, req.ctx
		}
	}
	if req.write() {
		m.dirty = true
	}
	decision := "pass"
	if f != nil {
		decision = f.Kind.String()
	}
	if park {
		decision += ", parks"
	}
	m.note("actor %d %s: %s → %s", a.n, op.kind, req, decision)
	a.req = nil
	var clockRead chan struct{}
	if park {
		// The writer compares the claim's expiry with its clock right after the read: wait
		// for that, so that a clock advance cannot slip in between.
		clockRead = make(chan struct{})
		a.clockRead.Store(&clockRead)
	}
	req.reply <- f
	if park {
		// A head read that is not a writer's (StoreBatch runs the collector on segments it
		// uploaded for nothing) goes on to its next call without reading the clock.
		select {
		case <-clockRead:
			a.state = mParked
		case ev := <-a.ev:
			a.clockRead.Store(nil)
			m.handle(a, ev)
		case <-time.After(modelWatchdog):
			m.stuck(a)
		}
		return
	}
	a.state = mRunning
	m.await(a)
}

// opFinished updates the model with an operation's outcome.
func (m *gcModel) opFinished(a *mActor) {
	op := a.op
	m.opsDone++
	m.dirty = true
	for i, id := range op.ids {
		st := m.ids[id]
		err := op.errs[i]
		outcome := op.kind + ": " + errClass(err)
		if op.kind != "delete" && err == nil && op.res[i].Existed {
			outcome = op.kind + ": existed"
		}
		if op.kind == "batch" && err == nil && !op.res[i].Existed {
			if slices.Contains(op.variants[:i], mBase(op.variants[i])) {
				m.stats.continuations++
			}
			if man, merr := m.e.check.Manifest(context.Background(), id); merr == nil && slices.ContainsFunc(man.Chunks, func(c manifest.Chunk) bool { return c.Offset > 0 }) {
				m.stats.packed++
			}
		}
		m.outcomes[outcome]++
		m.note("actor %d %s %s ends: %v", a.n, op.kind, id, err)
		switch {
		case st.dirty:
			st.known = false
		case op.kind == "delete" && (err == nil || errors.Is(err, ErrNotFound)):
			st.known, st.variant = true, -1
		case op.kind != "delete" && err == nil:
			st.known, st.variant = true, op.variants[i]
		case op.kind != "delete" && errors.Is(err, ErrConflict):
			// The stored conversation is another one: what the model knew still holds.
		default:
			st.known = false
		}
		st.inflight--
		if st.inflight == 0 {
			st.dirty = false
		}
	}
	if op.kind == "gc" || op.kind == "verify" {
		m.note("actor %d %s ends: %v", a.n, op.kind, op.errs[0])
		m.outcomes[op.kind+": "+errClass(op.errs[0])]++
	}
}

func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errVerifyNotOK):
		return "reported problems"
	case errors.Is(err, ErrConflict):
		return "conflict"
	case errors.Is(err, ErrNotFound):
		return "not found"
	case errors.Is(err, errCrash):
		return "crashed"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline"):
		return "deadline"
	case errors.Is(err, faults.ErrInjected):
		return "injected fault"
	case errors.Is(err, refcount.ErrConflict):
		return "refcount conflict"
	}
	return "other error"
}

// check verifies the invariants against the store, read directly (no faults, no scheduling).
func (m *gcModel) check() {
	m.t.Helper()
	m.dirty = false
	m.stats.checks++
	ctx := context.Background()
	snap, err := takeSnapshotWith(ctx, m.e.check, m.decodeManifest)
	if err != nil {
		m.fatalf("snapshot: %v", err)
	}
	if probs := snap.protocolProblems(); len(probs) > 0 {
		m.fatalf("invariant broken:\n  %s", strings.Join(probs, "\n  "))
	}
	for i := range modelIDs {
		id := mID(i)
		st := m.ids[id]
		man, stored := snap.manifests[id]
		if !stored {
			if st.inflight == 0 {
				if st.known && st.variant >= 0 {
					m.fatalf("conversation %s (content %d) should be stored, its manifest is gone", id, st.variant)
				}
				st.known, st.variant = true, -1
			}
			continue
		}
		k := m.retrieve(id, man, snap)
		if !st.tried[k] {
			m.fatalf("conversation %s holds content %d, never stored under it", id, k)
		}
		if st.inflight == 0 {
			if st.known && st.variant != k {
				m.fatalf("conversation %s holds content %d, the model expects %d", id, k, st.variant)
			}
			st.known, st.variant = true, k
		}
	}
}

// decodeManifest decodes the manifest of a listed pointer, once per pointer (a batch object
// never changes).
func (m *gcModel) decodeManifest(id string, p refcount.Pointer) (*manifest.Manifest, error) {
	key := id + "@" + p.Batch + "/" + p.Nonce
	if man, ok := m.manifestCache[key]; ok {
		return man, nil
	}
	b, err := m.e.check.readBatch(context.Background(), p.Batch)
	if err != nil {
		return nil, fmt.Errorf("pointer %+v: %w", p, err)
	}
	stored := b.manifests[id]
	if stored == nil {
		return nil, fmt.Errorf("batch %s does not hold %q", p.Batch, id)
	}
	man := *stored
	man.Nonce = p.Nonce
	m.manifestCache[key] = &man
	return &man, nil
}

// retrieve retrieves the stored conversation (once per version of it and its segments) and
// returns which pool content it is byte-exactly.
func (m *gcModel) retrieve(id string, man *manifest.Manifest, snap *snapshot) int {
	m.t.Helper()
	key := id + "@" + man.Nonce
	for _, seg := range uses(man) {
		key += "/" + snap.objects[seg]
	}
	if k, ok := m.retrieved[key]; ok {
		return k
	}
	got, err := m.e.check.Retrieve(context.Background(), id)
	if err != nil {
		m.fatalf("DATA LOSS: retrieve %s: %v", id, err)
	}
	got.ID = ""
	b, err := conversation.Marshal(got)
	if err != nil {
		m.fatal(err)
	}
	for k, want := range m.wantJSON {
		if string(want) == string(b) {
			m.retrieved[key] = k
			return k
		}
	}
	m.fatalf("conversation %s retrieves as no content ever stored: %.300s", id, b)
	return -1
}

func (m *gcModel) fatal(err error) {
	m.t.Helper()
	m.fatalf("%v", err)
}

// finish ends the faults and the scheduling, lets every deadline and claim pass, runs the
// audit and the collector, and checks that every conversation the model knows is intact and
// nothing leaks.
func (m *gcModel) finish() {
	m.check()
	m.e.bucket.Clear()
	m.e.refs.Clear()
	var want []*conversation.Conversation
	for i := range modelIDs {
		st := m.ids[mID(i)]
		if !st.known {
			m.fatalf("id %s unresolved at the end", mID(i))
		}
		if st.variant >= 0 {
			c := *m.pool[st.variant]
			c.ID = mID(i)
			want = append(want, &c)
		}
	}
	m.e.cleanUp(want...)
	m.t.Logf("end: %d conversations stored, nothing leaked after audit and collection", len(want))
}

// deadlineRefusals counts the calls the actors' wrappers refused at a virtual deadline.
func (m *gcModel) deadlineRefusals() int64 {
	var n int64
	for _, a := range m.actors {
		n += a.bucket.Stats().Deadline + a.refs.Stats().Deadline
	}
	return n
}

func (m *gcModel) opCounts() string {
	return fmt.Sprintf("%d store, %d batch, %d delete, %d gc, %d verify", m.kinds["store"], m.kinds["batch"], m.kinds["delete"], m.kinds["gc"], m.kinds["verify"])
}

func (m *gcModel) outcomeCounts() string {
	var parts []string
	for _, k := range sortedKeys(m.outcomes) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m.outcomes[k]))
	}
	return strings.Join(parts, ", ")
}
