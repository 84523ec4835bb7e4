package faulty_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/refcount/faulty"
	"github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/refcount/refcounttest"
)

// Without faults the wrapper is a conforming store, sorted listings included.
func TestConformance(t *testing.T) {
	refcounttest.Run(t, func(t *testing.T) refcount.Backend { return faulty.New(mem.New()) })
	t.Run("Sorted", func(t *testing.T) {
		refcounttest.Run(t, func(t *testing.T) refcount.Backend {
			s := faulty.New(mem.New())
			s.SortLists(true)
			return s
		})
	})
}

var now = fakeclock.Epoch

func refs(t *testing.T, s refcount.Backend) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	if err := s.ListRefs(context.Background(), func(r refcount.Ref) error {
		out[r.Segment+"/"+r.Owner] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKinds(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	s := faulty.New(inner)

	s.Add(&faulty.Fault{Match: faulty.OnOwner(faulty.OpAddRefs, "o1"), Kind: faulty.FailBefore})
	if err := s.AddRefs(ctx, "o1", []string{"a", "b"}, now); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("fail-before: %v", err)
	}
	if len(refs(t, inner)) != 0 {
		t.Fatal("fail-before AddRefs was applied")
	}
	s.Add(&faulty.Fault{Match: faulty.OnOwner(faulty.OpAddRefs, "o1"), Kind: faulty.FailAfter})
	if err := s.AddRefs(ctx, "o1", []string{"a", "b"}, now); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("fail-after: %v", err)
	}
	if r := refs(t, inner); !r["a/o1"] || !r["b/o1"] {
		t.Fatalf("fail-after AddRefs not applied: %v", r)
	}
	// A duplicated decrement removes only its owner's references.
	if err := s.AddRefs(ctx, "o2", []string{"a"}, now); err != nil {
		t.Fatal(err)
	}
	s.Add(&faulty.Fault{Match: faulty.OnSegment(faulty.OpRemoveRefs, "a"), Kind: faulty.Duplicate})
	if err := s.RemoveRefs(ctx, "o1", []string{"a", "b"}); err != nil {
		t.Fatalf("duplicated RemoveRefs: %v", err)
	}
	if r := refs(t, inner); len(r) != 1 || !r["a/o2"] {
		t.Fatalf("after a duplicated RemoveRefs of o1: %v", r)
	}
	// A duplicated conditional create reports ErrExists the second time.
	s.Add(&faulty.Fault{Match: faulty.OnSegment(faulty.OpCreateHead, "a"), Kind: faulty.Duplicate})
	if err := s.CreateHead(ctx, "a", 10, now); !errors.Is(err, refcount.ErrExists) {
		t.Fatalf("duplicated CreateHead: %v, want ErrExists", err)
	}
	// A duplicated claim by the same claimant succeeds (the stores accept a retried claim).
	s.Add(&faulty.Fault{Match: faulty.OnOp(faulty.OpClaim), Kind: faulty.Duplicate})
	if err := s.Claim(ctx, "a", "c1", now.Add(time.Hour), now); err != nil {
		t.Fatalf("duplicated Claim: %v", err)
	}
	// A GetHead failing after "applying" is just a failed read.
	s.Add(&faulty.Fault{Match: faulty.OnOp(faulty.OpGetHead), Kind: faulty.FailAfter})
	if _, err := s.GetHead(ctx, "a"); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("GetHead: %v", err)
	}
	if h, err := s.GetHead(ctx, "a"); err != nil || h.State != refcount.Deleting || h.ClaimID != "c1" {
		t.Fatalf("head %+v %v", h, err)
	}
	s.Add(&faulty.Fault{Match: faulty.OnOp(faulty.OpHasRefs), Kind: faulty.FailBefore})
	if has, err := s.HasRefs(ctx, "a"); has || !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("failed HasRefs reported %v, %v", has, err)
	}
	if st := s.Stats(); st.FailBefore != 2 || st.FailAfter != 2 || st.Duplicate != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStallAndHook(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	s := faulty.New(inner)
	inner.CreateHead(ctx, "seg", 1, now)

	// A claim stalled after applying: the head is Deleting while the caller still waits.
	applied, release := make(chan *faulty.Call, 1), make(chan struct{})
	s.Add(&faulty.Fault{Match: faulty.OnSegment(faulty.OpClaim, "seg"), Applied: applied, WaitAfter: release})
	done := make(chan error)
	go func() { done <- s.Claim(ctx, "seg", "c", now.Add(time.Minute), now) }()
	c := <-applied
	if c.ClaimID != "c" || c.Segment() != "seg" || !c.Expires.Equal(now.Add(time.Minute)) {
		t.Fatalf("call %+v", c)
	}
	if h, _ := inner.GetHead(ctx, "seg"); h.State != refcount.Deleting {
		t.Fatalf("head %+v before release", h)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The hook sees every call, writes and reads alike.
	var writes, reads int
	s.SetHook(func(_ context.Context, c *faulty.Call) *faulty.Fault {
		if c.Write() {
			writes++
		} else {
			reads++
		}
		return nil
	})
	s.Release(ctx, "seg", "c")
	s.GetHead(ctx, "seg")
	s.ListCandidates(ctx, func(refcount.Candidate) error { return nil })
	if writes != 1 || reads != 2 {
		t.Fatalf("hook saw %d writes, %d reads", writes, reads)
	}
}

func TestSortedListsAndDeadlines(t *testing.T) {
	ctx := context.Background()
	s := faulty.New(mem.New())
	s.SortLists(true)
	segs := []string{"e", "b", "d", "a", "c"}
	s.MarkCandidates(ctx, segs, now)
	for _, seg := range segs {
		s.CreateHead(ctx, seg, 1, now)
		s.AddRefs(ctx, "z", []string{seg}, now)
		s.AddRefs(ctx, "y", []string{seg}, now)
	}
	var cands, heads, listed []string
	s.ListCandidates(ctx, func(c refcount.Candidate) error { cands = append(cands, c.Segment); return nil })
	s.ListHeads(ctx, func(h refcount.Head) error { heads = append(heads, h.Segment); return nil })
	s.ListRefs(ctx, func(r refcount.Ref) error { listed = append(listed, r.Segment+r.Owner); return nil })
	want := "abcde"
	for i := range want {
		if cands[i] != want[i:i+1] || heads[i] != want[i:i+1] || listed[2*i] != want[i:i+1]+"y" || listed[2*i+1] != want[i:i+1]+"z" {
			t.Fatalf("not sorted: %v %v %v", cands, heads, listed)
		}
	}

	clock := fakeclock.New(now)
	s.VirtualDeadlines(clock.Now, fakeclock.Epoch)
	dctx, cancel := context.WithDeadline(ctx, now.Add(time.Second))
	defer cancel()
	if err := s.AddRefs(dctx, "x", []string{"a"}, now); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := s.AddRefs(dctx, "x", []string{"b"}, now); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the virtual deadline: %v", err)
	}
	if r := refs(t, s.Inner()); !r["a/x"] || r["b/x"] {
		t.Fatalf("a call refused at its deadline was applied: %v", r)
	}
}

