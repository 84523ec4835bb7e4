package faulty_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/faulty"
	"github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/objstore/objstoretest"
)

// Without faults the wrapper is a conforming bucket.
func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket { return faulty.New(mem.New()) })
}

func exists(t *testing.T, b objstore.Bucket, key string) bool {
	t.Helper()
	_, err := b.Stat(context.Background(), key)
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestKinds(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	b := faulty.New(inner)
	create := objstore.PutOptions{IfNoneMatch: true}

	// Fail before sending: nothing applied.
	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpPut, "a"), Kind: faulty.FailBefore})
	if _, err := b.Put(ctx, "a", []byte("1"), create); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("fail-before put: %v", err)
	}
	if exists(t, inner, "a") {
		t.Fatal("fail-before put was applied")
	}
	// Used up: the next put passes.
	if _, err := b.Put(ctx, "a", []byte("1"), create); err != nil {
		t.Fatal(err)
	}

	// Fail after applying, with a custom error.
	boom := errors.New("connection reset")
	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpPut, "b"), Kind: faulty.FailAfter, Err: boom})
	if _, err := b.Put(ctx, "b", []byte("2"), create); !errors.Is(err, boom) {
		t.Fatalf("fail-after put: %v", err)
	}
	if !exists(t, inner, "b") {
		t.Fatal("fail-after put was not applied")
	}

	// Delivered twice: a create-if-absent put's retry reports ErrExists, as S3 does.
	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpPut, "c"), Kind: faulty.Duplicate})
	if _, err := b.Put(ctx, "c", []byte("3"), create); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("duplicated create-if-absent put: %v, want ErrExists", err)
	}
	// A duplicated delete is harmless.
	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpDelete, "c"), Kind: faulty.Duplicate})
	if err := b.Delete(ctx, "c"); err != nil || exists(t, inner, "c") {
		t.Fatalf("duplicated delete: %v", err)
	}
	// A duplicated read returns the second result.
	b.Add(&faulty.Fault{Match: faulty.OnOp(faulty.OpGet), Kind: faulty.Duplicate})
	if data, _, err := b.Get(ctx, "a"); err != nil || string(data) != "1" {
		t.Fatalf("duplicated get: %q %v", data, err)
	}

	st := b.Stats()
	if st.FailBefore != 1 || st.FailAfter != 1 || st.Duplicate != 3 || st.Injected() != 5 {
		t.Fatalf("stats %+v", st)
	}
	if b.Pending() != 0 {
		t.Fatalf("%d faults pending", b.Pending())
	}
}

func TestOrderTimesAndMatch(t *testing.T) {
	ctx := context.Background()
	b := faulty.New(mem.New())
	e1, e2 := errors.New("first"), errors.New("second")
	b.Add(
		&faulty.Fault{Match: faulty.OnPrefix(faulty.OpPut, "x/"), Kind: faulty.FailBefore, Err: e1, Times: 2},
		&faulty.Fault{Match: faulty.OnOp(faulty.OpPut), Kind: faulty.FailBefore, Err: e2},
	)
	// "y" does not match the first rule: the second fires.
	if _, err := b.Put(ctx, "y", nil, objstore.PutOptions{}); !errors.Is(err, e2) {
		t.Fatalf("y: %v", err)
	}
	for i := range 2 {
		if _, err := b.Put(ctx, "x/1", nil, objstore.PutOptions{}); !errors.Is(err, e1) {
			t.Fatalf("x/1 #%d: %v", i, err)
		}
	}
	if _, err := b.Put(ctx, "x/1", nil, objstore.PutOptions{}); err != nil {
		t.Fatalf("after the faults are used up: %v", err)
	}
	b.Add(&faulty.Fault{Kind: faulty.FailBefore, Times: faulty.Forever})
	for range 3 {
		if _, _, err := b.Get(ctx, "x/1"); !errors.Is(err, faulty.ErrInjected) {
			t.Fatal("forever fault did not fire")
		}
	}
	b.Clear()
	if _, _, err := b.Get(ctx, "x/1"); err != nil {
		t.Fatalf("after Clear: %v", err)
	}
	// Delete matches on any of its keys.
	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpDelete, "x/2"), Kind: faulty.FailBefore})
	if err := b.Delete(ctx, "x/1", "x/2"); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("delete of two keys: %v", err)
	}
}

