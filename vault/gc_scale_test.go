package vault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/objstore"
	objfaulty "github.com/stowken/stowken/objstore/faulty"
	"github.com/stowken/stowken/refcount"
	reffaulty "github.com/stowken/stowken/refcount/faulty"
	"github.com/stowken/stowken/segment"
)

// seedCandidates creates n unreferenced segments (object, live head, candidate mark) directly
// in the raw backends, with synthetic ids, and returns the ids.
func seedCandidates(e *gcEnv, n int) []string {
	e.t.Helper()
	ids := make([]string, n)
	now := e.clock.Now()
	for i := range ids {
		ids[i] = fmt.Sprintf("%064x", 0xabc000000+i)
		if _, err := e.bucket.Inner().Put(e.ctx, segment.Key(ids[i]), []byte("x"), objstore.PutOptions{}); err != nil {
			e.t.Fatal(err)
		}
		if err := e.refs.Inner().CreateHead(e.ctx, ids[i], 1, now); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.refs.Inner().MarkCandidates(e.ctx, ids, now); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// vaultN is another vault over the env's faulty backends, with the given concurrency.
func (e *gcEnv) vaultN(concurrency int) *Vault {
	e.t.Helper()
	v, err := New(e.ctx, Options{Bucket: e.bucket, Refs: e.refs, Now: e.clock.Now, CacheBytes: -1, Concurrency: concurrency})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { v.Close() })
	return v
}

// counts returns how many of the ids still have an object, a head and a candidate mark.
func (e *gcEnv) counts(ids []string) (objects, heads, marks int) {
	e.t.Helper()
	snap, err := takeSnapshot(e.ctx, e.check)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, id := range ids {
		if _, ok := snap.objects[id]; ok {
			objects++
		}
		if _, ok := snap.heads[id]; ok {
			heads++
		}
		if _, ok := snap.candidates[id]; ok {
			marks++
		}
	}
	return
}

// countDeletes records the bucket's Delete calls.
func countDeletes(e *gcEnv) func() (calls int, sizes []int) {
	var mu sync.Mutex
	var sizes []int
	e.bucket.SetHook(func(_ context.Context, c *objfaulty.Call) *objfaulty.Fault {
		if c.Op == objfaulty.OpDelete {
			mu.Lock()
			sizes = append(sizes, len(c.Keys))
			mu.Unlock()
		}
		return nil
	})
	return func() (int, []int) {
		mu.Lock()
		defer mu.Unlock()
		return len(sizes), append([]int(nil), sizes...)
	}
}

func TestGCScaleBatchedDeletes(t *testing.T) {
	e := newGCEnv(t)
	n := 2*objstore.DeleteBatchSize + 500
	ids := seedCandidates(e, n)
	deletes := countDeletes(e)
	start := time.Now()
	rep, err := e.vaultN(16).GC(e.ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d candidates in %v: %+v", n, time.Since(start), rep)
	if rep.Deleted != n || rep.Claimed != n || rep.Partial {
		t.Fatalf("report %+v, want %d deleted, not partial", rep, n)
	}
	calls, sizes := deletes()
	if calls != 3 {
		t.Fatalf("%d Delete calls %v, want 3", calls, sizes)
	}
	for _, s := range sizes {
		if s > objstore.DeleteBatchSize {
			t.Fatalf("a Delete call carried %d keys", s)
		}
	}
	if o, h, m := e.counts(ids); o+h+m != 0 {
		t.Fatalf("left %d objects, %d heads, %d marks", o, h, m)
	}
}

func TestGCScaleBudgetExact(t *testing.T) {
	e := newGCEnv(t)
	ids := seedCandidates(e, 200)
	v := e.vaultN(16)
	left := len(ids)
	for _, budget := range []int{37, 1, 100, 100} {
		rep, err := v.GC(e.ctx, GCOptions{Budget: budget})
		if err != nil {
			t.Fatal(err)
		}
		want := min(budget, left)
		if rep.Deleted != want {
			t.Fatalf("budget %d: deleted %d, want %d (%+v)", budget, rep.Deleted, want, rep)
		}
		left -= want
		if rep.Partial != (left > 0) {
			t.Fatalf("budget %d: partial %v with %d left", budget, rep.Partial, left)
		}
		if o, _, m := e.counts(ids); o != left || m != left {
			t.Fatalf("budget %d: %d objects, %d marks left, want %d", budget, o, m, left)
		}
	}
	if left != 0 {
		t.Fatalf("%d left", left)
	}
}

// A run whose deadline is near stops claiming; the marks are the queue the next run resumes.
func TestGCScaleStopsAtDeadlineAndResumes(t *testing.T) {
	e := newGCEnv(t)
	ids := seedCandidates(e, 50)
	v := e.vaultN(4)
	ctx, cancel := context.WithDeadline(e.ctx, e.clock.Now().Add(gcStopMargin/2)) // virtual deadline
	defer cancel()
	rep, err := v.GC(ctx, GCOptions{})
	if err != nil || !rep.Partial || rep.Deleted != 0 || rep.Claimed != 0 {
		t.Fatalf("near its deadline: %+v, %v; want a partial run that claims nothing", rep, err)
	}
	if _, h, m := e.counts(ids); h != 50 || m != 50 {
		t.Fatalf("%d heads, %d marks left, want all", h, m)
	}
	cctx, ccancel := context.WithCancel(e.ctx)
	ccancel()
	if rep, err := v.GC(cctx, GCOptions{}); err == nil || rep.Deleted != 0 {
		t.Fatalf("cancelled: %+v, %v; want an error and nothing deleted", rep, err)
	}
	rep, err = v.GC(e.ctx, GCOptions{})
	if err != nil || rep.Partial || rep.Deleted != 50 {
		t.Fatalf("resumed: %+v, %v", rep, err)
	}
}

func TestGCScaleLease(t *testing.T) {
	t.Run("SecondRunReturnsLeaseHeld", func(t *testing.T) {
		e := newGCEnv(t)
		ids := seedCandidates(e, 20)
		atList, release := make(chan *reffaulty.Call, 1), make(chan struct{})
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnOp(reffaulty.OpListCandidates), Reached: atList, Wait: release})
		g1, g2 := e.vaultN(4), e.vaultN(4)
		r1 := goDo(func() (GCReport, error) { return g1.GC(e.ctx, GCOptions{Lease: true}) })
		recv(t, atList)
		rep, err := g2.GC(e.ctx, GCOptions{Lease: true})
		if err != nil || !rep.LeaseHeld || rep.Candidates != 0 || rep.Deleted != 0 {
			t.Fatalf("second run: %+v, %v; want lease_held", rep, err)
		}
		// A dry run changes nothing and takes no lease.
		if rep, err := g2.GC(e.ctx, GCOptions{Lease: true, DryRun: true}); err != nil || rep.LeaseHeld || rep.Deleted != 20 {
			t.Fatalf("dry run: %+v, %v", rep, err)
		}
		close(release)
		first := recv(t, r1)
		if first.err != nil || first.v.LeaseHeld || first.v.Deleted != 20 {
			t.Fatalf("first run: %+v, %v", first.v, first.err)
		}
		if o, h, _ := e.counts(ids); o+h != 0 {
			t.Fatalf("left %d objects, %d heads", o, h)
		}
		h, ok := e.head(gcLeaseHead)
		if !ok || h.State != refcount.Live {
			t.Fatalf("lease head %+v (%v), want released", h, ok)
		}
		rep, err = g2.GC(e.ctx, GCOptions{Lease: true})
		if err != nil || rep.LeaseHeld {
			t.Fatalf("after release: %+v, %v", rep, err)
		}
		if vr := e.verify(VerifyOptions{}); vr.DanglingHeads != 0 || !vr.OK() {
			t.Fatalf("verify sees the lease: %+v", vr)
		}
	})
	t.Run("DeadHolderExpires", func(t *testing.T) {
		e := newGCEnv(t)
		seedCandidates(e, 5)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpRelease, gcLeaseHead), Kind: reffaulty.FailBefore, Err: errCrash})
		v := e.vaultN(2)
		if rep, err := v.GC(e.ctx, GCOptions{Lease: true}); err != nil || rep.Deleted != 5 {
			t.Fatalf("first run: %+v, %v", rep, err)
		}
		if rep, err := v.GC(e.ctx, GCOptions{Lease: true}); err != nil || !rep.LeaseHeld {
			t.Fatalf("lease not given back: %+v, %v; want lease_held", rep, err)
		}
		e.clock.Advance(max(claimTTL, gcLeaseMinTTL) + time.Second)
		if rep, err := v.GC(e.ctx, GCOptions{Lease: true}); err != nil || rep.LeaseHeld {
			t.Fatalf("after expiry: %+v, %v", rep, err)
		}
	})
	t.Run("LeaseFailureIsAnError", func(t *testing.T) {
		e := newGCEnv(t)
		e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnSegment(reffaulty.OpClaim, gcLeaseHead), Kind: reffaulty.FailBefore})
		if _, err := e.vaultN(1).GC(e.ctx, GCOptions{Lease: true}); !errors.Is(err, reffaulty.ErrInjected) {
			t.Fatalf("gc: %v, want the injected fault", err)
		}
	})
}

// Two collectors on one candidate through the internal path: the claim picks one.
func TestGCScaleTwoCollectOneCandidate(t *testing.T) {
	e := newGCEnv(t)
	ids := seedCandidates(e, 1)
	deletes := countDeletes(e)
	c := refcount.Candidate{Segment: ids[0], Since: e.clock.Now()}
	v1, v2 := e.vaultN(1), e.vaultN(1)
	r1 := goDo(func() (gcOutcome, error) { o, _, err := v1.collect(e.ctx, c, randomHex(12), false); return o, err })
	r2 := goDo(func() (gcOutcome, error) { o, _, err := v2.collect(e.ctx, c, randomHex(12), false); return o, err })
	a, b := recv(t, r1), recv(t, r2)
	if a.err != nil || b.err != nil {
		t.Fatalf("collect: %v, %v", a.err, b.err)
	}
	if n := btoi(a.v == gcDeleted) + btoi(b.v == gcDeleted); n != 1 {
		t.Fatalf("outcomes %v, %v: %d deletions, want 1", a.v, b.v, n)
	}
	if calls, _ := deletes(); calls != 1 {
		t.Fatalf("%d Delete calls, want 1", calls)
	}
	e.mustBeGone(ids[0])
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
