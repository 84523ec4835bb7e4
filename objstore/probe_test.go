package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/faulty"
	"github.com/stowken/stowken/objstore/mem"
)

const scratch = "checks/conditional-writes/0123abcd"

// objects returns the keys in b.
func objects(t *testing.T, b objstore.Bucket) []string {
	t.Helper()
	var keys []string
	if err := b.List(context.Background(), "", func(a objstore.Attrs) error { keys = append(keys, a.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestCheckConditionalWrites(t *testing.T) {
	b := faulty.New(mem.New())
	reached := make(chan *faulty.Call, 10)
	b.Add(&faulty.Fault{Match: faulty.OnOp(faulty.OpPut), Times: faulty.Forever, Reached: reached})
	if err := objstore.CheckConditionalWrites(t.Context(), b, scratch); err != nil {
		t.Fatalf("check of an honest bucket: %v", err)
	}
	close(reached)
	n := 0
	for c := range reached {
		n++
		if !c.Opts.IfNoneMatch && c.Opts.IfMatch == "" {
			t.Errorf("unconditional put %+v", c)
		}
	}
	if n != 4 {
		t.Errorf("%d puts, want 4", n)
	}
	if keys := objects(t, b); len(keys) != 0 {
		t.Fatalf("the check left %v", keys)
	}
}

func TestCheckConditionalWritesIgnored(t *testing.T) {
	for _, tc := range []struct {
		ifNoneMatch, ifMatch bool
		want                 string
	}{
		{true, false, "ignores If-None-Match"},
		{false, true, "ignores If-Match"},
		{true, true, "ignores If-None-Match"},
	} {
		t.Run(fmt.Sprintf("DropIfNoneMatch=%v,DropIfMatch=%v", tc.ifNoneMatch, tc.ifMatch), func(t *testing.T) {
			b := faulty.New(mem.New())
			b.DropConditions(tc.ifNoneMatch, tc.ifMatch)
			err := objstore.CheckConditionalWrites(t.Context(), b, scratch)
			if !errors.Is(err, objstore.ErrConditionsIgnored) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConditionsIgnored saying %q", err, tc.want)
			}
			if keys := objects(t, b); len(keys) != 0 {
				t.Fatalf("the check left %v", keys)
			}
		})
	}
}

// A failed request is not a verdict on the server: the error is not ErrConditionsIgnored, and
// the scratch object is deleted all the same (or the deletion's failure is reported).
func TestCheckConditionalWritesFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   faulty.Op
		n    int // the n-th call of op fails
	}{
		{"FirstPut", faulty.OpPut, 1},
		{"SecondPut", faulty.OpPut, 2},
		{"WrongETagPut", faulty.OpPut, 3},
		{"RightETagPut", faulty.OpPut, 4},
		{"Delete", faulty.OpDelete, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := faulty.New(mem.New())
			calls := 0
			b.Add(&faulty.Fault{Kind: faulty.FailBefore, Match: func(c *faulty.Call) bool {
				if c.Op == tc.op {
					calls++
				}
				return c.Op == tc.op && calls == tc.n
			}})
			err := objstore.CheckConditionalWrites(t.Context(), b, scratch)
			if !errors.Is(err, faulty.ErrInjected) || errors.Is(err, objstore.ErrConditionsIgnored) {
				t.Fatalf("err = %v, want the injected error and not ErrConditionsIgnored", err)
			}
			if keys := objects(t, b); len(keys) != 0 && tc.name != "Delete" {
				t.Fatalf("the check left %v", keys)
			}
		})
	}
}

// The scratch object is deleted even when the check's context has ended.
func TestCheckConditionalWritesCancelled(t *testing.T) {
	b := faulty.New(mem.New())
	ctx, cancel := context.WithCancel(t.Context())
	b.SetHook(func(_ context.Context, c *faulty.Call) *faulty.Fault {
		if c.Op == faulty.OpPut && c.Opts.IfMatch != "" {
			cancel()
		}
		return nil
	})
	err := objstore.CheckConditionalWrites(ctx, b, scratch)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if keys := objects(t, b); len(keys) != 0 {
		t.Fatalf("the check left %v", keys)
	}
}
