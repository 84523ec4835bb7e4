package vault

// Deterministic tests of the garbage collector's races, one per entry of the race catalogue in
// the package documentation (doc.go). Each test forces one interleaving with the fault wrappers
// (objstore/faulty, refcount/faulty: stall a call until the test releases it, fail it before or
// after it is applied, deliver it twice) and a fake clock, using channels — never sleeps — to
// order the steps, and then checks the invariant: every stored conversation retrieves
// byte-exactly, and no manifest references a missing object.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	objfaulty "github.com/stowken/stowken/objstore/faulty"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/refcount"
	reffaulty "github.com/stowken/stowken/refcount/faulty"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/tokenizer"
)

// gcEnv is one store — an in-memory bucket and reference store behind fault wrappers — with a
// fake clock, the vault under test, and a checker vault that reads the raw backends (no faults,
// no cache).
type gcEnv struct {
	t      testing.TB
	ctx    context.Context
	clock  *fakeclock.Clock
	bucket *objfaulty.Bucket
	refs   *reffaulty.Store
	v      *Vault
	check  *Vault
}

const (
	storeTTL = DefaultStoreTimeout
	claimTTL = DefaultClaimTTL
)

func newGCEnv(t testing.TB) *gcEnv {
	t.Helper()
	clock := &fakeclock.Clock{}
	rawB, rawR := objmem.New(), refmem.New()
	e := &gcEnv{t: t, ctx: context.Background(), clock: clock, bucket: objfaulty.New(rawB), refs: reffaulty.New(rawR)}
	// Deadlines the vault derives from the fake clock fire on the fake clock; object ages are
	// fake-clock ages.
	e.bucket.VirtualDeadlines(clock.Now, fakeclock.Epoch)
	e.refs.VirtualDeadlines(clock.Now, fakeclock.Epoch)
	e.bucket.StampModTimes(clock.Now)
	e.v = e.vault()
	check, err := New(e.ctx, Options{Bucket: rawB, Refs: rawR, Now: clock.Now, CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	e.check = check
	t.Cleanup(func() { e.v.Close() })
	return e
}

// vault returns another vault (another process) over the same faulty backends.
func (e *gcEnv) vault() *Vault {
	e.t.Helper()
	v, err := New(e.ctx, Options{Bucket: e.bucket, Refs: e.refs, Now: e.clock.Now, CacheBytes: -1, Concurrency: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// gcConv is a conversation whose system prompt, passage and reply come from small pools, so
// that conversations share segments: the same prompt gives the same segments, and so does most
// of the same passage.
func gcConv(id string, prompt, passage, reply int) *conversation.Conversation {
	return &conversation.Conversation{ID: id, Tokenizer: "cl100k_base", Messages: []conversation.Message{
		{Role: "system", Content: words(1000+prompt, 2500)},
		{Role: "user", Content: "Read this:\n" + words(2000+passage, 2000) + fmt.Sprintf("\nQuestion %d", reply)},
		{Role: "assistant", Content: words(3000+reply, 800)},
	}}
}

// plan returns the segments c would use, in order.
func (e *gcEnv) plan(c *conversation.Conversation) []string {
	e.t.Helper()
	p, err := e.v.prepare(c)
	if err != nil {
		e.t.Fatal(err)
	}
	p.inlineShort() // as Store does
	ids := make([]string, len(p.segments))
	for i, s := range p.segments {
		ids[i] = s.id
	}
	return ids
}

func shared(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func only(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func (e *gcEnv) store(c *conversation.Conversation) StoreResult {
	e.t.Helper()
	res, err := e.v.Store(e.ctx, c)
	if err != nil {
		e.t.Fatalf("store %q: %v", c.ID, err)
	}
	return res
}

func (e *gcEnv) del(id string) {
	e.t.Helper()
	if err := e.v.Delete(e.ctx, id); err != nil {
		e.t.Fatalf("delete %q: %v", id, err)
	}
}

// retire lets the writer deadline of every batch pass, with the margin GC keeps, and runs a
// collection, which retires the batches none of whose conversations is stored any more: their
// references go, and their segments become candidates for the next collection.
func (e *gcEnv) retire() GCReport {
	e.t.Helper()
	e.clock.Advance(retireAfter)
	return e.gc(GCOptions{})
}

func (e *gcEnv) gc(opts GCOptions) GCReport {
	e.t.Helper()
	rep, err := e.v.GC(e.ctx, opts)
	if err != nil {
		e.t.Fatalf("gc: %v", err)
	}
	return rep
}

func (e *gcEnv) verify(opts VerifyOptions) VerifyReport {
	e.t.Helper()
	rep, err := e.v.Verify(e.ctx, opts)
	if err != nil {
		e.t.Fatalf("verify: %v", err)
	}
	return rep
}

// head returns the segment's head as stored (no faults).
func (e *gcEnv) head(seg string) (refcount.Head, bool) {
	e.t.Helper()
	h, err := e.refs.Inner().GetHead(e.ctx, seg)
	if errors.Is(err, refcount.ErrNotFound) {
		return h, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return h, true
}

// owners returns the owners of the segment's references (no faults).
func (e *gcEnv) owners(seg string) []string {
	e.t.Helper()
	var out []string
	if err := e.refs.Inner().ListRefs(e.ctx, func(r refcount.Ref) error {
		if r.Segment == seg {
			out = append(out, r.Owner)
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// object reports whether the segment object exists (no faults).
func (e *gcEnv) object(seg string) bool {
	e.t.Helper()
	_, err := e.bucket.Inner().Stat(e.ctx, objectKey(seg))
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// mustExist fails unless every segment object exists and has a live head, and every batch
// object exists.
func (e *gcEnv) mustExist(segs ...string) {
	e.t.Helper()
	for _, s := range segs {
		if manifest.IsBatchID(s) && !e.object(s) {
			e.t.Fatalf("batch object %s is missing", s)
		}
		if manifest.IsBatchID(s) {
			continue
		}
		h, ok := e.head(s)
		if !e.object(s) || !ok || h.State != refcount.Live {
			e.t.Fatalf("segment %.12s: object %v, head %v %+v; want the object and a live head", s, e.object(s), ok, h)
		}
	}
}

// mustBeGone fails unless every segment object and head is gone.
func (e *gcEnv) mustBeGone(segs ...string) {
	e.t.Helper()
	for _, s := range segs {
		if _, ok := e.head(s); ok || e.object(s) {
			e.t.Fatalf("segment %.12s: object %v, head %v; want both collected", s, e.object(s), ok)
		}
	}
}

// checkStored checks the invariant: the protocol's instantaneous invariants hold (see
// checkProtocol) and every conversation in want retrieves byte-exactly.
func (e *gcEnv) checkStored(want ...*conversation.Conversation) {
	e.t.Helper()
	snap, err := takeSnapshot(e.ctx, e.check)
	if err != nil {
		e.t.Fatal(err)
	}
	if probs := snap.protocolProblems(); len(probs) > 0 {
		e.t.Fatalf("invariant broken:\n  %s", strings.Join(probs, "\n  "))
	}
	for _, c := range want {
		if err := retrievesExactly(e.ctx, e.check, c); err != nil {
			e.t.Fatal(err)
		}
	}
}

// checkAbsent fails unless the conversations are not stored.
func (e *gcEnv) checkAbsent(ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		if _, err := e.check.Retrieve(e.ctx, id); !errors.Is(err, ErrNotFound) {
			e.t.Fatalf("conversation %q: %v, want ErrNotFound", id, err)
		}
	}
}

// cleanUp ends the faults, lets every claim and writer deadline expire, and runs the audit and
// the collector three times (the first collection retires the batches of deleted
// conversations, the first audit removes leaked references, and objects they kept without a
// head are leaked objects only for the second); then nothing may leak.
func (e *gcEnv) cleanUp(want ...*conversation.Conversation) {
	e.t.Helper()
	e.bucket.Clear()
	e.refs.Clear()
	for range 3 {
		e.clock.Advance(claimTTL + storeTTL)
		e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond})
		e.gc(GCOptions{})
	}
	e.checkStored(want...)
	e.mustNotLeak("after audit and collection")
}

// mustNotLeak fails if anything is leaked (snapshot.leaks), saying when.
func (e *gcEnv) mustNotLeak(when string) {
	e.t.Helper()
	snap, err := takeSnapshot(e.ctx, e.check)
	if err != nil {
		e.t.Fatal(err)
	}
	if leaks := snap.leaks(); len(leaks) > 0 {
		e.t.Fatalf("leaks %s:\n  %s", when, strings.Join(leaks, "\n  "))
	}
}

// retrievesExactly checks that c is stored and comes back byte-exactly.
func retrievesExactly(ctx context.Context, check *Vault, c *conversation.Conversation) error {
	got, err := check.Retrieve(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("retrieve %q: %w", c.ID, err)
	}
	return sameConversation(c, got)
}

func sameConversation(want, got *conversation.Conversation) error {
	a, err := conversation.Marshal(want)
	if err != nil {
		return err
	}
	b, err := conversation.Marshal(got)
	if err != nil {
		return err
	}
	if string(a) != string(b) {
		return fmt.Errorf("conversation %q changed:\nwant %.300s\n got %.300s", want.ID, a, b)
	}
	return nil
}

// snapshot is the whole store, read without faults.
type snapshot struct {
	manifests  map[string]*manifest.Manifest // id → manifest, with its pointer's batch and nonce
	objects    map[string]string             // segment or batch object → ETag
	heads      map[string]refcount.Head
	refs       map[string]map[string]bool // segment → owners
	candidates map[string]time.Time
}

// takeSnapshot reads the store through check (a vault over the raw backends). Manifests are
// decoded with decode when given (a cache), else read through check.
func takeSnapshot(ctx context.Context, check *Vault) (*snapshot, error) {
	return takeSnapshotWith(ctx, check, nil)
}

func takeSnapshotWith(ctx context.Context, check *Vault, decode func(id string, p refcount.Pointer) (*manifest.Manifest, error)) (*snapshot, error) {
	s := &snapshot{manifests: map[string]*manifest.Manifest{}, objects: map[string]string{}, heads: map[string]refcount.Head{},
		refs: map[string]map[string]bool{}, candidates: map[string]time.Time{}}
	err := check.refs.ListPointers(ctx, func(id string, p refcount.Pointer) error {
		var m *manifest.Manifest
		var err error
		if decode != nil {
			m, err = decode(id, p)
		} else {
			m, err = check.readManifest(ctx, id)
		}
		if err != nil {
			return fmt.Errorf("conversation %q: %w", id, err)
		}
		s.manifests[m.ID] = m
		return nil
	})
	for _, prefix := range []string{segment.Prefix, manifest.BatchPrefix} {
		if err == nil {
			err = check.bucket.List(ctx, prefix, func(a objstore.Attrs) error {
				s.objects[a.Key[strings.LastIndexByte(a.Key, '/')+1:]] = a.ETag
				return nil
			})
		}
	}
	if err == nil {
		err = check.refs.ListHeads(ctx, func(h refcount.Head) error { s.heads[h.Segment] = h; return nil })
	}
	if err == nil {
		err = check.refs.ListRefs(ctx, func(r refcount.Ref) error {
			if s.refs[r.Segment] == nil {
				s.refs[r.Segment] = map[string]bool{}
			}
			s.refs[r.Segment][r.Owner] = true
			return nil
		})
	}
	if err == nil {
		err = check.refs.ListCandidates(ctx, func(c refcount.Candidate) error { s.candidates[c.Segment] = c.Since; return nil })
	}
	return s, err
}

// uses returns what the stored conversation m needs: its segments and its batch object.
func uses(m *manifest.Manifest) []string { return append(m.Segments(), m.Batch) }

// protocolProblems lists violations of what must hold at every instant, whatever runs
// concurrently: every segment and batch object a stored conversation uses exists as an object;
// every segment has a head (live, or deleting under a claim that will find the reference) and
// carries a reference from the conversation's batch (a batch object has neither); and every
// live head has its object ("head is live" implies "the object exists", which writers rely on
// to skip the upload).
func (s *snapshot) protocolProblems() []string {
	var out []string
	for _, id := range sortedKeys(s.manifests) {
		m := s.manifests[id]
		for _, seg := range uses(m) {
			if _, ok := s.objects[seg]; !ok {
				out = append(out, fmt.Sprintf("DATA LOSS: conversation %q uses object %.12s, which is missing", id, seg))
			}
			if seg == m.Batch {
				continue
			}
			if _, ok := s.heads[seg]; !ok {
				out = append(out, fmt.Sprintf("conversation %q uses object %.12s, which has no head", id, seg))
			}
			if !s.refs[seg][m.Batch] {
				out = append(out, fmt.Sprintf("conversation %q (batch %s) holds no reference on object %.12s", id, m.Batch, seg))
			}
		}
	}
	for _, seg := range sortedKeys(s.heads) {
		if _, ok := s.objects[seg]; !ok && s.heads[seg].State == refcount.Live {
			out = append(out, fmt.Sprintf("segment %.12s: live head without object (the next writer will not upload it)", seg))
		}
	}
	return out
}

// leaks lists what nobody owns: references of a batch none of whose conversations is stored,
// objects and heads that no stored conversation uses and no such batch references, and
// candidate marks on live unreferenced heads. (A batch with a stored conversation keeps every
// segment its conversations used until GC retires it: that is no leak.)
func (s *snapshot) leaks() []string {
	used := map[string]bool{}
	live := map[string]bool{} // batches with a stored conversation
	for _, m := range s.manifests {
		live[m.Batch] = true
		for _, seg := range uses(m) {
			used[seg] = true
		}
	}
	for seg, owners := range s.refs {
		for owner := range owners {
			used[seg] = used[seg] || live[owner]
		}
	}
	var out []string
	for _, seg := range sortedKeys(s.objects) {
		if !used[seg] {
			out = append(out, fmt.Sprintf("object %.12s: used by no conversation", seg))
		}
	}
	for _, seg := range sortedKeys(s.heads) {
		if h := s.heads[seg]; !used[seg] || h.State != refcount.Live {
			out = append(out, fmt.Sprintf("head %.12s (%s): used by %v conversations", seg, h.State, used[seg]))
		}
	}
	for _, seg := range sortedKeys(s.refs) {
		for _, owner := range sortedKeys(s.refs[seg]) {
			if !live[owner] {
				out = append(out, fmt.Sprintf("reference %.12s/%s: no conversation of that batch is stored", seg, owner))
			}
		}
	}
	for _, seg := range sortedKeys(s.candidates) {
		if h, ok := s.heads[seg]; ok && h.State == refcount.Live && len(s.refs[seg]) == 0 {
			out = append(out, fmt.Sprintf("candidate %.12s: live and unreferenced, not collected", seg))
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type result[T any] struct {
	v   T
	err error
}

// goDo runs fn on a new goroutine; its result arrives on the channel.
func goDo[T any](fn func() (T, error)) <-chan result[T] {
	ch := make(chan result[T], 1)
	go func() {
		v, err := fn()
		ch <- result[T]{v, err}
	}()
	return ch
}

// recv receives from ch. The timeout is a watchdog that turns a broken interleaving into a
// failure instead of a hung test; no test relies on it for ordering.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for an interleaving step")
		panic("unreachable")
	}
}

// notYet fails if ch already has a value: the operation must still be blocked.
func notYet[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s finished early", what)
	default:
	}
}

// nthCall returns a Match that accepts only the n-th call (from 1) that match accepts.
func nthCall[C any](n int, match func(C) bool) func(C) bool {
	var mu sync.Mutex
	seen := 0
	return func(c C) bool {
		if !match(c) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		seen++
		return seen == n
	}
}

// setupShared stores a and b's neighbour a, deletes a, retires a's batch, and returns a
// segment of a that b also uses (unreferenced now, a GC candidate), with b not stored yet.
func setupShared(e *gcEnv) (a, b *conversation.Conversation, x string) {
	e.t.Helper()
	a, b = gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
	e.store(a)
	sh := shared(e.plan(a), e.plan(b))
	if len(sh) == 0 {
		e.t.Fatal("test conversations share no segment")
	}
	e.del("a")
	e.retire()
	return a, b, sh[0]
}

var errCrash = errors.New("injected crash")

// (a) A writer reuses a segment while the collector claims it.
func TestGCRaceWriterReusesSegmentDuringClaim(t *testing.T) {
	t.Run("RefBetweenCheckAndClaim", func(t *testing.T) {
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		// The collector found no reference on x; its claim is held back.
		atClaim, releaseGC := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpClaim, x), Reached: atClaim, Wait: releaseGC})
		gcDone := goDo(func() (GCReport, error) { return e.v.GC(e.ctx, GCOptions{}) })
		recv(t, atClaim)
		// The writer's reference lands now; the writer is held right after it.
		refsTaken, releaseW := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpAddRefs, x), Applied: refsTaken, WaitAfter: releaseW})
		w := e.vault()
		stored := goDo(func() (StoreResult, error) { return w.Store(e.ctx, b) })
		recv(t, refsTaken)
		close(releaseGC)
		rep := recv(t, gcDone)
		if rep.err != nil || rep.v.Referenced < 1 {
			t.Fatalf("gc: %+v, %v; want x found referenced after the claim", rep.v, rep.err)
		}
		e.mustExist(x)
		close(releaseW)
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.checkStored(b)
		e.gc(GCOptions{})
		e.cleanUp(b)
	})
	t.Run("RefBetweenClaimAndRecheck", func(t *testing.T) {
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		// The collector holds the claim on x and has not re-checked the references yet.
		claimed, releaseGC := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpClaim, x), Applied: claimed, WaitAfter: releaseGC})
		gcDone := goDo(func() (GCReport, error) { return e.v.GC(e.ctx, GCOptions{}) })
		recv(t, claimed)
		// The writer takes its reference and meets the deleting head: it must wait.
		sawDeleting := make(chan *reffaulty.Call, 1)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpGetHead, x), Applied: sawDeleting})
		w := e.vault()
		stored := goDo(func() (StoreResult, error) { return w.Store(e.ctx, b) })
		recv(t, sawDeleting)
		if h, _ := e.head(x); h.State != refcount.Deleting {
			t.Fatalf("head of x is %s, want deleting", h.State)
		}
		notYet(t, stored, "the writer facing a claimed segment")
		close(releaseGC)
		rep := recv(t, gcDone)
		if rep.err != nil || rep.v.Referenced < 1 {
			t.Fatalf("gc: %+v, %v; want x found referenced by the re-check", rep.v, rep.err)
		}
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.mustExist(x)
		e.checkStored(b)
		e.cleanUp(b)
	})
}

