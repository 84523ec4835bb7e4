package mem_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		b := mem.New()
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// TestSharedBucket runs the suite with every subtest on one bucket, as it would run against a
// shared server: the random prefixes must keep the subtests apart.
func TestSharedBucket(t *testing.T) {
	b := mem.New()
	objstoretest.Run(t, func(*testing.T) objstore.Bucket { return b })
}

func TestSameContentNewETag(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	first, err := b.Put(ctx, "k", []byte("same"), objstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.Put(ctx, "k", []byte("same"), objstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if first.ETag == second.ETag {
		t.Fatalf("rewriting identical content kept ETag %q", first.ETag)
	}
	if _, err := b.Put(ctx, "k", []byte("x"), objstore.PutOptions{IfMatch: first.ETag}); !errors.Is(err, objstore.ErrPrecondition) {
		t.Fatalf("If-Match with the ETag of an identical earlier version: %v, want ErrPrecondition", err)
	}
}

func TestBothConditionsRejected(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	a, err := b.Put(ctx, "k", []byte("v1"), objstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("v2"), objstore.PutOptions{IfNoneMatch: true, IfMatch: a.ETag}); err == nil {
		t.Fatal("Put with IfNoneMatch and IfMatch succeeded")
	}
	if got, _, err := b.Get(ctx, "k"); err != nil || string(got) != "v1" {
		t.Fatalf("Get = %q, %v; want v1", got, err)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	if _, err := b.Put(ctx, "k", []byte("v"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(ctx, "k"); err == nil {
		t.Error("Get after Close succeeded")
	}
	if _, err := b.Put(ctx, "k", nil, objstore.PutOptions{}); err == nil {
		t.Error("Put after Close succeeded")
	}
	if err := b.List(ctx, "", func(objstore.Attrs) error { return nil }); err == nil {
		t.Error("List after Close succeeded")
	}
}
