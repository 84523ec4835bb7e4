// Package refcounttest is the conformance suite every refcount.Backend implementation must pass.
//
// Run exercises every method under every condition the protocol in package refcount relies on:
// idempotent reference writes, strongly consistent reads, each conditional head transition
// (including retries of a call that already took effect), candidate marks, concurrent claims and
// creates, batches larger than refcount.BatchSize, and pointers (conditional creates and
// deletes, unusual ids, concurrent creates of one id). Some subtests are probes: they fail with
// "backend ignores ConditionExpression" when a server accepts a write whose condition does not
// hold, as some DynamoDB emulators do.
//
// Times: stores keep Unix milliseconds. The suite passes millisecond-truncated times and compares
// them exactly, except where it checks that a finer time is kept to within a millisecond.
//
// Every subtest uses fresh random segment, owner, claim and conversation names and only looks at
// items carrying its own prefix, so the suite can run again and again against one shared real
// table.
package refcounttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/refcount"
)

// Run runs the conformance suite. newStore is called once per subtest (subtests run in
// parallel) and must return a ready store; Run closes it when the subtest ends. Stores returned
// by different calls may share one backend.
func Run(t *testing.T, newStore func(t *testing.T) refcount.Backend) {
	t.Run("Refs", func(t *testing.T) { testRefs(t, newStore) })
	t.Run("Heads", func(t *testing.T) { testHeads(t, newStore) })
	t.Run("Claim", func(t *testing.T) { testTransitions(t, newStore, claimCases()) })
	t.Run("Release", func(t *testing.T) { testTransitions(t, newStore, releaseCases()) })
	t.Run("Revive", func(t *testing.T) { testTransitions(t, newStore, reviveCases()) })
	t.Run("DeleteHead", func(t *testing.T) { testTransitions(t, newStore, deleteCases()) })
	t.Run("Candidates", func(t *testing.T) { testCandidates(t, newStore) })
	t.Run("Pointers", func(t *testing.T) { testPointers(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, newStore) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, newStore) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, newStore) })
	t.Run("InvalidNames", func(t *testing.T) { testInvalidNames(t, newStore) })
}

// fixture is one subtest's store, random name prefix and reference time.
type fixture struct {
	t   *testing.T
	s   refcount.Backend
	ctx context.Context
	p   string
	now time.Time // millisecond-truncated
}