// crashGCAt runs a collection that "dies" at the first call fault matches (the call fails
// before it is sent, and the collector never cleans up after it).
func crashGCAt(e *gcEnv, b *objfaulty.Fault, r *reffaulty.Fault) {
	e.t.Helper()
	if b != nil {
		b.Kind, b.Err = objfaulty.FailBefore, errCrash
		e.bucket.Add(b)
	}
	if r != nil {
		r.Kind, r.Err = reffaulty.FailBefore, errCrash
		e.refs.Add(r)
	}
	if _, err := e.v.GC(e.ctx, GCOptions{}); !errors.Is(err, errCrash) {
		e.t.Fatalf("gc: %v, want the injected crash", err)
	}
}

// (b) The collector dies between its claim and the delete.
func TestGCRaceCrashBetweenClaimAndDelete(t *testing.T) {
	t.Run("NextCollectorTakesOverAfterExpiry", func(t *testing.T) {
		e := newGCEnv(t)
		a := gcConv("a", 1, 1, 1)
		e.store(a)
		e.del("a")
		e.retire()
		x := e.plan(a)[0]
		crashGCAt(e, &objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpDelete, segment.Key(x))}, nil)
		if h, _ := e.head(x); h.State != refcount.Deleting || !e.object(x) {
			t.Fatalf("after the crash: head %+v, object %v", h, e.object(x))
		}
		// Until the claim expires, other collectors keep off.
		if rep := e.gc(GCOptions{}); rep.LostClaims < 1 || !e.object(x) {
			t.Fatalf("gc under a live claim: %+v, object %v", rep, e.object(x))
		}
		e.clock.Advance(claimTTL + time.Second)
		e.gc(GCOptions{})
		e.mustBeGone(e.plan(a)...)
		e.cleanUp()
	})
	t.Run("WriterRevivesAfterExpiry", func(t *testing.T) {
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		crashGCAt(e, &objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpDelete, segment.Key(x))}, nil)
		e.clock.Advance(claimTTL - 5*time.Minute)
		sawDeleting := make(chan *reffaulty.Call, 1)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpGetHead, x), Applied: sawDeleting})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, b) })
		recv(t, sawDeleting)
		notYet(t, stored, "the writer facing an unexpired claim")
		e.clock.Advance(6 * time.Minute) // the claim expires; the writer's deadline has not passed
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.mustExist(x)
		e.checkStored(b)
		e.gc(GCOptions{})
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("ObjectDeletedHeadLeftWriterReuploads", func(t *testing.T) {
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		crashGCAt(e, nil, &reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpDeleteHead, x)})
		if h, _ := e.head(x); h.State != refcount.Deleting || e.object(x) {
			t.Fatalf("after the crash: head %+v, object %v", h, e.object(x))
		}
		e.clock.Advance(claimTTL - 5*time.Minute)
		sawDeleting := make(chan *reffaulty.Call, 1)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpGetHead, x), Applied: sawDeleting})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, b) })
		recv(t, sawDeleting)
		e.clock.Advance(6 * time.Minute)
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.mustExist(x)
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("WriterDeadlineBeforeExpiry", func(t *testing.T) {
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		crashGCAt(e, &objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpDelete, segment.Key(x))}, nil)
		sawDeleting := make(chan *reffaulty.Call, 1)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpGetHead, x), Applied: sawDeleting})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, b) })
		recv(t, sawDeleting)
		e.clock.Advance(storeTTL + time.Second) // the writer gives up; the claim still holds
		if r := recv(t, stored); r.err == nil {
			t.Fatal("store past its deadline succeeded")
		}
		e.checkAbsent("b")
		e.checkStored()
		e.clock.Advance(claimTTL)
		e.store(b)
		e.checkStored(b)
		e.cleanUp(b)
	})
}

