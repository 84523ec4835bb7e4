package refcount_test

import (
	"context"
	"testing"
	"time"

	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/refcount/refcounttest"
)

func TestNamespaceConformance(t *testing.T) {
	shared := mem.New()
	refcounttest.Run(t, func(t *testing.T) refcount.Backend { return refcount.Namespace(nopClose{shared}, "ns-a:") })
}

// TestNamespacesAreSeparate: two stores sharing one table never see each other's heads,
// references or candidates.
func TestNamespacesAreSeparate(t *testing.T) {
	ctx := context.Background()
	shared := mem.New()
	a, b := refcount.Namespace(shared, "a:"), refcount.Namespace(shared, "b:")
	now := time.Now()
	if err := a.CreateHead(ctx, "seg", 10, now); err != nil {
		t.Fatal(err)
	}
	if err := a.AddRefs(ctx, "owner", []string{"seg"}, now); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkCandidates(ctx, []string{"seg"}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetHead(ctx, "seg"); err == nil {
		t.Fatal("namespace b sees a's head")
	}
	if has, _ := b.HasRefs(ctx, "seg"); has {
		t.Fatal("namespace b sees a's reference")
	}
	n := 0
	b.ListCandidates(ctx, func(refcount.Candidate) error { n++; return nil })
	b.ListHeads(ctx, func(refcount.Head) error { n++; return nil })
	b.ListRefs(ctx, func(refcount.Ref) error { n++; return nil })
	if n != 0 {
		t.Fatalf("namespace b lists %d of a's items", n)
	}
	h, err := a.GetHead(ctx, "seg")
	if err != nil || h.Segment != "seg" {
		t.Fatalf("a's head: %+v %v", h, err)
	}
}

type nopClose struct{ refcount.Backend }

func (nopClose) Close() error { return nil }