func setup(t *testing.T, newStore func(t *testing.T) refcount.Backend) *fixture {
	t.Helper()
	t.Parallel()
	s := newStore(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	f := &fixture{
		t:   t,
		s:   s,
		ctx: t.Context(),
		p:   "rct-" + randHex(8),
		now: time.Now().UTC().Truncate(time.Millisecond),
	}
	t.Cleanup(f.cleanup) // runs before Close
	return f
}

// cleanup deletes everything the fixture left behind, through the interface, so that a shared
// table does not grow with every run.
func (f *fixture) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) // every claim has expired by then
	id := f.name("cleanup")
	var refs []refcount.Ref
	var heads, cands []string
	pointers := map[string]refcount.Pointer{}
	err := errors.Join(
		f.s.ListRefs(ctx, func(r refcount.Ref) error {
			if strings.HasPrefix(r.Segment, f.p) {
				refs = append(refs, r)
			}
			return nil
		}),
		f.s.ListHeads(ctx, func(h refcount.Head) error {
			if strings.HasPrefix(h.Segment, f.p) {
				heads = append(heads, h.Segment)
			}
			return nil
		}),
		f.s.ListCandidates(ctx, func(c refcount.Candidate) error {
			if strings.HasPrefix(c.Segment, f.p) {
				cands = append(cands, c.Segment)
			}
			return nil
		}),
		f.s.ListPointers(ctx, func(id string, p refcount.Pointer) error {
			if strings.HasPrefix(id, f.p) {
				pointers[id] = p
			}
			return nil
		}),
	)
	for _, r := range refs {
		err = errors.Join(err, f.s.RemoveRefs(ctx, r.Owner, []string{r.Segment}))
	}
	for _, seg := range heads {
		err = errors.Join(err, f.s.Claim(ctx, seg, id, far, far.Add(time.Millisecond)), f.s.DeleteHead(ctx, seg, id))
	}
	for _, seg := range cands {
		err = errors.Join(err, f.s.RemoveCandidate(ctx, seg, far))
	}
	for id, p := range pointers {
		err = errors.Join(err, f.s.DeletePointer(ctx, id, p))
	}
	if err != nil {
		f.t.Logf("cleaning up after the test: %v", err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// name returns a name unique to this fixture.
func (f *fixture) name(parts ...any) string {
	s := f.p
	for _, p := range parts {
		s += "-" + fmt.Sprint(p)
	}
	return s
}

func (f *fixture) names(kind string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f.name(kind, i)
	}
	return out
}

func (f *fixture) at(d time.Duration) time.Time { return f.now.Add(d) }

func (f *fixture) addRefs(owner string, segs []string, now time.Time) {
	f.t.Helper()
	if err := f.s.AddRefs(f.ctx, owner, segs, now); err != nil {
		f.t.Fatalf("AddRefs(%s, %d segments): %v", owner, len(segs), err)
	}
}

func (f *fixture) removeRefs(owner string, segs []string) {
	f.t.Helper()
	if err := f.s.RemoveRefs(f.ctx, owner, segs); err != nil {
		f.t.Fatalf("RemoveRefs(%s, %d segments): %v", owner, len(segs), err)
	}
}

func (f *fixture) hasRefs(seg string) bool {
	f.t.Helper()
	ok, err := f.s.HasRefs(f.ctx, seg)
	if err != nil {
		f.t.Fatalf("HasRefs(%s): %v", seg, err)
	}
	return ok
}

func (f *fixture) wantHasRefs(seg string, want bool) {
	f.t.Helper()
	if got := f.hasRefs(seg); got != want {
		f.t.Fatalf("HasRefs(%s) = %v, want %v", seg, got, want)
	}
}

type refKey struct{ seg, owner string }

// refs lists this fixture's references.
func (f *fixture) refs() map[refKey]time.Time {
	f.t.Helper()
	got := map[refKey]time.Time{}
	err := f.s.ListRefs(f.ctx, func(r refcount.Ref) error {
		if !strings.HasPrefix(r.Segment, f.p) {
			return nil
		}
		k := refKey{r.Segment, r.Owner}
		if _, dup := got[k]; dup {
			return fmt.Errorf("ListRefs reported (%s, %s) twice", r.Segment, r.Owner)
		}
		got[k] = r.Created
		return nil
	})
	if err != nil {
		f.t.Fatalf("ListRefs: %v", err)
	}
	return got
}

// wantRefs checks that ListRefs reports exactly want (created times compared exactly).
func (f *fixture) wantRefs(want map[refKey]time.Time) {
	f.t.Helper()
	got := f.refs()
	for k, wt := range want {
		gt, ok := got[k]
		if !ok {
			f.t.Errorf("ListRefs: missing (%s, %s)", k.seg, k.owner)
			continue
		}
		if !gt.Equal(wt) {
			f.t.Errorf("ListRefs: (%s, %s) created %v, want %v", k.seg, k.owner, gt, wt)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			f.t.Errorf("ListRefs: unexpected (%s, %s)", k.seg, k.owner)
		}
	}
	if f.t.Failed() {
		f.t.FailNow()
	}
}

func (f *fixture) heads() map[string]refcount.Head {
	f.t.Helper()
	got := map[string]refcount.Head{}
	err := f.s.ListHeads(f.ctx, func(h refcount.Head) error {
		if !strings.HasPrefix(h.Segment, f.p) {
			return nil
		}
		if _, dup := got[h.Segment]; dup {
			return fmt.Errorf("ListHeads reported %s twice", h.Segment)
		}
		got[h.Segment] = h
		return nil
	})
	if err != nil {
		f.t.Fatalf("ListHeads: %v", err)
	}
	return got
}

func (f *fixture) candidates() map[string]time.Time {
	f.t.Helper()
	got := map[string]time.Time{}
	err := f.s.ListCandidates(f.ctx, func(c refcount.Candidate) error {
		if !strings.HasPrefix(c.Segment, f.p) {
			return nil
		}
		if _, dup := got[c.Segment]; dup {
			return fmt.Errorf("ListCandidates reported %s twice", c.Segment)
		}
		got[c.Segment] = c.Since
		return nil
	})
	if err != nil {
		f.t.Fatalf("ListCandidates: %v", err)
	}
	return got
}

func (f *fixture) wantCandidates(want map[string]time.Time) {
	f.t.Helper()
	got := f.candidates()
	for seg, wt := range want {
		gt, ok := got[seg]
		if !ok {
			f.t.Errorf("ListCandidates: missing %s", seg)
		} else if !gt.Equal(wt) {
			f.t.Errorf("ListCandidates: %s since %v, want %v", seg, gt, wt)
		}
	}
	for seg := range got {
		if _, ok := want[seg]; !ok {
			f.t.Errorf("ListCandidates: unexpected %s", seg)
		}
	}
	if f.t.Failed() {
		f.t.FailNow()
	}
}

func (f *fixture) createHead(seg string, size int64, now time.Time) {
	f.t.Helper()
	if err := f.s.CreateHead(f.ctx, seg, size, now); err != nil {
		f.t.Fatalf("CreateHead(%s): %v", seg, err)
	}
}

func (f *fixture) head(seg string) refcount.Head {
	f.t.Helper()
	h, err := f.s.GetHead(f.ctx, seg)
	if err != nil {
		f.t.Fatalf("GetHead(%s): %v", seg, err)
	}
	return h
}

func (f *fixture) claim(seg, id string, expires, now time.Time) {
	f.t.Helper()
	if err := f.s.Claim(f.ctx, seg, id, expires, now); err != nil {
		f.t.Fatalf("Claim(%s, %s): %v", seg, id, err)
	}
}

// wantErr checks err against want (nil or a sentinel).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// headWant is the expected state of a head after an operation.
type headWant struct {
	absent  bool
	state   refcount.State
	claim   string        // when deleting
	expires time.Duration // offset from now, when deleting
}

func (f *fixture) checkHead(seg string, size int64, created time.Time, w headWant, ids map[string]string) {
	f.t.Helper()
	h, err := f.s.GetHead(f.ctx, seg)
	if w.absent {
		if !errors.Is(err, refcount.ErrNotFound) {
			f.t.Fatalf("GetHead(%s) = %+v, %v; want ErrNotFound", seg, h, err)
		}
		return
	}
	if err != nil {
		f.t.Fatalf("GetHead(%s): %v", seg, err)
	}
	want := refcount.Head{Segment: seg, State: w.state, Size: size, Created: created}
	if w.state == refcount.Deleting {
		want.ClaimID = ids[w.claim]
		want.ClaimExpires = f.at(w.expires)
	}
	if !headEqual(h, want) {
		f.t.Fatalf("GetHead(%s) = %s\nwant %s", seg, fmtHead(h), fmtHead(want))
	}
}

func headEqual(a, b refcount.Head) bool {
	return a.Segment == b.Segment && a.State == b.State && a.Size == b.Size &&
		a.Created.Equal(b.Created) && a.ClaimID == b.ClaimID && a.ClaimExpires.Equal(b.ClaimExpires)
}

func fmtHead(h refcount.Head) string {
	s := fmt.Sprintf("{%s %s size=%d created=%s", h.Segment, h.State, h.Size, h.Created.Format(time.RFC3339Nano))
	if h.ClaimID != "" || !h.ClaimExpires.IsZero() {
		s += fmt.Sprintf(" claim=%s expires=%s", h.ClaimID, h.ClaimExpires.Format(time.RFC3339Nano))
	}
	return s + "}"
}

func testRefs(t *testing.T, newStore func(t *testing.T) refcount.Backend) {
	t.Run("AddListHas", func(t *testing.T) {
		f := setup(t, newStore)
		segs := f.names("seg", 3)
		o := f.name("owner")
		f.addRefs(o, segs, f.now)
		for _, s := range segs {
			f.wantHasRefs(s, true)
		}
		f.wantHasRefs(f.name("never-referenced"), false)
		want := map[refKey]time.Time{}
		for _, s := range segs {
			want[refKey{s, o}] = f.now
		}
		f.wantRefs(want)
	})

	t.Run("AddTwiceIsOneRef", func(t *testing.T) {
		f := setup(t, newStore)
		segs := f.names("seg", 3)
		o := f.name("owner")
		f.addRefs(o, segs, f.now)
		f.addRefs(o, segs, f.at(time.Minute))
		got := f.refs()
		if len(got) != len(segs) {
			t.Fatalf("ListRefs after adding twice: %d refs, want %d (one per segment and owner): %v", len(got), len(segs), got)
		}
		for _, s := range segs {
			c, ok := got[refKey{s, o}]
			if !ok {
				t.Fatalf("ListRefs: missing (%s, %s)", s, o)
			}
			// The interface keeps the first time; batched puts (DynamoDB) refresh it. Either
			// way there is exactly one reference.
			if !c.Equal(f.now) && !c.Equal(f.at(time.Minute)) {
				t.Fatalf("ListRefs: (%s, %s) created %v, want %v or %v", s, o, c, f.now, f.at(time.Minute))
			}
		}
		f.removeRefs(o, segs)
		for _, s := range segs {
			f.wantHasRefs(s, false) // one removal undoes any number of adds
		}
	})

	t.Run("DuplicateSegmentsInOneCall", func(t *testing.T) {
		f := setup(t, newStore)
		a, b := f.name("a"), f.name("b")
		o := f.name("owner")
		f.addRefs(o, []string{a, b, a, a}, f.now)
		f.wantRefs(map[refKey]time.Time{{a, o}: f.now, {b, o}: f.now})
		f.removeRefs(o, []string{a, a, b})
		f.wantRefs(map[refKey]time.Time{})
		if err := f.s.MarkCandidates(f.ctx, []string{a, a, b}, f.now); err != nil {
			t.Fatalf("MarkCandidates with duplicates: %v", err)
		}
		f.wantCandidates(map[string]time.Time{a: f.now, b: f.now})
	})

	t.Run("EmptyLists", func(t *testing.T) {
		f := setup(t, newStore)
		if err := f.s.AddRefs(f.ctx, f.name("o"), nil, f.now); err != nil {
			t.Fatalf("AddRefs(no segments): %v", err)
		}
		if err := f.s.RemoveRefs(f.ctx, f.name("o"), []string{}); err != nil {
			t.Fatalf("RemoveRefs(no segments): %v", err)
		}
		if err := f.s.MarkCandidates(f.ctx, nil, f.now); err != nil {
			t.Fatalf("MarkCandidates(no segments): %v", err)
		}
		f.wantRefs(map[refKey]time.Time{})
		f.wantCandidates(map[string]time.Time{})
	})

	t.Run("RemoveMissingIsNil", func(t *testing.T) {
		f := setup(t, newStore)
		seg, o, other := f.name("seg"), f.name("owner"), f.name("other")
		if err := f.s.RemoveRefs(f.ctx, o, []string{seg, f.name("nothing")}); err != nil {
			t.Fatalf("RemoveRefs of references that never existed: %v", err)
		}
		f.addRefs(other, []string{seg}, f.now)
		if err := f.s.RemoveRefs(f.ctx, o, []string{seg}); err != nil {
			t.Fatalf("RemoveRefs of another owner's segment: %v", err)
		}
		f.wantHasRefs(seg, true)
		f.removeRefs(other, []string{seg})
		if err := f.s.RemoveRefs(f.ctx, other, []string{seg}); err != nil {
			t.Fatalf("RemoveRefs repeated: %v", err)
		}
		f.wantHasRefs(seg, false)
	})

	t.Run("ManyOwners", func(t *testing.T) {
		// 40 owners spread over every shard a sharded backend may use; HasRefs stays true
		// until the last reference goes, and ListRefs always reports exactly the rest.
		f := setup(t, newStore)
		seg, other := f.name("seg"), f.name("other-seg")
		owners := f.names("owner", 40)
		want := map[refKey]time.Time{}
		for i, o := range owners {
			at := f.at(time.Duration(i) * time.Millisecond)
			f.addRefs(o, []string{seg}, at)
			want[refKey{seg, o}] = at
		}
		f.addRefs(owners[0], []string{other}, f.now)
		want[refKey{other, owners[0]}] = f.now
		f.wantRefs(want)
		for i, o := range owners {
			f.wantHasRefs(seg, true)
			f.removeRefs(o, []string{seg})
			delete(want, refKey{seg, o})
			if i%10 == 9 {
				f.wantRefs(want)
			}
		}
		f.wantHasRefs(seg, false)
		f.wantHasRefs(other, true)
		f.wantRefs(want)
	})

	t.Run("MoreThanBatchSize", func(t *testing.T) {
		f := setup(t, newStore)
		n := 2*refcount.BatchSize + 10
		segs := f.names("seg", n)
		o := f.name("owner")
		f.addRefs(o, segs, f.now)
		want := map[refKey]time.Time{}
		for _, s := range segs {
			want[refKey{s, o}] = f.now
		}
		f.wantRefs(want)
		for _, s := range segs {
			f.wantHasRefs(s, true)
		}
		f.removeRefs(o, segs)
		f.wantRefs(map[refKey]time.Time{})
		for _, s := range segs {
			f.wantHasRefs(s, false)
		}
	})

	t.Run("ListRefsStopsOnError", func(t *testing.T) {
		f := setup(t, newStore)
		f.addRefs(f.name("owner"), f.names("seg", 3), f.now)
		stop := errors.New("stop")
		calls := 0
		err := f.s.ListRefs(f.ctx, func(refcount.Ref) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("ListRefs with failing fn: err %v after %d calls; want the fn's error after 1 call", err, calls)
		}
	})
}

func testHeads(t *testing.T, newStore func(t *testing.T) refcount.Backend) {
	t.Run("GetMissing", func(t *testing.T) {
		f := setup(t, newStore)
		_, err := f.s.GetHead(f.ctx, f.name("missing"))
		wantErr(t, "GetHead(missing)", err, refcount.ErrNotFound)
	})

	t.Run("CreateGet", func(t *testing.T) {
		f := setup(t, newStore)
		seg := f.name("seg")
		f.createHead(seg, 12345, f.now)
		f.checkHead(seg, 12345, f.now, headWant{state: refcount.Live}, nil)
	})

	t.Run("CreateTwiceIsErrExists", func(t *testing.T) {
		f := setup(t, newStore)
		seg := f.name("seg")
		f.createHead(seg, 1, f.now)
		err := f.s.CreateHead(f.ctx, seg, 2, f.at(time.Minute))
		if err == nil {
			t.Fatal("PROBE: backend ignores ConditionExpression: a second CreateHead replaced an existing head")
		}
		wantErr(t, "second CreateHead", err, refcount.ErrExists)
		f.checkHead(seg, 1, f.now, headWant{state: refcount.Live}, nil)
		// Also when the head is deleting.
		f.claim(seg, f.name("gc"), f.at(time.Hour), f.now)
		wantErr(t, "CreateHead on a deleting head", f.s.CreateHead(f.ctx, seg, 3, f.now), refcount.ErrExists)
	})

	t.Run("MillisecondPrecision", func(t *testing.T) {
		f := setup(t, newStore)
		seg := f.name("seg")
		fine := f.now.Add(123456 * time.Nanosecond) // 0.123456 ms past a millisecond
		f.createHead(seg, 1, fine)
		h := f.head(seg)
		if d := h.Created.Sub(fine); d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("Created = %v, want %v within 1ms", h.Created, fine)
		}
	})

	t.Run("ListHeads", func(t *testing.T) {
		f := setup(t, newStore)
		live, del := f.name("live"), f.name("deleting")
		id := f.name("gc")
		f.createHead(live, 10, f.now)
		f.createHead(del, 20, f.at(time.Second))
		f.claim(del, id, f.at(time.Hour), f.at(2*time.Second))
		got := f.heads()
		want := map[string]refcount.Head{
			live: {Segment: live, State: refcount.Live, Size: 10, Created: f.now},
			del: {Segment: del, State: refcount.Deleting, Size: 20, Created: f.at(time.Second),
				ClaimID: id, ClaimExpires: f.at(time.Hour)},
		}
		if len(got) != len(want) {
			t.Fatalf("ListHeads: %d heads, want %d: %v", len(got), len(want), got)
		}
		for seg, w := range want {
			if !headEqual(got[seg], w) {
				t.Fatalf("ListHeads: %s\nwant %s", fmtHead(got[seg]), fmtHead(w))
			}
		}
		stop := errors.New("stop")
		calls := 0
		err := f.s.ListHeads(f.ctx, func(refcount.Head) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("ListHeads with failing fn: err %v after %d calls; want the fn's error after 1 call", err, calls)
		}
	})
}