// (r) A claim expires on a segment whose candidate mark is gone: the audit must hand it to the
// collector again.
func TestGCRaceExpiredClaimWithoutMark(t *testing.T) {
	e := newGCEnv(t)
	_, b, x := setupShared(e)
	// A collector claims x and dies before deleting it.
	crashGCAt(e, &objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpDelete, segment.Key(x))}, nil)
	// A writer takes a reference on x and waits on the claim.
	sawDeleting := make(chan *reffaulty.Call, 1)
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpGetHead, x), Applied: sawDeleting})
	stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, b) })
	recv(t, sawDeleting)
	// A collection finds the writer's reference and removes x's candidate mark.
	if rep := e.gc(GCOptions{}); rep.Referenced < 1 {
		t.Fatalf("gc while the writer waits: %+v, want x found referenced", rep)
	}
	// The writer gives up at its deadline: it removes its references, but marking its
	// segments for the collector fails.
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnOp(reffaulty.OpMarkCandidates), Kind: reffaulty.FailBefore, Times: reffaulty.Forever})
	e.clock.Advance(storeTTL + time.Second)
	if r := recv(t, stored); r.err == nil {
		t.Fatal("store past its deadline succeeded")
	}
	e.refs.Clear()
	if h, _ := e.head(x); h.State != refcount.Deleting || !e.object(x) || len(e.owners(x)) != 0 {
		t.Fatalf("before the audit: head %+v, object %v, owners %v; want a deleting head, the object, no reference", h, e.object(x), e.owners(x))
	}
	e.clock.Advance(claimTTL)
	// The dead collector's other claims (a's segments, still marked) expired too.
	if rep := e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond}); rep.ExpiredClaims != len(e.plan(gcConv("a", 1, 1, 1))) {
		t.Fatalf("verify: %d expired claims, want one on each of a's segments, x included", rep.ExpiredClaims)
	}
	e.gc(GCOptions{})
	e.mustBeGone(x)
	e.checkAbsent("b")
	e.cleanUp()
}