func TestStalls(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	b := faulty.New(inner)

	// Stall before sending: nothing applied until released.
	reached, release := make(chan *faulty.Call, 1), make(chan struct{})
	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpPut, "k"), Reached: reached, Wait: release})
	done := make(chan error)
	go func() {
		_, err := b.Put(ctx, "k", []byte("v"), objstore.PutOptions{})
		done <- err
	}()
	c := <-reached
	if c.Op != faulty.OpPut || c.Key != "k" || c.Size != 1 {
		t.Fatalf("reached %+v", c)
	}
	if exists(t, inner, "k") {
		t.Fatal("stalled put applied before release")
	}
	close(release)
	if err := <-done; err != nil || !exists(t, inner, "k") {
		t.Fatalf("released put: %v", err)
	}

	// Stall after applying: applied, response held back.
	applied, release2 := make(chan *faulty.Call, 1), make(chan struct{})
	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpDelete, "k"), Applied: applied, WaitAfter: release2})
	go func() { done <- b.Delete(ctx, "k") }()
	<-applied
	if exists(t, inner, "k") {
		t.Fatal("delete stalled after applying was not applied")
	}
	select {
	case err := <-done:
		t.Fatalf("delete returned before release: %v", err)
	default:
	}
	close(release2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A stall ends with the context: nothing applied.
	cctx, cancel := context.WithCancel(ctx)
	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpPut, "z"), Reached: reached, Wait: make(chan struct{})})
	go func() {
		_, err := b.Put(cctx, "z", nil, objstore.PutOptions{})
		done <- err
	}()
	<-reached
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || exists(t, inner, "z") {
		t.Fatalf("cancelled stall: %v", err)
	}
	if st := b.Stats(); st.Stalled != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHook(t *testing.T) {
	ctx := context.Background()
	b := faulty.New(mem.New())
	var seen []faulty.Op
	b.SetHook(func(_ context.Context, c *faulty.Call) *faulty.Fault {
		seen = append(seen, c.Op)
		if c.Op == faulty.OpStat {
			return &faulty.Fault{Kind: faulty.FailBefore}
		}
		return nil
	})
	b.Put(ctx, "a", nil, objstore.PutOptions{})
	if _, err := b.Stat(ctx, "a"); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("hooked stat: %v", err)
	}
	b.List(ctx, "", func(objstore.Attrs) error { return nil })
	if len(seen) != 3 || seen[0] != faulty.OpPut || seen[2] != faulty.OpList {
		t.Fatalf("hook saw %v", seen)
	}
	b.SetHook(nil)
	if _, err := b.Stat(ctx, "a"); err != nil {
		t.Fatal(err)
	}
}

func TestVirtualDeadlinesAndModTimes(t *testing.T) {
	clock := &fakeclock.Clock{}
	inner := mem.New()
	b := faulty.New(inner)
	b.VirtualDeadlines(clock.Now, fakeclock.Epoch)
	b.StampModTimes(clock.Now)

	ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(time.Minute))
	defer cancel()
	a, err := b.Put(ctx, "a", []byte("x"), objstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.ModTime.Equal(clock.Now()) {
		t.Fatalf("stamped ModTime %v, want %v", a.ModTime, clock.Now())
	}
	clock.Advance(time.Minute)
	if _, err := b.Put(ctx, "b", []byte("x"), objstore.PutOptions{}); !errors.Is(err, context.DeadlineExceeded) || exists(t, inner, "b") {
		t.Fatalf("put past the virtual deadline: %v", err)
	}
	// A real-clock deadline (before the epoch) is left to the context package.
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	if _, err := b.Put(rctx, "b", []byte("x"), objstore.PutOptions{}); err != nil {
		t.Fatalf("put under a real deadline: %v", err)
	}
	var listed []objstore.Attrs
	b.List(context.Background(), "", func(a objstore.Attrs) error { listed = append(listed, a); return nil })
	if len(listed) != 2 || !listed[0].ModTime.Equal(fakeclock.Epoch) || !listed[1].ModTime.Equal(clock.Now()) {
		t.Fatalf("listed %+v", listed)
	}
	if st, _ := b.Stat(context.Background(), "a"); !st.ModTime.Equal(fakeclock.Epoch) {
		t.Fatalf("stat ModTime %v", st.ModTime)
	}
	if st := b.Stats(); st.Deadline != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A Put sent once (PutOptions.SingleAttempt) is not retried by its client: a Duplicate fault
// applies it once and loses its response.
func TestDuplicateOfSingleAttempt(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	b := faulty.New(inner)
	applied := make(chan *faulty.Call, 1)
	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpPut, "m"), Kind: faulty.Duplicate, Applied: applied})
	_, err := b.Put(ctx, "m", []byte("1"), objstore.PutOptions{IfNoneMatch: true, SingleAttempt: true})
	if !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("duplicated single-attempt put: %v, want the lost response", err)
	}
	<-applied
	if !exists(t, inner, "m") {
		t.Fatal("the put was not applied")
	}
	if st := b.Stats(); st.FailAfter != 1 || st.Duplicate != 0 {
		t.Fatalf("stats %+v, want one lost response and no retry", st)
	}
}

func TestDropConditions(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	b := faulty.New(inner)
	reached := make(chan *faulty.Call, 8)
	b.Add(&faulty.Fault{Match: faulty.OnOp(faulty.OpPut), Times: faulty.Forever, Reached: reached})
	first, err := b.Put(ctx, "a", []byte("1"), objstore.PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}

	b.DropConditions(true, false)
	if _, err := b.Put(ctx, "a", []byte("2"), objstore.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatalf("create-if-absent put over an object, If-None-Match dropped: %v", err)
	}
	if _, err := b.Put(ctx, "a", []byte("3"), objstore.PutOptions{IfMatch: first.ETag}); !errors.Is(err, objstore.ErrPrecondition) {
		t.Fatalf("compare-and-swap put with a stale ETag, only If-None-Match dropped: %v", err)
	}

	b.DropConditions(false, true)
	if _, err := b.Put(ctx, "a", []byte("4"), objstore.PutOptions{IfMatch: first.ETag}); err != nil {
		t.Fatalf("compare-and-swap put with a stale ETag, If-Match dropped: %v", err)
	}
	if _, err := b.Put(ctx, "a", []byte("5"), objstore.PutOptions{IfNoneMatch: true}); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("create-if-absent put over an object, only If-Match dropped: %v", err)
	}
	if data, _, _ := inner.Get(ctx, "a"); string(data) != "4" {
		t.Fatalf("stored %q, want 4", data)
	}
	// The faults saw the options as given.
	close(reached)
	for c := range reached {
		if !c.Opts.IfNoneMatch && c.Opts.IfMatch == "" {
			t.Errorf("a fault saw %+v without its condition", c)
		}
	}
}