// Head set-ups for the transition tables. A is the first collector's claim id, B a second one.
type headSetup int

const (
	hMissing   headSetup = iota // no head
	hLive                       // created, never claimed
	hHeldA                      // deleting, held by A until now+1h
	hBoundaryA                  // deleting, held by A until exactly now
	hExpiredA                   // deleting, held by A until now-1s
	hReleasedA                  // claimed by A, then released: live
	hRevivedA                   // claimed by A, expired, revived by A: live
	hTakenB                     // A expired, B took over until now+1h
)

// String names the set-up in failure messages.
func (h headSetup) String() string {
	return [...]string{"missing", "live", "heldA", "boundaryA", "expiredA", "releasedA", "revivedA", "takenB"}[h]
}

const (
	setupSize    = 4242
	setupCreated = -2 * time.Hour
)

func (f *fixture) setupHead(seg string, h headSetup, ids map[string]string) {
	f.t.Helper()
	if h == hMissing {
		return
	}
	f.createHead(seg, setupSize, f.at(setupCreated))
	past := f.at(-time.Hour)
	switch h {
	case hHeldA:
		f.claim(seg, ids["A"], f.at(time.Hour), past)
	case hBoundaryA:
		f.claim(seg, ids["A"], f.now, past)
	case hExpiredA:
		f.claim(seg, ids["A"], f.at(-time.Second), past)
	case hReleasedA:
		f.claim(seg, ids["A"], f.at(time.Hour), past)
		if err := f.s.Release(f.ctx, seg, ids["A"]); err != nil {
			f.t.Fatalf("setup Release: %v", err)
		}
	case hRevivedA:
		f.claim(seg, ids["A"], f.at(-time.Second), past)
		if err := f.s.Revive(f.ctx, seg, ids["A"], f.now); err != nil {
			f.t.Fatalf("setup Revive: %v", err)
		}
	case hTakenB:
		f.claim(seg, ids["A"], f.at(-time.Second), past)
		f.claim(seg, ids["B"], f.at(time.Hour), f.now)
	}
}