// (c) A retried decrement never removes another owner's reference.
func TestGCRaceRetriedDecrement(t *testing.T) {
	t.Run("Duplicated", func(t *testing.T) {
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		e.store(b)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnOp(reffaulty.OpRemoveRefs), Kind: reffaulty.Duplicate})
		e.del("a")
		e.retire() // the retirement's decrement is delivered twice
		e.gc(GCOptions{})
		e.mustExist(e.plan(b)...)
		e.mustBeGone(only(e.plan(a), e.plan(b))...)
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("AppliedReportedFailedThenRetried", func(t *testing.T) {
		// The retirement's decrement is applied and reported as failed: the collection fails
		// and keeps the batch's mark, and the next one retires it again.
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		e.store(b)
		e.del("a")
		e.clock.Advance(retireAfter)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnOp(reffaulty.OpRemoveRefs), Kind: reffaulty.FailAfter})
		if _, err := e.v.GC(e.ctx, GCOptions{}); err == nil {
			t.Fatal("gc with a lost response succeeded")
		}
		e.gc(GCOptions{}) // retires a's batch again
		e.gc(GCOptions{})
		e.mustBeGone(only(e.plan(a), e.plan(b))...)
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("LateRetryAfterReStore", func(t *testing.T) {
		// The same id stored again, in a new batch, while the old batch's decrement is in
		// flight; the decrement, delivered twice, removes only the old batch's references.
		e := newGCEnv(t)
		a := gcConv("a", 1, 1, 1)
		e.store(a)
		old, _ := e.check.Manifest(e.ctx, "a")
		e.del("a")
		e.clock.Advance(retireAfter)
		atRemove, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnOwner(reffaulty.OpRemoveRefs, old.Batch), Reached: atRemove, Wait: release, Kind: reffaulty.Duplicate})
		retired := goDo(func() (GCReport, error) { return e.v.GC(e.ctx, GCOptions{}) })
		recv(t, atRemove)
		again := *a
		e.store(&again) // the pointer is gone already: a new copy in a new batch
		close(release)
		if r := recv(t, retired); r.err != nil {
			t.Fatal(r.err)
		}
		e.gc(GCOptions{})
		e.mustExist(e.plan(a)...)
		e.checkStored(a)
		e.cleanUp(a)
	})
}

// (d) Two collectors on one candidate at once.
func TestGCRaceTwoCollectors(t *testing.T) {
	t.Run("BothClaimOneDeletes", func(t *testing.T) {
		e := newGCEnv(t)
		a := gcConv("a", 1, 1, 1)
		e.store(a)
		e.del("a")
		e.retire()
		x := e.plan(a)[0]
		var mu sync.Mutex
		deletes := map[string]int{}
		e.bucket.SetHook(func(_ context.Context, c *objfaulty.Call) *objfaulty.Fault {
			if c.Op == objfaulty.OpDelete {
				mu.Lock()
				for _, k := range c.Keys {
					deletes[k]++
				}
				mu.Unlock()
			}
			return nil
		})
		atClaim, release := make(chan *reffaulty.Call, 2), make(chan struct{})
		for range 2 {
			e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpClaim, x), Reached: atClaim, Wait: release})
		}
		g1, g2 := e.vault(), e.vault()
		r1 := goDo(func() (GCReport, error) { return g1.GC(e.ctx, GCOptions{}) })
		r2 := goDo(func() (GCReport, error) { return g2.GC(e.ctx, GCOptions{}) })
		c1, c2 := recv(t, atClaim), recv(t, atClaim)
		if c1.ClaimID == c2.ClaimID {
			t.Fatal("two collectors share a claim id")
		}
		close(release)
		rep1, rep2 := recv(t, r1), recv(t, r2)
		if rep1.err != nil || rep2.err != nil {
			t.Fatalf("gc: %v, %v", rep1.err, rep2.err)
		}
		for _, s := range e.plan(a) {
			if n := deletes[segment.Key(s)]; n != 1 {
				t.Fatalf("segment %.12s deleted %d times, want exactly once", s, n)
			}
		}
		t.Logf("collector 1: %+v\ncollector 2: %+v", rep1.v, rep2.v)
		e.mustBeGone(e.plan(a)...)
		e.cleanUp()
	})
	t.Run("StalledPastLeaseOtherCollectsWriterReuploads", func(t *testing.T) {
		// The first collector is held after its re-check found no reference, so that only its
		// deadline keeps it from deleting what the writer uploads again.
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		rechecked, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: nthCall(2, reffaulty.OnSegment(reffaulty.OpHasRefs, x)), Applied: rechecked, WaitAfter: release})
		g1 := e.vault()
		r1 := goDo(func() (GCReport, error) { return g1.GC(e.ctx, GCOptions{}) })
		recv(t, rechecked)
		if h, _ := e.head(x); h.State != refcount.Deleting {
			t.Fatalf("head %+v, want claimed by the first collector", h)
		}
		e.clock.Advance(claimTTL + time.Second)
		e.gc(GCOptions{}) // takes over the expired claim and collects x
		e.mustBeGone(x)
		e.store(b) // uploads x again
		close(release)
		rep := recv(t, r1)
		t.Logf("stalled collector: %+v, %v", rep.v, rep.err)
		e.mustExist(x)
		e.checkStored(b)
		e.cleanUp(b)
	})
}

// (e) A writer slower than the grace period.
func TestGCRaceSlowWriter(t *testing.T) {
	t.Run("StalledAfterRefsThroughGCRuns", func(t *testing.T) {
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		e.clock.Advance(retireAfter) // a's batch can be retired once a is deleted
		refsTaken, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnOp(reffaulty.OpAddRefs), Applied: refsTaken, WaitAfter: release})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, b) })
		recv(t, refsTaken)
		e.del("a")
		for _, step := range []time.Duration{3 * time.Minute, 3 * time.Minute, 3 * time.Minute} {
			e.clock.Advance(step) // past the grace, not past the writer's deadline
			e.gc(GCOptions{Grace: time.Minute})
			e.gc(GCOptions{})
			e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond})
			e.gc(GCOptions{})
		}
		e.mustBeGone(only(e.plan(a), e.plan(b))...)
		e.mustExist(shared(e.plan(a), e.plan(b))...)
		close(release)
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("StalledBetweenUploadAndHead", func(t *testing.T) {
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		e.clock.Advance(retireAfter) // a's batch can be retired once a is deleted
		y := only(e.plan(b), e.plan(a))[0]
		atHead, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpCreateHead, y), Reached: atHead, Wait: release})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, b) })
		recv(t, atHead)
		if _, ok := e.head(y); ok || !e.object(y) {
			t.Fatal("expected y uploaded without a head")
		}
		e.del("a")
		e.clock.Advance(5 * time.Minute)
		e.gc(GCOptions{})
		e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond})
		e.gc(GCOptions{})
		close(release)
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("PastDeadlineBeforePublish", func(t *testing.T) {
		// Every segment is live already; the writer is held after its last head read until
		// its deadline has passed, while the audit reclaims its references and the collector
		// deletes the segments. The writer's own deadline check must stop it.
		e := newGCEnv(t)
		a := gcConv("a", 1, 1, 1)
		e.store(a)
		a2 := gcConv("a2", 1, 1, 1)
		segs := e.plan(a2)
		last := segs[len(segs)-1]
		atLast, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpGetHead, last), Applied: atLast, WaitAfter: release})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, a2) })
		recv(t, atLast)
		e.clock.Advance(storeTTL + time.Second)
		e.del("a")
		// The stalled writer's batch leaked its references on every segment; a's is marked
		// for GC, which retires it.
		if rep := e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond}); rep.LeakedRefs != len(segs) || rep.RetiringBatches != 1 {
			t.Fatalf("verify: %d leaked references, %d retiring batches; want the stalled writer's %d and a's batch", rep.LeakedRefs, rep.RetiringBatches, len(segs))
		}
		e.clock.Advance(claimTTL / 2)
		e.gc(GCOptions{}) // retires a's batch
		e.gc(GCOptions{})
		e.mustBeGone(segs...)
		close(release)
		if r := recv(t, stored); r.err == nil || !strings.Contains(r.err.Error(), "deadline") {
			t.Fatalf("store past its deadline: %v, want the writer deadline error", r.err)
		}
		e.checkAbsent("a", "a2")
		e.checkStored()
		e.cleanUp()
	})
	t.Run("PastDeadlineAtPublish", func(t *testing.T) {
		// The pointer write itself is held past the deadline: the client abandons it.
		e := newGCEnv(t)
		a := gcConv("a", 1, 1, 1)
		e.store(a)
		a2 := gcConv("a2", 1, 1, 1)
		atPut, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "a2"), Reached: atPut, Wait: release})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, a2) })
		recv(t, atPut)
		e.clock.Advance(storeTTL + time.Second)
		e.del("a")
		e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond})
		e.gc(GCOptions{})
		close(release)
		if r := recv(t, stored); !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("store: %v, want its pointer write abandoned at the deadline", r.err)
		}
		e.checkAbsent("a", "a2")
		e.cleanUp()
	})
}