// TestPointerFaults: a pointer write failing after it applied leaves the pointer there, a
// duplicated create reports ErrExists the second time, a duplicated delete succeeds, and the
// calls carry their id and pointer.
func TestPointerFaults(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	s := faulty.New(inner)
	p := refcount.Pointer{Batch: "b-0123456789abcdef01234567", Nonce: "0123456789ab"}

	s.Add(&faulty.Fault{Match: faulty.OnID(faulty.OpCreatePointer, "c1"), Kind: faulty.FailBefore})
	if err := s.CreatePointer(ctx, "c1", p); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("fail-before CreatePointer: %v", err)
	}
	if _, err := inner.GetPointer(ctx, "c1"); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("fail-before CreatePointer was applied: %v", err)
	}
	applied := make(chan *faulty.Call, 1)
	s.Add(&faulty.Fault{Match: faulty.OnID(faulty.OpCreatePointer, "c1"), Kind: faulty.FailAfter, Applied: applied})
	if err := s.CreatePointer(ctx, "c1", p); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("fail-after CreatePointer: %v", err)
	}
	if c := <-applied; c.ID != "c1" || c.Pointer != p || !c.Write() {
		t.Fatalf("CreatePointer call %+v (a write: %v)", c, c.Write())
	}
	if got, err := inner.GetPointer(ctx, "c1"); err != nil || got != p {
		t.Fatalf("fail-after CreatePointer not applied: %+v, %v", got, err)
	}
	// Another id does not match.
	s.Add(&faulty.Fault{Match: faulty.OnID(faulty.OpCreatePointer, "other"), Kind: faulty.FailBefore})
	if err := s.CreatePointer(ctx, "c2", p); err != nil {
		t.Fatalf("CreatePointer(c2) hit a fault on another id: %v", err)
	}
	s.Clear()

	// A create is sent once (refcount.Backend): a Duplicate fault applies it once and loses its
	// response, as its client would not retry it.
	s.Add(&faulty.Fault{Match: faulty.OnID(faulty.OpCreatePointer, "c3"), Kind: faulty.Duplicate})
	if err := s.CreatePointer(ctx, "c3", p); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("duplicated CreatePointer: %v, want the lost response", err)
	}
	if got, err := inner.GetPointer(ctx, "c3"); err != nil || got != p {
		t.Fatalf("duplicated CreatePointer not applied: %+v, %v", got, err)
	}
	// A move is sent once too.
	q := refcount.Pointer{Batch: p.Batch + "0", Nonce: p.Nonce}
	s.Add(&faulty.Fault{Match: faulty.OnID(faulty.OpMovePointer, "c3"), Kind: faulty.Duplicate, Applied: applied})
	if err := s.MovePointer(ctx, "c3", p, q); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("duplicated MovePointer: %v, want the lost response", err)
	}
	if c := <-applied; c.ID != "c3" || c.From != p || c.Pointer != q || !c.Write() {
		t.Fatalf("MovePointer call %+v", c)
	}
	if got, err := inner.GetPointer(ctx, "c3"); err != nil || got != q {
		t.Fatalf("duplicated MovePointer not applied: %+v, %v", got, err)
	}
	if err := s.MovePointer(ctx, "c3", q, p); err != nil {
		t.Fatal(err)
	}
	// A delete sent twice: the second finds nothing to delete, which is success.
	s.Add(&faulty.Fault{Match: faulty.OnID(faulty.OpDeletePointer, "c3"), Kind: faulty.Duplicate, Applied: applied})
	if err := s.DeletePointer(ctx, "c3", p); err != nil {
		t.Fatalf("duplicated DeletePointer: %v", err)
	}
	if c := <-applied; c.ID != "c3" || c.Pointer != p {
		t.Fatalf("DeletePointer call %+v", c)
	}
	if _, err := inner.GetPointer(ctx, "c3"); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("after a duplicated DeletePointer: %v", err)
	}
	// Reads fail like reads.
	s.Add(&faulty.Fault{Match: faulty.OnID(faulty.OpGetPointer, "c1"), Kind: faulty.FailAfter})
	if got, err := s.GetPointer(ctx, "c1"); !errors.Is(err, faulty.ErrInjected) || got != (refcount.Pointer{}) {
		t.Fatalf("failed GetPointer reported %+v, %v", got, err)
	}
	s.Add(&faulty.Fault{Match: faulty.OnOp(faulty.OpListPointers), Kind: faulty.FailBefore})
	if err := s.ListPointers(ctx, func(string, refcount.Pointer) error { return nil }); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("ListPointers: %v", err)
	}
	if st := s.Stats(); st.FailBefore != 2 || st.FailAfter != 4 || st.Duplicate != 1 {
		t.Fatalf("stats %+v", st)
	}

	var writes, reads int
	s.SetHook(func(_ context.Context, c *faulty.Call) *faulty.Fault {
		if c.Write() {
			writes++
		} else {
			reads++
		}
		return nil
	})
	s.GetPointer(ctx, "c1")
	s.ListPointers(ctx, func(string, refcount.Pointer) error { return nil })
	s.DeletePointer(ctx, "c1", p)
	if writes != 1 || reads != 2 {
		t.Fatalf("hook saw %d writes, %d reads", writes, reads)
	}
}

func TestSortedPointers(t *testing.T) {
	ctx := context.Background()
	s := faulty.New(mem.New())
	s.SortLists(true)
	for _, id := range []string{"e", "b", "d", "a", "c"} {
		if err := s.CreatePointer(ctx, id, refcount.Pointer{Batch: "b-" + id, Nonce: "n-" + id}); err != nil {
			t.Fatal(err)
		}
	}
	var got string
	err := s.ListPointers(ctx, func(id string, p refcount.Pointer) error {
		if p.Batch != "b-"+id || p.Nonce != "n-"+id {
			t.Errorf("%s: %+v", id, p)
		}
		got += id
		return nil
	})
	if err != nil || got != "abcde" {
		t.Fatalf("ListPointers sorted: %q, %v", got, err)
	}
}