// transition is one row of a head-transition table: set a head up, apply op as id, check the
// error and the head. When the op succeeds it is applied again (a retry of a call that already
// took effect) and must succeed again with the same result.
type transition struct {
	name  string
	setup headSetup
	id    string // "A" or "B"
	err   error  // nil or a sentinel
	probe string // when set, success instead of err means the backend ignores conditions
	after headWant
}

type opFunc func(f *fixture, seg, id string) error

type transitionTable struct {
	op    opFunc
	cases []transition
}

var (
	live    = headWant{state: refcount.Live}
	absent  = headWant{absent: true}
	heldA   = headWant{state: refcount.Deleting, claim: "A", expires: time.Hour}
	heldB   = headWant{state: refcount.Deleting, claim: "B", expires: time.Hour}
	expired = headWant{state: refcount.Deleting, claim: "A", expires: -time.Second}
)

func testTransitions(t *testing.T, newStore func(t *testing.T) refcount.Backend, tab transitionTable) {
	for _, tc := range tab.cases {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, newStore)
			seg := f.name("seg")
			ids := map[string]string{"A": f.name("claim-A"), "B": f.name("claim-B")}
			f.setupHead(seg, tc.setup, ids)
			for attempt := 1; attempt <= 2; attempt++ {
				err := tab.op(f, seg, ids[tc.id])
				if tc.probe != "" && tc.err != nil && err == nil {
					t.Fatalf("PROBE: backend ignores ConditionExpression: %s", tc.probe)
				}
				what := fmt.Sprintf("%s (setup %s, as %s, attempt %d)", tc.name, tc.setup, tc.id, attempt)
				wantErr(t, what, err, tc.err)
				f.checkHead(seg, setupSize, f.at(setupCreated), tc.after, ids)
				if tc.err != nil {
					break
				}
			}
		})
	}
}

// claimExpiry is the expiry every Claim in the claim table asks for.
const claimExpiry = 2 * time.Hour

func claimCases() transitionTable {
	op := func(f *fixture, seg, id string) error {
		return f.s.Claim(f.ctx, seg, id, f.at(claimExpiry), f.now)
	}
	byA := headWant{state: refcount.Deleting, claim: "A", expires: claimExpiry}
	byB := headWant{state: refcount.Deleting, claim: "B", expires: claimExpiry}
	return transitionTable{op: op, cases: []transition{
		{name: "Missing", setup: hMissing, id: "A", err: refcount.ErrNotFound, after: absent},
		{name: "Live", setup: hLive, id: "A", after: byA},
		{name: "HeldByOtherUnexpired", setup: hHeldA, id: "B", err: refcount.ErrConflict, after: heldA,
			probe: "a second Claim by another id succeeded while the first claim was unexpired"},
		{name: "HeldByOtherExpiresExactlyNow", setup: hBoundaryA, id: "B", err: refcount.ErrConflict,
			after: headWant{state: refcount.Deleting, claim: "A", expires: 0},
			probe: "a Claim succeeded on a claim expiring exactly now (not before now)"},
		{name: "HeldBySelfRetry", setup: hHeldA, id: "A", after: byA},
		{name: "TakeoverOfExpired", setup: hExpiredA, id: "B", after: byB},
		{name: "OwnExpired", setup: hExpiredA, id: "A", after: byA},
		{name: "AfterRelease", setup: hReleasedA, id: "B", after: byB},
		{name: "AfterRevive", setup: hRevivedA, id: "B", after: byB},
		{name: "FirstHolderAfterTakeover", setup: hTakenB, id: "A", err: refcount.ErrConflict, after: heldB,
			probe: "a Claim succeeded on a head held by another unexpired claim"},
	}}
}

func releaseCases() transitionTable {
	op := func(f *fixture, seg, id string) error { return f.s.Release(f.ctx, seg, id) }
	return transitionTable{op: op, cases: []transition{
		{name: "Missing", setup: hMissing, id: "A", err: refcount.ErrConflict, after: absent},
		{name: "LiveNeverClaimed", setup: hLive, id: "A", err: refcount.ErrConflict, after: live,
			probe: "Release succeeded on a head nobody claimed"},
		{name: "WrongID", setup: hHeldA, id: "B", err: refcount.ErrConflict, after: heldA,
			probe: "Release by another claim id succeeded"},
		{name: "RightID", setup: hHeldA, id: "A", after: live},
		{name: "RightIDAfterExpiry", setup: hExpiredA, id: "A", after: live},
		{name: "AlreadyReleasedRetry", setup: hReleasedA, id: "A", after: live},
		{name: "ReleasedOtherID", setup: hReleasedA, id: "B", err: refcount.ErrConflict, after: live},
		{name: "FirstHolderAfterTakeover", setup: hTakenB, id: "A", err: refcount.ErrConflict, after: heldB,
			probe: "Release by a claim id that lost the head succeeded"},
		{name: "NewHolder", setup: hTakenB, id: "B", after: live},
	}}
}

func reviveCases() transitionTable {
	op := func(f *fixture, seg, id string) error { return f.s.Revive(f.ctx, seg, id, f.now) }
	return transitionTable{op: op, cases: []transition{
		{name: "Missing", setup: hMissing, id: "A", err: refcount.ErrConflict, after: absent},
		{name: "LiveNeverClaimed", setup: hLive, id: "A", err: refcount.ErrConflict, after: live},
		{name: "Unexpired", setup: hHeldA, id: "A", err: refcount.ErrConflict, after: heldA,
			probe: "Revive succeeded under an unexpired claim"},
		{name: "ExpiresExactlyNow", setup: hBoundaryA, id: "A", err: refcount.ErrConflict,
			after: headWant{state: refcount.Deleting, claim: "A", expires: 0},
			probe: "Revive succeeded on a claim expiring exactly now (not before now)"},
		{name: "ExpiredWrongID", setup: hExpiredA, id: "B", err: refcount.ErrConflict, after: expired,
			probe: "Revive by another claim id succeeded"},
		{name: "ExpiredRightID", setup: hExpiredA, id: "A", after: live},
		{name: "AlreadyRevivedRetry", setup: hRevivedA, id: "A", after: live},
		// The head is live and A held it last: Revive has nothing to do and reports success,
		// which is what makes a lost-response retry of Revive safe.
		{name: "ReleasedBySameID", setup: hReleasedA, id: "A", after: live},
		{name: "FirstHolderAfterTakeover", setup: hTakenB, id: "A", err: refcount.ErrConflict, after: heldB,
			probe: "Revive by a claim id that lost the head succeeded"},
	}}
}