// (f) A collector that stalls past its claim's deadline must not delete.
func TestGCRaceCollectorPastDeadline(t *testing.T) {
	// stallAfterRecheck holds the collector after its second HasRefs on x (which found none).
	stallAfterRecheck := func(e *gcEnv, x string) (<-chan result[GCReport], chan struct{}) {
		rechecked, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: nthCall(2, reffaulty.OnSegment(reffaulty.OpHasRefs, x)), Applied: rechecked, WaitAfter: release})
		g := e.vault()
		done := goDo(func() (GCReport, error) { return g.GC(e.ctx, GCOptions{}) })
		recv(e.t, rechecked)
		if h, _ := e.head(x); h.State != refcount.Deleting {
			e.t.Fatalf("head %+v, want claimed", h)
		}
		return done, release
	}
	t.Run("PastHalfLeaseReleases", func(t *testing.T) {
		e := newGCEnv(t)
		a := gcConv("a", 1, 1, 1)
		e.store(a)
		e.del("a")
		e.retire()
		x := e.plan(a)[0]
		done, release := stallAfterRecheck(e, x)
		e.clock.Advance(claimTTL/2 + time.Second)
		close(release)
		if r := recv(t, done); r.err != nil {
			t.Fatal(r.err)
		}
		e.mustExist(x) // released, not deleted
		e.gc(GCOptions{})
		e.mustBeGone(x) // a timely collector deletes it
		e.cleanUp()
	})
	t.Run("PastLeaseWriterRevived", func(t *testing.T) {
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		done, release := stallAfterRecheck(e, x)
		e.clock.Advance(claimTTL + time.Second)
		e.store(b) // meets the expired claim: re-uploads (the object is there) and revives
		e.mustExist(x)
		close(release)
		r := recv(t, done)
		t.Logf("stalled collector: %+v, %v", r.v, r.err)
		e.mustExist(x)
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("DeleteRequestHeldPastDeadline", func(t *testing.T) {
		// The delete request itself is held: it carries the claim's deadline, and the client
		// abandons it there, long before the claim expires and a writer may revive.
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		atDelete, release := make(chan *objfaulty.Call, 1), make(chan struct{})
		e.bucket.Add(&objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpDelete, segment.Key(x)), Reached: atDelete, Wait: release})
		g := e.vault()
		done := goDo(func() (GCReport, error) { return g.GC(e.ctx, GCOptions{}) })
		recv(t, atDelete)
		e.clock.Advance(claimTTL + time.Second)
		e.store(b)
		close(release)
		if r := recv(t, done); !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("gc: %v, want its delete abandoned at the deadline", r.err)
		}
		e.mustExist(x)
		e.checkStored(b)
		e.cleanUp(b)
	})
}

// (g) Store whose pointer write is applied but reported as failed.
func TestGCRacePointerWriteRetried(t *testing.T) {
	t.Run("LostResponseWrittenAgain", func(t *testing.T) {
		// The write is sent once; its response is lost. The Store writes again under a new
		// nonce, finds the pointer of its first write, and keeps it.
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "b"), Kind: reffaulty.FailAfter})
		res := e.store(b)
		if res.Existed {
			t.Fatal("own earlier pointer write reported as Existed")
		}
		if st := e.refs.Stats(); st.FailAfter != 1 {
			t.Fatalf("fault stats %+v: want the pointer write applied once, its response lost", st)
		}
		m, err := e.check.Manifest(e.ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		for _, seg := range m.Segments() {
			if owners := e.owners(seg); !slices.Contains(owners, m.Batch) || len(owners) > 2 {
				t.Fatalf("segment %.12s: owners %v, want b's batch %s and at most a's", seg, owners, m.Batch)
			}
		}
		e.del("a")
		e.retire()
		e.gc(GCOptions{})
		e.mustExist(uses(m)...)
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("ReportedFailedThenStoredAgain", func(t *testing.T) {
		// Every write's response is lost: the first was applied, the others found it. The
		// error reaches the caller, the batch keeps its references, and a second Store finds
		// the conversation stored (Existed) and drops its own batch's.
		e := newGCEnv(t)
		b := gcConv("b", 1, 2, 2)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "b"), Kind: reffaulty.FailAfter, Times: pointerWrites})
		if _, err := e.v.Store(e.ctx, b); err == nil {
			t.Fatal("store with every pointer response lost succeeded")
		}
		e.checkStored(b) // published all the same, references kept
		if res := e.store(b); !res.Existed {
			t.Fatal("second store: want Existed")
		}
		e.clock.Advance(storeTTL + time.Minute)
		if rep := e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond}); rep.LeakedRefs != 0 || !rep.OK() {
			t.Fatalf("verify: %+v; want nothing leaked", rep)
		}
		e.gc(GCOptions{})
		e.checkStored(b)
		e.cleanUp(b)
	})
}

// (o) A Store that finds the same id stored compares the two conversations while a Delete and
// a collector run.
func TestGCRaceStoreComparesWhileDeleted(t *testing.T) {
	// holdCompare starts Store(c) through another vault and holds it at its first read of
	// segment seg, which is the comparison's (the vaults read no segment otherwise).
	holdCompare := func(e *gcEnv, c *conversation.Conversation, seg string) (<-chan result[StoreResult], chan struct{}) {
		atRead, release := make(chan *objfaulty.Call, 1), make(chan struct{})
		e.bucket.Add(&objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpGet, segment.Key(seg)), Reached: atRead, Wait: release})
		w := e.vault()
		stored := goDo(func() (StoreResult, error) { return w.Store(e.ctx, c) })
		recv(e.t, atRead)
		return stored, release
	}
	t.Run("ExistingCollectedOursWritten", func(t *testing.T) {
		// A different conversation under the same id: while it is compared, the stored one is
		// deleted and its segments collected. The Store writes its own.
		e := newGCEnv(t)
		first, second := gcConv("a", 1, 1, 1), gcConv("a", 2, 2, 2)
		e.store(first)
		e.clock.Advance(retireAfter) // first's batch can be retired once it is deleted
		stored, release := holdCompare(e, second, e.plan(first)[0])
		e.del("a")
		e.gc(GCOptions{}) // retires first's batch
		e.gc(GCOptions{})
		e.mustBeGone(only(e.plan(first), e.plan(second))...)
		close(release)
		if r := recv(t, stored); r.err != nil || r.v.Existed {
			t.Fatalf("store: %+v, %v; want its own conversation written", r.v, r.err)
		}
		e.checkStored(second)
		e.cleanUp(second)
	})
	t.Run("SameConversationDeletedEveryMarkKept", func(t *testing.T) {
		// The same conversation: while it is compared, the stored copy is deleted, its batch
		// retired, and a collector finds the comparing Store's references and clears the
		// marks. The Store finds it equal (Existed) and drops its references: the last ones,
		// so it must mark every segment again, or they would stay until an audit.
		e := newGCEnv(t)
		a := gcConv("a", 1, 1, 1)
		e.store(a)
		e.clock.Advance(retireAfter)
		again := *a
		stored, release := holdCompare(e, &again, e.plan(a)[0])
		e.del("a")
		e.gc(GCOptions{}) // retires a's batch
		if rep := e.gc(GCOptions{}); rep.Referenced != len(e.plan(a)) {
			t.Fatalf("gc during the comparison: %+v; want every segment found referenced", rep)
		}
		close(release)
		if r := recv(t, stored); r.err != nil || !r.v.Existed {
			t.Fatalf("store: %+v, %v; want Existed", r.v, r.err)
		}
		e.gc(GCOptions{})
		e.mustBeGone(e.plan(a)...)
		e.cleanUp()
	})
}