func deleteCases() transitionTable {
	op := func(f *fixture, seg, id string) error { return f.s.DeleteHead(f.ctx, seg, id) }
	return transitionTable{op: op, cases: []transition{
		{name: "Missing", setup: hMissing, id: "A", after: absent},
		{name: "Live", setup: hLive, id: "A", err: refcount.ErrConflict, after: live,
			probe: "DeleteHead deleted a live head"},
		{name: "WrongID", setup: hHeldA, id: "B", err: refcount.ErrConflict, after: heldA,
			probe: "DeleteHead by another claim id deleted the head"},
		{name: "RightID", setup: hHeldA, id: "A", after: absent},
		{name: "RightIDAfterExpiry", setup: hExpiredA, id: "A", after: absent},
		{name: "LiveReleasedBySameID", setup: hReleasedA, id: "A", err: refcount.ErrConflict, after: live,
			probe: "DeleteHead deleted a live head its last claimant released"},
		{name: "LiveRevivedBySameID", setup: hRevivedA, id: "A", err: refcount.ErrConflict, after: live,
			probe: "DeleteHead deleted a revived head"},
		{name: "FirstHolderAfterTakeover", setup: hTakenB, id: "A", err: refcount.ErrConflict, after: heldB,
			probe: "DeleteHead by a claim id that lost the head succeeded"},
		{name: "NewHolder", setup: hTakenB, id: "B", after: absent},
	}}
}

func testCandidates(t *testing.T, newStore func(t *testing.T) refcount.Backend) {
	t.Run("MarkListRemove", func(t *testing.T) {
		f := setup(t, newStore)
		a, b, c := f.name("a"), f.name("b"), f.name("c")
		t1, t2 := f.now, f.at(time.Minute)
		if err := f.s.MarkCandidates(f.ctx, []string{a, b, c}, t1); err != nil {
			t.Fatalf("MarkCandidates: %v", err)
		}
		f.wantCandidates(map[string]time.Time{a: t1, b: t1, c: t1})

		// Marking again moves the time forward.
		if err := f.s.MarkCandidates(f.ctx, []string{a}, t2); err != nil {
			t.Fatalf("MarkCandidates again: %v", err)
		}
		f.wantCandidates(map[string]time.Time{a: t2, b: t1, c: t1})

		// A mark newer than since survives (and that is not an error).
		if err := f.s.RemoveCandidate(f.ctx, a, t1); err != nil {
			t.Fatalf("RemoveCandidate(a, before its mark): %v", err)
		}
		f.wantCandidates(map[string]time.Time{a: t2, b: t1, c: t1})
		// Exactly since: removed.
		if err := f.s.RemoveCandidate(f.ctx, a, t2); err != nil {
			t.Fatalf("RemoveCandidate(a, at its mark): %v", err)
		}
		// Older than since: removed.
		if err := f.s.RemoveCandidate(f.ctx, b, t1.Add(time.Millisecond)); err != nil {
			t.Fatalf("RemoveCandidate(b, after its mark): %v", err)
		}
		f.wantCandidates(map[string]time.Time{c: t1})
		// Missing marks, and removing twice.
		for _, seg := range []string{a, f.name("never-marked")} {
			if err := f.s.RemoveCandidate(f.ctx, seg, t2); err != nil {
				t.Fatalf("RemoveCandidate(%s, missing): %v", seg, err)
			}
		}
		f.wantCandidates(map[string]time.Time{c: t1})
	})

	t.Run("MoreThanBatchSize", func(t *testing.T) {
		f := setup(t, newStore)
		segs := f.names("seg", 2*refcount.BatchSize+10)
		if err := f.s.MarkCandidates(f.ctx, segs, f.now); err != nil {
			t.Fatalf("MarkCandidates: %v", err)
		}
		want := map[string]time.Time{}
		for _, s := range segs {
			want[s] = f.now
		}
		f.wantCandidates(want)
		for _, s := range segs[:refcount.BatchSize+1] {
			if err := f.s.RemoveCandidate(f.ctx, s, f.now); err != nil {
				t.Fatalf("RemoveCandidate: %v", err)
			}
			delete(want, s)
		}
		f.wantCandidates(want)
	})

	t.Run("ListCandidatesStopsOnError", func(t *testing.T) {
		f := setup(t, newStore)
		if err := f.s.MarkCandidates(f.ctx, f.names("seg", 3), f.now); err != nil {
			t.Fatalf("MarkCandidates: %v", err)
		}
		stop := errors.New("stop")
		calls := 0
		err := f.s.ListCandidates(f.ctx, func(refcount.Candidate) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("ListCandidates with failing fn: err %v after %d calls; want the fn's error after 1 call", err, calls)
		}
	})
}

const racers = 16

// race runs fn(i) for i in [0, racers) at once and returns the errors by index.
func race(fn func(i int) error) []error { return raceN(racers, fn) }

// raceN runs fn(i) for i in [0, n) at once and returns the errors by index.
func raceN(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and all others are loser, and returns the
// winner's index.
func oneWinner(t *testing.T, what string, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("PROBE: backend ignores ConditionExpression: %s: both racer %d and racer %d won", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Fatalf("%s: racer %d: got %v, want nil or %v", what, i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: nobody won", what)
	}
	return winner
}

func testConcurrency(t *testing.T, newStore func(t *testing.T) refcount.Backend) {
	t.Run("ClaimExactlyOneWins", func(t *testing.T) {
		f := setup(t, newStore)
		seg := f.name("seg")
		f.createHead(seg, 1, f.now)
		errs := race(func(i int) error {
			return f.s.Claim(f.ctx, seg, f.name("claim", i), f.at(time.Hour), f.now)
		})
		w := oneWinner(t, fmt.Sprintf("%d concurrent Claims", racers), errs, refcount.ErrConflict)
		if h := f.head(seg); h.State != refcount.Deleting || h.ClaimID != f.name("claim", w) {
			t.Fatalf("after the race the head is %s, want deleting held by the winner %s", fmtHead(h), f.name("claim", w))
		}
	})

	t.Run("CreateHeadExactlyOneWins", func(t *testing.T) {
		f := setup(t, newStore)
		seg := f.name("seg")
		errs := race(func(i int) error {
			return f.s.CreateHead(f.ctx, seg, int64(1000+i), f.now)
		})
		w := oneWinner(t, fmt.Sprintf("%d concurrent CreateHeads", racers), errs, refcount.ErrExists)
		if h := f.head(seg); h.State != refcount.Live || h.Size != int64(1000+w) {
			t.Fatalf("after the race the head is %s, want live with the winner's size %d", fmtHead(h), 1000+w)
		}
	})

	t.Run("ConcurrentAddRefs", func(t *testing.T) {
		f := setup(t, newStore)
		segs := f.names("seg", 5)
		errs := race(func(i int) error {
			return f.s.AddRefs(f.ctx, f.name("owner", i), segs, f.now)
		})
		want := map[refKey]time.Time{}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("AddRefs racer %d: %v", i, err)
			}
			for _, s := range segs {
				want[refKey{s, f.name("owner", i)}] = f.now
			}
		}
		f.wantRefs(want)
	})
}