// (q) A Delete runs between a Store's applied pointer write and what the Store does next: the
// batch's references must outlive every write of the batch.
func TestGCRaceDeleteBetweenPointerWrites(t *testing.T) {
	t.Run("DeletedBeforeTheExistingPointerIsRead", func(t *testing.T) {
		// The write is applied and its response lost; the Store writes again and finds the
		// pointer; the Delete removes it before the Store reads it. The Store writes again,
		// in the same batch, whose references are still held.
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "b"), Kind: reffaulty.FailAfter})
		atRead, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpGetPointer, "b"), Reached: atRead, Wait: release})
		stored := goDo(func() (StoreResult, error) { return e.vault().Store(e.ctx, b) })
		recv(t, atRead)
		if err := e.vault().Delete(e.ctx, "b"); err != nil {
			t.Fatalf("delete while the store reads: %v", err)
		}
		e.gc(GCOptions{})
		close(release)
		if r := recv(t, stored); r.err != nil {
			t.Fatalf("store: %v", r.err)
		}
		e.gc(GCOptions{})
		e.checkStored(a, b)
		e.cleanUp(a, b)
	})
	t.Run("DeletedAndCollectedBeforeTheWriteAgain", func(t *testing.T) {
		// The write is applied, its response lost, and the Delete runs to the end, and
		// collections with it, before the Store writes again: if the collector retired the
		// batch then (before its writer deadline), the Store's next write would publish b
		// with its segments gone.
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		landed, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "b"), Kind: reffaulty.FailAfter, Applied: landed, WaitAfter: release})
		stored := goDo(func() (StoreResult, error) { return e.vault().Store(e.ctx, b) })
		recv(t, landed)
		if err := e.vault().Delete(e.ctx, "b"); err != nil {
			t.Fatalf("delete of the landed pointer: %v", err)
		}
		e.clock.Advance(storeTTL / 2)
		e.gc(GCOptions{})
		e.gc(GCOptions{})
		close(release)
		if r := recv(t, stored); r.err != nil {
			t.Fatalf("store: %v", r.err)
		}
		e.gc(GCOptions{})
		e.checkStored(a, b)
		e.cleanUp(a, b)
	})
}

// (h') A Delete whose conversation is deleted and stored again between its read of the pointer
// and its conditional delete: the delete finds another nonce, reads again, and deletes the copy
// stored now.
func TestGCRaceDeleteAfterRestore(t *testing.T) {
	e := newGCEnv(t)
	a := gcConv("a", 1, 1, 1)
	e.store(a)
	atDelete, release := make(chan *reffaulty.Call, 1), make(chan struct{})
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpDeletePointer, "a"), Reached: atDelete, Wait: release})
	deleted := goDo(func() (struct{}, error) { return struct{}{}, e.v.Delete(e.ctx, "a") })
	recv(t, atDelete)
	w := e.vault()
	if err := w.Delete(e.ctx, "a"); err != nil {
		t.Fatal(err)
	}
	again := *a
	if _, err := w.Store(e.ctx, &again); err != nil {
		t.Fatal(err)
	}
	close(release)
	if r := recv(t, deleted); r.err != nil {
		t.Fatalf("delete across a re-store: %v", r.err)
	}
	e.checkAbsent("a")
	e.cleanUp()
}

// (h) Delete applied but reported as failed, then retried.
func TestGCRaceDeleteRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bucket *objfaulty.Fault
		refs   *reffaulty.Fault
		fails  bool
	}{
		{"PointerDeleteLostResponse", nil, &reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpDeletePointer, "a"), Kind: reffaulty.FailAfter}, true},
		{"PointerDeleteDuplicated", nil, &reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpDeletePointer, "a"), Kind: reffaulty.Duplicate}, false},
		{"MarkCandidatesFailed", nil, &reffaulty.Fault{Match: reffaulty.OnOp(reffaulty.OpMarkCandidates), Kind: reffaulty.FailBefore}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGCEnv(t)
			a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
			e.store(a)
			e.store(b)
			if tc.bucket != nil {
				e.bucket.Add(tc.bucket)
			}
			if tc.refs != nil {
				e.refs.Add(tc.refs)
			}
			err := e.v.Delete(e.ctx, "a")
			if (err != nil) != tc.fails {
				t.Fatalf("delete: %v", err)
			}
			if err != nil {
				if err := e.v.Delete(e.ctx, "a"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("retried delete: %v, want ErrNotFound", err)
				}
			}
			e.checkAbsent("a")
			e.gc(GCOptions{})
			e.checkStored(b)
			e.cleanUp(b)
			e.mustBeGone(only(e.plan(a), e.plan(b))...)
			e.mustExist(e.plan(b)...)
		})
	}
}

// (i) The audit's repair running while a Store is in flight.
func TestGCRaceVerifyDuringStore(t *testing.T) {
	t.Run("YoungReferencesKept", func(t *testing.T) {
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		atPut, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "b"), Reached: atPut, Wait: release})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, b) })
		recv(t, atPut) // references taken, segments uploaded, pointer not yet written
		e.del("a")
		e.clock.Advance(storeTTL - time.Minute)
		rep := e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond})
		if rep.LeakedRefs != 0 {
			t.Fatalf("verify treated an in-flight store's references as leaked: %+v", rep)
		}
		e.gc(GCOptions{})
		e.mustExist(e.plan(b)...)
		close(release)
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("ObjectWithoutHeadYet", func(t *testing.T) {
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		y := only(e.plan(b), e.plan(a))[0]
		atHead, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpCreateHead, y), Reached: atHead, Wait: release})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, b) })
		recv(t, atHead)
		e.clock.Advance(storeTTL - time.Minute)
		rep := e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond})
		if rep.LeakedObjects != 0 || rep.LeakedRefs != 0 {
			t.Fatalf("verify treated an in-flight store as leaked: %+v", rep)
		}
		e.gc(GCOptions{})
		close(release)
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.checkStored(a, b)
		e.cleanUp(a, b)
	})
}

// (k) The audit repairs a missing head of a stored conversation's segment while the
// conversation is deleted and the collector deletes that segment.
func TestGCRaceVerifyMissingHeadVsCollector(t *testing.T) {
	e := newGCEnv(t)
	a, c := gcConv("a", 1, 1, 1), gcConv("c", 1, 3, 3)
	e.store(a)
	x := shared(e.plan(a), e.plan(c))[0]

	// The audit has listed pointers (a) and references (a's) and is held before the heads.
	atHeads, releaseV := make(chan *reffaulty.Call, 1), make(chan struct{})
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnOp(reffaulty.OpListHeads), Reached: atHeads, Wait: releaseV})
	verified := goDo(func() (VerifyReport, error) {
		return e.v.Verify(e.ctx, VerifyOptions{Repair: true, MinAge: time.Nanosecond})
	})
	recv(t, atHeads)
	// a is deleted and its batch retired; a collector claims x and is held before deleting
	// the object.
	e.del("a")
	e.retire()
	atDelete, releaseGC := make(chan *objfaulty.Call, 1), make(chan struct{})
	e.bucket.Add(&objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpDelete, segment.Key(x)), Reached: atDelete, Wait: releaseGC})
	g := e.vault()
	collected := goDo(func() (GCReport, error) { return g.GC(e.ctx, GCOptions{}) })
	recv(t, atDelete)
	// The audit lists heads (x deleting) and objects (x present), checks a, and reads x's
	// head again — held until the collector has finished.
	atGetHead, releaseV2 := make(chan *reffaulty.Call, 1), make(chan struct{})
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpGetHead, x), Reached: atGetHead, Wait: releaseV2})
	close(releaseV)
	recv(t, atGetHead)
	close(releaseGC)
	if r := recv(t, collected); r.err != nil {
		t.Fatal(r.err)
	}
	e.mustBeGone(x)
	close(releaseV2)
	if r := recv(t, verified); r.err != nil {
		t.Fatal(r.err)
	}
	e.checkStored() // no live head without its object
	// A later writer of a conversation using x must find the object.
	e.store(c)
	e.checkStored(c)
	e.cleanUp(c)
}

// (l) The audit adopts a leaked object (gives it a head so the collector can delete it)
// while a writer reuses the object, gives up, and a collector deletes it.
func TestGCRaceVerifyLeakedObjectVsCollector(t *testing.T) {
	e := newGCEnv(t)
	c := gcConv("c", 1, 1, 1)
	segs := e.plan(c)
	l := segs[0]
	// A store dies after uploading its first segment and before creating its head: a leaked
	// object, without head or references.
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpCreateHead, l), Kind: reffaulty.FailBefore})
	if _, err := e.v.Store(e.ctx, c); err == nil {
		t.Fatal("store with a failed head write succeeded")
	}
	if _, ok := e.head(l); ok || !e.object(l) {
		t.Fatal("expected a leaked object")
	}
	e.clock.Advance(storeTTL + time.Minute)

	// The audit has listed references, heads and objects (l: an old object, no head, no
	// reference) and is held.
	listed, releaseV := make(chan *objfaulty.Call, 1), make(chan struct{})
	e.bucket.Add(&objfaulty.Fault{Match: objfaulty.OnPrefix(objfaulty.OpList, segment.Prefix), Applied: listed, WaitAfter: releaseV})
	verified := goDo(func() (VerifyReport, error) {
		return e.v.Verify(e.ctx, VerifyOptions{Repair: true, MinAge: time.Nanosecond})
	})
	recv(t, listed)
	// A writer reuses l (creates its head), fails on its next segment and drops its
	// references; a collector deletes l.
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpGetHead, segs[1]), Kind: reffaulty.FailBefore})
	if _, err := e.v.Store(e.ctx, c); err == nil {
		t.Fatal("store with a failed head read succeeded")
	}
	e.gc(GCOptions{})
	e.mustBeGone(l)
	close(releaseV)
	if r := recv(t, verified); r.err != nil {
		t.Fatal(r.err)
	}
	e.checkStored() // no live head without its object
	e.store(c)
	e.checkStored(c)
	e.cleanUp(c)
}

// (j) A Store dies after taking its references and before publishing its pointer.
// dieAt makes the process "die" at the first bucket call that inBucket accepts, or the first
// reference store call that inRefs accepts (applied or not; nil matches nothing): every later
// call, to the bucket or the reference store, fails, the clean-up of its references included.
func dieAt(e *gcEnv, inBucket func(*objfaulty.Call) bool, inRefs func(*reffaulty.Call) bool, applied bool) {
	var mu sync.Mutex
	dead := false
	e.bucket.SetHook(func(_ context.Context, c *objfaulty.Call) *objfaulty.Fault {
		mu.Lock()
		defer mu.Unlock()
		if dead {
			return &objfaulty.Fault{Kind: objfaulty.FailBefore, Err: errCrash}
		}
		if dead = inBucket != nil && inBucket(c); dead && !applied {
			return &objfaulty.Fault{Kind: objfaulty.FailBefore, Err: errCrash}
		}
		return nil
	})
	e.refs.SetHook(func(_ context.Context, c *reffaulty.Call) *reffaulty.Fault {
		mu.Lock()
		defer mu.Unlock()
		if dead {
			return &reffaulty.Fault{Kind: reffaulty.FailBefore, Err: errCrash}
		}
		if dead = inRefs != nil && inRefs(c); dead && !applied {
			return &reffaulty.Fault{Kind: reffaulty.FailBefore, Err: errCrash}
		}
		return nil
	})
}

func TestGCRaceStoreCrashLeaksReclaimed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(e *gcEnv, b *conversation.Conversation)
	}{
		{"AfterAddRefs", func(e *gcEnv, b *conversation.Conversation) {
			e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnOp(reffaulty.OpAddRefs), Kind: reffaulty.FailAfter, Err: errCrash})
		}},
		{"AfterUploads", func(e *gcEnv, b *conversation.Conversation) {
			// Dies as it sends its pointer (not applied).
			dieAt(e, nil, reffaulty.OnID(reffaulty.OpCreatePointer, b.ID), false)
		}},
		{"MidSegment", func(e *gcEnv, b *conversation.Conversation) {
			// Dies right after uploading one of its new segments.
			y := segment.Key(only(e.plan(b), e.plan(gcConv("a", 1, 1, 1)))[0])
			dieAt(e, objfaulty.OnKey(objfaulty.OpPut, y), nil, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGCEnv(t)
			a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
			e.store(a)
			tc.crash(e, b)
			if _, err := e.v.Store(e.ctx, b); err == nil {
				t.Fatal("crashed store succeeded")
			}
			e.bucket.Clear()
			e.refs.Clear()
			e.checkAbsent("b")
			// Younger than the writer deadline: the audit leaves the references alone.
			if rep := e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond}); rep.LeakedRefs != 0 {
				t.Fatalf("verify reclaimed young references: %+v", rep)
			}
			e.gc(GCOptions{})
			e.clock.Advance(storeTTL + time.Minute)
			rep := e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond})
			t.Logf("verify after the writer deadline: %d leaked references, %d leaked objects", rep.LeakedRefs, rep.LeakedObjects)
			e.gc(GCOptions{})
			e.checkStored(a)
			e.cleanUp(a)
			e.mustBeGone(only(e.plan(b), e.plan(a))...)
		})
	}
}

// (m) The audit cannot read a batch object — a transient error, or an object that does not
// decode — and must not take the references of its batch for leaks.
func TestGCRaceVerifyUnreadableManifest(t *testing.T) {
	for _, tc := range []struct {
		name string
		// corrupt: the audit reports the manifest corrupt, not just unreadable.
		corrupt bool
		// spoil makes a's batch object unreadable to the audit and returns what undoes it.
		spoil func(e *gcEnv) (undo func())
	}{
		{"TransientReadError", false, func(e *gcEnv) func() {
			e.bucket.Add(&objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpGet, batchKey(e.t, e.refs.Inner(), "a")), Kind: objfaulty.FailBefore})
			return func() {}
		}},
		{"Undecodable", true, func(e *gcEnv) func() {
			raw, key := e.bucket.Inner(), batchKey(e.t, e.refs.Inner(), "a")
			data, _, err := raw.Get(e.ctx, key)
			if err != nil {
				e.t.Fatal(err)
			}
			if _, err := raw.Put(e.ctx, key, flip(data, len(data)/2), objstore.PutOptions{}); err != nil {
				e.t.Fatal(err)
			}
			return func() {
				if _, err := raw.Put(e.ctx, key, data, objstore.PutOptions{}); err != nil {
					e.t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGCEnv(t)
			a := gcConv("a", 1, 1, 1)
			e.store(a)
			e.clock.Advance(storeTTL + time.Minute) // a's references are older than any MinAge floor
			undo := tc.spoil(e)
			rep := e.verify(VerifyOptions{Repair: true, MinAge: time.Nanosecond})
			corrupt, unreadable := 0, 1
			if tc.corrupt {
				corrupt, unreadable = 1, 0
			}
			if rep.LeakedRefs != 0 || rep.CorruptManifests != corrupt || rep.Unreadable != unreadable || rep.OK() {
				t.Errorf("verify: %+v; want no leaked references, %d corrupt and %d unreadable manifests, not OK", rep, corrupt, unreadable)
			}
			e.bucket.Clear()
			e.gc(GCOptions{})
			undo()
			e.checkStored(a)
			e.cleanUp(a)
		})
	}
}