// testLifecycle walks the writer and collector protocol of package refcount end to end.
func testLifecycle(t *testing.T, newStore func(t *testing.T) refcount.Backend) {
	f := setup(t, newStore)
	seg, o1, o2 := f.name("seg"), f.name("conv-1"), f.name("conv-2")
	gc1, gc2 := f.name("gc-1"), f.name("gc-2")
	lease := 15 * time.Minute

	// Writer: reference first, then the head.
	f.addRefs(o1, []string{seg}, f.now)
	if _, err := f.s.GetHead(f.ctx, seg); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("GetHead before creation: %v, want ErrNotFound", err)
	}
	f.createHead(seg, 100, f.now)

	// Delete conversation 1: drop the reference, mark the segment.
	f.removeRefs(o1, []string{seg})
	if err := f.s.MarkCandidates(f.ctx, []string{seg}, f.at(time.Second)); err != nil {
		t.Fatal(err)
	}

	// A writer stores conversation 2 while collector 1 claims.
	f.addRefs(o2, []string{seg}, f.at(2*time.Second))
	f.claim(seg, gc1, f.at(2*time.Second+lease), f.at(2*time.Second))
	if !f.hasRefs(seg) {
		t.Fatal("HasRefs after the writer's AddRefs = false")
	}
	if err := f.s.Release(f.ctx, seg, gc1); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if h := f.head(seg); h.State != refcount.Live {
		t.Fatalf("head after Release: %s", fmtHead(h))
	}

	// Conversation 2 is deleted; collector 2 claims, finds no reference, deletes.
	f.removeRefs(o2, []string{seg})
	since := f.at(3 * time.Second)
	if err := f.s.MarkCandidates(f.ctx, []string{seg}, since); err != nil {
		t.Fatal(err)
	}
	f.claim(seg, gc2, f.at(4*time.Second+lease), f.at(4*time.Second))
	if f.hasRefs(seg) {
		t.Fatal("HasRefs with no references = true")
	}
	if err := f.s.DeleteHead(f.ctx, seg, gc2); err != nil {
		t.Fatalf("DeleteHead: %v", err)
	}
	if err := f.s.RemoveCandidate(f.ctx, seg, since); err != nil {
		t.Fatalf("RemoveCandidate: %v", err)
	}
	if _, err := f.s.GetHead(f.ctx, seg); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("GetHead after DeleteHead: %v, want ErrNotFound", err)
	}
	f.wantCandidates(map[string]time.Time{})
	f.wantRefs(map[refKey]time.Time{})
	if got := f.heads(); len(got) != 0 {
		t.Fatalf("ListHeads after deletion: %v", got)
	}
}

func testCanceled(t *testing.T, newStore func(t *testing.T) refcount.Backend) {
	f := setup(t, newStore)
	seg, o, id := f.name("seg"), f.name("owner"), f.name("gc")
	f.createHead(seg, 1, f.now)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	nop := func(any) error { return nil }
	calls := map[string]func() error{
		"AddRefs":    func() error { return f.s.AddRefs(ctx, o, []string{seg}, f.now) },
		"RemoveRefs": func() error { return f.s.RemoveRefs(ctx, o, []string{seg}) },
		"HasRefs":    func() error { _, err := f.s.HasRefs(ctx, seg); return err },
		"ListRefs":   func() error { return f.s.ListRefs(ctx, func(r refcount.Ref) error { return nop(r) }) },
		"GetHead":    func() error { _, err := f.s.GetHead(ctx, seg); return err },
		"CreateHead": func() error { return f.s.CreateHead(ctx, f.name("other"), 1, f.now) },
		"Claim":      func() error { return f.s.Claim(ctx, seg, id, f.at(time.Hour), f.now) },
		"Release":    func() error { return f.s.Release(ctx, seg, id) },
		"Revive":     func() error { return f.s.Revive(ctx, seg, id, f.now) },
		"DeleteHead": func() error { return f.s.DeleteHead(ctx, seg, id) },
		"ListHeads":  func() error { return f.s.ListHeads(ctx, func(h refcount.Head) error { return nop(h) }) },
		"MarkCandidates": func() error {
			return f.s.MarkCandidates(ctx, []string{seg}, f.now)
		},
		"ListCandidates": func() error {
			return f.s.ListCandidates(ctx, func(c refcount.Candidate) error { return nop(c) })
		},
		"RemoveCandidate": func() error { return f.s.RemoveCandidate(ctx, seg, f.now) },
		"CreatePointer":   func() error { return f.s.CreatePointer(ctx, f.name("conv"), f.pointer(1)) },
		"GetPointer":      func() error { _, err := f.s.GetPointer(ctx, f.name("conv")); return err },
		"MovePointer": func() error {
			return f.s.MovePointer(ctx, f.name("conv"), f.pointer(1), f.pointer(2))
		},
		"DeletePointer": func() error { return f.s.DeletePointer(ctx, f.name("conv"), f.pointer(1)) },
		"ListPointers": func() error {
			return f.s.ListPointers(ctx, func(id string, p refcount.Pointer) error { return nop(p) })
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v, want an error wrapping context.Canceled", name, err)
		}
	}
	// Nothing changed.
	f.checkHead(seg, 1, f.now, live, nil)
	f.wantRefs(map[refKey]time.Time{})
	if _, err := f.s.GetHead(f.ctx, f.name("other")); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("CreateHead with a canceled context created the head: %v", err)
	}
	f.wantPointers(map[string]refcount.Pointer{})
}

func testInvalidNames(t *testing.T, newStore func(t *testing.T) refcount.Backend) {
	f := setup(t, newStore)
	seg := f.name("seg")
	sentinels := []error{refcount.ErrNotFound, refcount.ErrExists, refcount.ErrConflict}
	calls := map[string]func() error{
		"AddRefs(empty owner)":    func() error { return f.s.AddRefs(f.ctx, "", []string{seg}, f.now) },
		"AddRefs(empty segment)":  func() error { return f.s.AddRefs(f.ctx, f.name("o"), []string{seg, ""}, f.now) },
		"RemoveRefs(empty owner)": func() error { return f.s.RemoveRefs(f.ctx, "", []string{seg}) },
		"HasRefs(empty)":          func() error { _, err := f.s.HasRefs(f.ctx, ""); return err },
		"GetHead(empty)":          func() error { _, err := f.s.GetHead(f.ctx, ""); return err },
		"CreateHead(empty)":       func() error { return f.s.CreateHead(f.ctx, "", 1, f.now) },
		"Claim(empty claim id)":   func() error { return f.s.Claim(f.ctx, seg, "", f.at(time.Hour), f.now) },
		"Release(empty claim id)": func() error { return f.s.Release(f.ctx, seg, "") },
		"DeleteHead(empty)":       func() error { return f.s.DeleteHead(f.ctx, "", f.name("gc")) },
		"MarkCandidates(empty)":   func() error { return f.s.MarkCandidates(f.ctx, []string{""}, f.now) },
		"RemoveCandidate(empty)":  func() error { return f.s.RemoveCandidate(f.ctx, "", f.now) },
		"Revive(empty claim id)":  func() error { return f.s.Revive(f.ctx, seg, "", f.now) },
		"CreateHead(NUL in name)": func() error { return f.s.CreateHead(f.ctx, seg+"\x00x", 1, f.now) },
		"AddRefs(NUL in segment)": func() error { return f.s.AddRefs(f.ctx, f.name("o"), []string{seg + "\x00x"}, f.now) },
		"RemoveRefs(NUL segment)": func() error { return f.s.RemoveRefs(f.ctx, f.name("o"), []string{seg + "\x00"}) },
		"HasRefs(NUL in segment)": func() error { _, err := f.s.HasRefs(f.ctx, seg+"\x00"); return err },
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				t.Errorf("%s: %v; an invalid name must not look like %v", name, err, s)
			}
		}
	}
	f.wantRefs(map[refKey]time.Time{})
	f.wantCandidates(map[string]time.Time{})
}