// (n) A collector takes over the expired claim of one that died after deleting the object but
// before deleting the head. It must not make the head live again (a live head promises the
// object exists): not when it finds a reference, not when its re-check fails, not when it is
// past its deadline.
func TestGCRaceTakeoverOfDeletedObject(t *testing.T) {
	// dead leaves x claimed by a collector that deleted the object and died, the claim expired.
	dead := func(e *gcEnv, x string) {
		crashGCAt(e, nil, &reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpDeleteHead, x)})
		if h, _ := e.head(x); h.State != refcount.Deleting || e.object(x) {
			e.t.Fatalf("after the crash: head %+v, object %v", h, e.object(x))
		}
		e.clock.Advance(claimTTL + time.Second)
	}
	t.Run("WriterWaitsReferenceFound", func(t *testing.T) {
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		dead(e, x)
		// The second collector claims x (taking over) and is held before its re-check.
		claimed, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpClaim, x), Applied: claimed, WaitAfter: release})
		g := e.vault()
		collected := goDo(func() (GCReport, error) { return g.GC(e.ctx, GCOptions{}) })
		recv(t, claimed)
		// A writer takes its reference and waits on the fresh claim.
		sawDeleting := make(chan *reffaulty.Call, 1)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpGetHead, x), Applied: sawDeleting})
		stored := goDo(func() (StoreResult, error) { return e.v.Store(e.ctx, b) })
		recv(t, sawDeleting)
		close(release) // the collector finds the writer's reference
		if r := recv(t, collected); r.err != nil {
			t.Fatal(r.err)
		}
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("RecheckFails", func(t *testing.T) {
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		dead(e, x)
		e.refs.Add(&reffaulty.Fault{Match: nthCall(2, reffaulty.OnSegment(reffaulty.OpHasRefs, x)), Kind: reffaulty.FailBefore})
		if _, err := e.v.GC(e.ctx, GCOptions{}); err == nil {
			t.Fatal("gc with a failed re-check succeeded")
		}
		e.checkStored()
		e.store(b)
		e.checkStored(b)
		e.cleanUp(b)
	})
	t.Run("PastDeadline", func(t *testing.T) {
		e := newGCEnv(t)
		_, b, x := setupShared(e)
		dead(e, x)
		rechecked, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: nthCall(2, reffaulty.OnSegment(reffaulty.OpHasRefs, x)), Applied: rechecked, WaitAfter: release})
		collected := goDo(func() (GCReport, error) { return e.v.GC(e.ctx, GCOptions{}) })
		recv(t, rechecked)
		e.clock.Advance(claimTTL/2 + time.Second)
		close(release)
		recv(t, collected)
		e.checkStored()
		e.store(b)
		e.checkStored(b)
		e.cleanUp(b)
	})
}

// (u) A batch object has no head and no reference: GC deletes it once it retires the batch.
func TestGCRaceBatchObject(t *testing.T) {
	t.Run("FailedStoreCollected", func(t *testing.T) {
		// A segment upload fails, so no pointer write is sent; the batch object was uploaded
		// beside the segments. The Store marks its batch, and GC deletes the object past the
		// writer deadline, with no audit.
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		e.store(a)
		y := only(e.plan(b), e.plan(a))[0]
		e.bucket.Add(&objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpPut, segment.Key(y)), Kind: objfaulty.FailBefore, Times: 100})
		if _, err := e.v.Store(e.ctx, b); err == nil {
			t.Fatal("store with a failed segment upload succeeded")
		}
		e.bucket.Clear()
		if n := len(listKeys(t, e.bucket.Inner(), manifest.BatchPrefix)); n != 2 {
			t.Fatalf("%d batch objects; want a's and the failed store's", n)
		}
		e.retire()
		e.gc(GCOptions{})
		e.mustNotLeak("after collection, without an audit")
		e.checkStored(a)
		e.cleanUp(a)
	})
	t.Run("LayoutBeforeWithHead", func(t *testing.T) {
		// A batch object written before batch objects lost their head and reference: the
		// batch references its own object, which has a head. Verify accepts it; once the
		// batch is retired, its reference on its object goes last and the object is collected
		// like a segment, head and all.
		e := newGCEnv(t)
		a := gcConv("a", 1, 1, 1)
		e.store(a)
		m, err := e.check.Manifest(e.ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := e.bucket.Inner().Stat(e.ctx, manifest.BatchKey(m.Batch))
		if err != nil {
			t.Fatal(err)
		}
		raw := e.refs.Inner()
		if err := errors.Join(raw.AddRefs(e.ctx, m.Batch, []string{m.Batch}, e.clock.Now()),
			raw.CreateHead(e.ctx, m.Batch, attrs.Size, e.clock.Now())); err != nil {
			t.Fatal(err)
		}
		if rep := e.verify(VerifyOptions{}); !rep.OK() || rep.LeakedRefs != 0 || rep.Unreferenced != 0 {
			t.Fatalf("verify of a batch of the layout before: %+v", rep)
		}
		e.del("a")
		e.retire()
		e.gc(GCOptions{})
		if _, ok := e.head(m.Batch); ok || e.object(m.Batch) {
			t.Fatalf("batch object %s of the layout before: head %v, object %v after collection; want both gone", m.Batch, ok, e.object(m.Batch))
		}
		e.cleanUp()
	})
	t.Run("MemberStillPublishing", func(t *testing.T) {
		// a and b are stored as one batch; b's pointer write is held while a is deleted and
		// its batch marked. Until the writer deadline has passed by ClaimTTL/2, GC must not
		// retire the batch, whose object b's pointer is about to name.
		e := newGCEnv(t)
		a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
		atB, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "b"), Reached: atB, Wait: release})
		stored := goDo(func() (StoreResult, error) {
			rs, errs := e.v.StoreBatch(e.ctx, []*conversation.Conversation{a, b})
			return rs[1], errors.Join(errs...)
		})
		recv(t, atB)
		if err := e.vault().Delete(e.ctx, "a"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(storeTTL / 2)
		e.gc(GCOptions{})
		e.gc(GCOptions{})
		if n := len(listKeys(t, e.bucket.Inner(), manifest.BatchPrefix)); n != 1 {
			t.Fatalf("%d batch objects while b's pointer write is in flight; want its batch's", n)
		}
		close(release)
		if r := recv(t, stored); r.err != nil {
			t.Fatal(r.err)
		}
		e.checkStored(b)
		e.cleanUp(b)
	})
}

// TestGCWindows: a run's windows hold batch candidates or segment candidates, never both,
// batches first, each candidate once and in its order, at most objstore.DeleteBatchSize each
// (race (w) in doc.go).
func TestGCWindows(t *testing.T) {
	var cands []refcount.Candidate
	for i := range 2700 {
		id := segment.ID(tokenizer.CL100KBase, []int{i})
		if i%9 < 4 {
			id = manifest.NewBatchID()
		}
		cands = append(cands, refcount.Candidate{Segment: id})
	}
	windows := gcWindows(cands)
	var got []refcount.Candidate
	segmentsStarted := false
	for i, w := range windows {
		if len(w) == 0 || len(w) > objstore.DeleteBatchSize {
			t.Fatalf("window %d holds %d candidates", i, len(w))
		}
		batch := manifest.IsBatchID(w[0].Segment)
		for _, c := range w {
			if manifest.IsBatchID(c.Segment) != batch {
				t.Fatalf("window %d holds batch and segment candidates", i)
			}
		}
		if batch && segmentsStarted {
			t.Fatalf("window %d of batches after a window of segments", i)
		}
		segmentsStarted = !batch
		got = append(got, w...)
	}
	want := slices.Concat(
		slices.DeleteFunc(slices.Clone(cands), func(c refcount.Candidate) bool { return !manifest.IsBatchID(c.Segment) }),
		slices.DeleteFunc(slices.Clone(cands), func(c refcount.Candidate) bool { return manifest.IsBatchID(c.Segment) }))
	if !slices.Equal(got, want) {
		t.Fatalf("the windows hold %d candidates, not the %d given, batches first, in order", len(got), len(want))
	}
}