// pointer returns the fixture's i-th pointer: a batch id and a 12-hex-digit nonce, as the vault
// writes them.
func (f *fixture) pointer(i int) refcount.Pointer {
	return refcount.Pointer{
		Batch: fmt.Sprintf("b-%s%08x", f.p[len(f.p)-16:], i),
		Nonce: fmt.Sprintf("%s%04x", f.p[len(f.p)-8:], i),
	}
}

func (f *fixture) createPointer(id string, p refcount.Pointer) {
	f.t.Helper()
	if err := f.s.CreatePointer(f.ctx, id, p); err != nil {
		f.t.Fatalf("CreatePointer(%q): %v", id, err)
	}
}

// wantPointer checks id's pointer with GetPointer: want, or ErrNotFound when want is nil.
func (f *fixture) wantPointer(id string, want *refcount.Pointer) {
	f.t.Helper()
	p, err := f.s.GetPointer(f.ctx, id)
	if want == nil {
		if !errors.Is(err, refcount.ErrNotFound) {
			f.t.Fatalf("GetPointer(%q) = %+v, %v; want ErrNotFound", id, p, err)
		}
		return
	}
	if err != nil {
		f.t.Fatalf("GetPointer(%q): %v", id, err)
	}
	if p != *want {
		f.t.Fatalf("GetPointer(%q) = %+v, want %+v", id, p, *want)
	}
}

// pointers lists this fixture's pointers.
func (f *fixture) pointers() map[string]refcount.Pointer {
	f.t.Helper()
	got := map[string]refcount.Pointer{}
	err := f.s.ListPointers(f.ctx, func(id string, p refcount.Pointer) error {
		if !strings.HasPrefix(id, f.p) {
			return nil
		}
		if _, dup := got[id]; dup {
			return fmt.Errorf("ListPointers reported %q twice", id)
		}
		got[id] = p
		return nil
	})
	if err != nil {
		f.t.Fatalf("ListPointers: %v", err)
	}
	return got
}

// wantPointers checks that ListPointers reports exactly want.
func (f *fixture) wantPointers(want map[string]refcount.Pointer) {
	f.t.Helper()
	got := f.pointers()
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			f.t.Errorf("ListPointers: missing %q", id)
		} else if g != w {
			f.t.Errorf("ListPointers: %q is %+v, want %+v", id, g, w)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			f.t.Errorf("ListPointers: unexpected %q", id)
		}
	}
	if f.t.Failed() {
		f.t.FailNow()
	}
}

// pointerRacers is how many goroutines create one id's pointer at once.
const pointerRacers = 8

func testPointers(t *testing.T, newStore func(t *testing.T) refcount.Backend) {
	t.Run("CreateGet", func(t *testing.T) {
		f := setup(t, newStore)
		id, p := f.name("conv"), f.pointer(1)
		f.wantPointer(id, nil)
		f.createPointer(id, p)
		f.wantPointer(id, &p)
	})

	t.Run("GetMissing", func(t *testing.T) {
		f := setup(t, newStore)
		_, err := f.s.GetPointer(f.ctx, f.name("missing"))
		wantErr(t, "GetPointer(missing)", err, refcount.ErrNotFound)
	})

	t.Run("CreateTwiceIsErrExists", func(t *testing.T) {
		f := setup(t, newStore)
		id, first := f.name("conv"), f.pointer(1)
		f.createPointer(id, first)
		err := f.s.CreatePointer(f.ctx, id, f.pointer(2))
		if err == nil {
			t.Fatal("PROBE: backend ignores ConditionExpression: a second CreatePointer replaced an existing pointer")
		}
		wantErr(t, "second CreatePointer", err, refcount.ErrExists)
		f.wantPointer(id, &first)
		// The same pointer again is no exception: id has a pointer.
		wantErr(t, "CreatePointer of the same pointer again", f.s.CreatePointer(f.ctx, id, first), refcount.ErrExists)
		f.wantPointer(id, &first)
	})

	t.Run("DeleteWrongPointer", func(t *testing.T) {
		f := setup(t, newStore)
		id, p := f.name("conv"), f.pointer(1)
		f.createPointer(id, p)
		err := f.s.DeletePointer(f.ctx, id, refcount.Pointer{Batch: p.Batch, Nonce: f.pointer(2).Nonce})
		if err == nil {
			t.Fatal("PROBE: backend ignores ConditionExpression: DeletePointer with another nonce succeeded")
		}
		wantErr(t, "DeletePointer with another nonce", err, refcount.ErrConflict)
		f.wantPointer(id, &p)
		wantErr(t, "DeletePointer with another batch", f.s.DeletePointer(f.ctx, id, refcount.Pointer{Batch: f.pointer(2).Batch, Nonce: p.Nonce}), refcount.ErrConflict)
		f.wantPointer(id, &p)
		// A nonce is compared whole: a prefix of the right one is another nonce.
		wantErr(t, "DeletePointer with a prefix of the nonce", f.s.DeletePointer(f.ctx, id, refcount.Pointer{Batch: p.Batch, Nonce: p.Nonce[:len(p.Nonce)-1]}), refcount.ErrConflict)
		f.wantPointer(id, &p)
	})

	t.Run("Move", func(t *testing.T) {
		f := setup(t, newStore)
		id, other, p, q := f.name("conv"), f.name("other"), f.pointer(1), f.pointer(2)
		f.createPointer(id, p)
		f.createPointer(other, p) // same batch and nonce, another id: untouched
		if err := f.s.MovePointer(f.ctx, id, p, q); err != nil {
			t.Fatalf("MovePointer: %v", err)
		}
		f.wantPointer(id, &q)
		f.wantPointer(other, &p)
		// Moving again from the old pointer finds the new one: a move is not repeated.
		wantErr(t, "MovePointer from the old pointer", f.s.MovePointer(f.ctx, id, p, f.pointer(3)), refcount.ErrConflict)
		f.wantPointer(id, &q)
		wantErr(t, "DeletePointer of the old pointer", f.s.DeletePointer(f.ctx, id, p), refcount.ErrConflict)
		if err := f.s.DeletePointer(f.ctx, id, q); err != nil {
			t.Fatalf("DeletePointer of the moved pointer: %v", err)
		}
		f.wantPointer(id, nil)
	})

	t.Run("MoveWrongPointer", func(t *testing.T) {
		f := setup(t, newStore)
		id, p, q := f.name("conv"), f.pointer(1), f.pointer(2)
		f.createPointer(id, p)
		err := f.s.MovePointer(f.ctx, id, refcount.Pointer{Batch: p.Batch, Nonce: q.Nonce}, q)
		if err == nil {
			t.Fatal("PROBE: backend ignores ConditionExpression: MovePointer from another nonce succeeded")
		}
		wantErr(t, "MovePointer from another nonce", err, refcount.ErrConflict)
		wantErr(t, "MovePointer from another batch", f.s.MovePointer(f.ctx, id, refcount.Pointer{Batch: q.Batch, Nonce: p.Nonce}, q), refcount.ErrConflict)
		f.wantPointer(id, &p)
		// A pointer that is not there is not created.
		missing := f.name("missing")
		wantErr(t, "MovePointer of a missing pointer", f.s.MovePointer(f.ctx, missing, p, q), refcount.ErrConflict)
		f.wantPointer(missing, nil)
	})

	t.Run("DeleteRightNonce", func(t *testing.T) {
		f := setup(t, newStore)
		id, other, p := f.name("conv"), f.name("other"), f.pointer(1)
		f.createPointer(id, p)
		f.createPointer(other, p) // same batch and nonce, another id: untouched
		if err := f.s.DeletePointer(f.ctx, id, p); err != nil {
			t.Fatalf("DeletePointer: %v", err)
		}
		f.wantPointer(id, nil)
		f.wantPointer(other, &p)
		// Deleting again, with any pointer, finds nothing to delete: a retried delete succeeds.
		for _, q := range []refcount.Pointer{p, f.pointer(2)} {
			if err := f.s.DeletePointer(f.ctx, id, q); err != nil {
				t.Fatalf("DeletePointer(%+v) of a deleted pointer: %v", q, err)
			}
		}
		if err := f.s.DeletePointer(f.ctx, f.name("never"), p); err != nil {
			t.Fatalf("DeletePointer of a pointer that never existed: %v", err)
		}
		f.wantPointers(map[string]refcount.Pointer{other: p})
	})

	t.Run("CreateAfterDelete", func(t *testing.T) {
		f := setup(t, newStore)
		id, first, second := f.name("conv"), f.pointer(1), f.pointer(2)
		f.createPointer(id, first)
		if err := f.s.DeletePointer(f.ctx, id, first); err != nil {
			t.Fatalf("DeletePointer: %v", err)
		}
		f.createPointer(id, second)
		f.wantPointer(id, &second)
		wantErr(t, "DeletePointer of the old pointer", f.s.DeletePointer(f.ctx, id, first), refcount.ErrConflict)
		f.wantPointer(id, &second)
	})

	t.Run("List", func(t *testing.T) {
		f := setup(t, newStore)
		want := map[string]refcount.Pointer{}
		for i, id := range f.names("conv", 7) {
			want[id] = f.pointer(i)
			f.createPointer(id, want[id])
		}
		gone := f.name("conv", 3)
		if err := f.s.DeletePointer(f.ctx, gone, want[gone]); err != nil {
			t.Fatalf("DeletePointer: %v", err)
		}
		delete(want, gone)
		f.wantPointers(want)
		stop := errors.New("stop")
		calls := 0
		err := f.s.ListPointers(f.ctx, func(string, refcount.Pointer) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("ListPointers with failing fn: err %v after %d calls; want the fn's error after 1 call", err, calls)
		}
	})

	t.Run("UnusualIDs", func(t *testing.T) {
		f := setup(t, newStore)
		ids := []string{
			f.p + "-é-日本語-🙂",
			f.p + "#p",
			f.p + "#a#b#",
			f.p + "/a/b/../c",
			f.p + "/",
			f.p + " with spaces, %20 and \\",
			f.p + "-" + strings.Repeat("x", 300-len(f.p)-1), // 300 bytes
			f.p,             // a prefix of every other id
			f.p + "-conv-1", // and its extension
		}
		if n := len(ids[6]); n != 300 {
			t.Fatalf("the long id has %d bytes", n)
		}
		want := map[string]refcount.Pointer{}
		for i, id := range ids {
			want[id] = f.pointer(i)
			f.createPointer(id, want[id])
		}
		for id, p := range want {
			f.wantPointer(id, &p)
		}
		f.wantPointers(want)
		for i, id := range ids {
			if i%2 == 0 {
				if err := f.s.DeletePointer(f.ctx, id, want[id]); err != nil {
					t.Fatalf("DeletePointer(%q): %v", id, err)
				}
				delete(want, id)
			}
		}
		for _, id := range ids {
			if p, ok := want[id]; ok {
				f.wantPointer(id, &p)
			} else {
				f.wantPointer(id, nil)
			}
		}
		f.wantPointers(want)
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		f := setup(t, newStore)
		id, p := f.name("conv"), f.pointer(1)
		f.createPointer(id, p)
		other := f.name("other")
		sentinels := []error{refcount.ErrNotFound, refcount.ErrExists, refcount.ErrConflict}
		calls := map[string]func() error{
			"CreatePointer(empty id)": func() error { return f.s.CreatePointer(f.ctx, "", p) },
			"CreatePointer(empty batch)": func() error {
				return f.s.CreatePointer(f.ctx, other, refcount.Pointer{Nonce: p.Nonce})
			},
			"CreatePointer(empty nonce)": func() error {
				return f.s.CreatePointer(f.ctx, other, refcount.Pointer{Batch: p.Batch})
			},
			"CreatePointer(NUL in id)":            func() error { return f.s.CreatePointer(f.ctx, other+"\x00x", p) },
			"CreatePointer(existing, no nonce)":   func() error { return f.s.CreatePointer(f.ctx, id, refcount.Pointer{Batch: p.Batch}) },
			"GetPointer(empty id)":                func() error { _, err := f.s.GetPointer(f.ctx, ""); return err },
			"GetPointer(NUL in id)":               func() error { _, err := f.s.GetPointer(f.ctx, id+"\x00"); return err },
			"MovePointer(empty id)":               func() error { return f.s.MovePointer(f.ctx, "", p, f.pointer(2)) },
			"MovePointer(empty from nonce)":       func() error { return f.s.MovePointer(f.ctx, id, refcount.Pointer{Batch: p.Batch}, f.pointer(2)) },
			"MovePointer(empty to batch)":         func() error { return f.s.MovePointer(f.ctx, id, p, refcount.Pointer{Nonce: p.Nonce}) },
			"MovePointer(missing, empty nonce)":   func() error { return f.s.MovePointer(f.ctx, other, p, refcount.Pointer{Batch: p.Batch}) },
			"DeletePointer(empty id)":             func() error { return f.s.DeletePointer(f.ctx, "", p) },
			"DeletePointer(empty nonce)":          func() error { return f.s.DeletePointer(f.ctx, id, refcount.Pointer{Batch: p.Batch}) },
			"DeletePointer(empty batch)":          func() error { return f.s.DeletePointer(f.ctx, id, refcount.Pointer{Nonce: p.Nonce}) },
			"DeletePointer(NUL in id)":            func() error { return f.s.DeletePointer(f.ctx, id+"\x00", p) },
			"DeletePointer(missing, empty nonce)": func() error { return f.s.DeletePointer(f.ctx, other, refcount.Pointer{Batch: p.Batch}) },
		}
		for name, call := range calls {
			err := call()
			if err == nil {
				t.Errorf("%s: no error", name)
				continue
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					t.Errorf("%s: %v; an invalid argument must not look like %v", name, err, s)
				}
			}
		}
		f.wantPointer(id, &p)
		f.wantPointers(map[string]refcount.Pointer{id: p})
	})

	t.Run("CreateExactlyOneWins", func(t *testing.T) {
		f := setup(t, newStore)
		id := f.name("conv")
		errs := raceN(pointerRacers, func(i int) error { return f.s.CreatePointer(f.ctx, id, f.pointer(i)) })
		w := oneWinner(t, fmt.Sprintf("%d concurrent CreatePointers", pointerRacers), errs, refcount.ErrExists)
		want := f.pointer(w)
		f.wantPointer(id, &want)
		f.wantPointers(map[string]refcount.Pointer{id: want})
	})
}
