package meter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	catmem "github.com/stowken/stowken/catalog/mem"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/objstore"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/refcount"
	refmem "github.com/stowken/stowken/refcount/mem"
)

// TestModel: a backend that reports nothing is modelled from ddbitem's items, in the store's
// meter and in the meter of the call's context.
func TestModel(t *testing.T) {
	ctx := context.Background()
	var total, op cost.Meter
	r := Refs(refmem.New(), &total)
	now := time.UnixMilli(1764000000123)
	octx := cost.WithMeter(ctx, &op)
	if err := r.AddRefs(octx, "owner", []string{"a", "b", "a"}, now); err != nil {
		t.Fatal(err)
	}
	if got := op.Usage(); got != (cost.Usage{DDBWRU: 2}) { // two distinct small items
		t.Errorf("AddRefs: %+v, want 2 write units", got)
	}
	if err := r.CreateHead(ctx, "a", 10, now); err != nil {
		t.Fatal(err)
	}
	if err := r.CreateHead(ctx, "a", 10, now); !errors.Is(err, refcount.ErrExists) {
		t.Fatal(err)
	}
	if _, err := r.HasRefs(ctx, "zz"); err != nil { // none: every shard queried
		t.Fatal(err)
	}
	if err := r.AddRefs(ctx, "", nil, now); err == nil { // invalid: nothing sent, nothing billed
		t.Fatal("AddRefs accepted an empty owner")
	}
	want := cost.Usage{DDBWRU: 2 + 2, DDBRRU: ddbitem.RefShards} // a failed CreateHead is billed too
	if got := total.Parts()[cost.References]; got != want {
		t.Errorf("references: %+v, want %+v", got, want)
	}
}

// TestModelPointers: the pointer calls are modelled from the pointer item, failed conditions
// and missing pointers included, and sized by the item (a 5,000-byte id makes a pointer of
// two read units and five write units).
func TestModelPointers(t *testing.T) {
	ctx := context.Background()
	var total cost.Meter
	r := Refs(refmem.New(), &total)
	p := refcount.Pointer{Batch: "b-0123456789abcdef01234567", Nonce: "0123456789ab"}
	check := func(what string, want cost.Usage) {
		t.Helper()
		if got := total.Parts()[cost.References]; got != want {
			t.Fatalf("after %s: %+v, want %+v", what, got, want)
		}
	}
	var want cost.Usage
	if err := r.CreatePointer(ctx, "c1", p); err != nil {
		t.Fatal(err)
	}
	want.DDBWRU++
	check("CreatePointer", want)
	if err := r.CreatePointer(ctx, "c1", p); !errors.Is(err, refcount.ErrExists) {
		t.Fatal(err)
	}
	want.DDBWRU++ // a failed condition is billed
	check("CreatePointer of an existing id", want)
	if got, err := r.GetPointer(ctx, "c1"); err != nil || got != p {
		t.Fatalf("GetPointer: %+v, %v", got, err)
	}
	want.DDBRRU++
	check("GetPointer", want)
	if _, err := r.GetPointer(ctx, "missing"); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatal(err)
	}
	want.DDBRRU++
	check("GetPointer of a missing id", want)
	if err := r.DeletePointer(ctx, "c1", refcount.Pointer{Batch: p.Batch, Nonce: "other-nonce"}); !errors.Is(err, refcount.ErrConflict) {
		t.Fatal(err)
	}
	want.DDBWRU++
	check("DeletePointer with another nonce", want)
	q := refcount.Pointer{Batch: p.Batch + "0", Nonce: p.Nonce}
	if err := r.MovePointer(ctx, "c1", p, q); err != nil {
		t.Fatal(err)
	}
	want.DDBWRU++
	check("MovePointer", want)
	if err := r.MovePointer(ctx, "c1", p, q); !errors.Is(err, refcount.ErrConflict) {
		t.Fatal(err)
	}
	want.DDBWRU++
	check("MovePointer from the old pointer", want)
	p = q
	if err := r.DeletePointer(ctx, "c1", p); err != nil {
		t.Fatal(err)
	}
	want.DDBWRU++
	check("DeletePointer", want)
	if err := r.CreatePointer(ctx, "", p); err == nil { // invalid: nothing sent, nothing billed
		t.Fatal("CreatePointer accepted an empty id")
	}
	check("an invalid CreatePointer", want)

	long := strings.Repeat("x", 5000)
	if err := r.CreatePointer(ctx, long, p); err != nil {
		t.Fatal(err)
	}
	want.DDBWRU += 5 // 2 + 3 + 5000 + 3 + 27 + 13 = 5,048 bytes: five 1 KB units
	check("CreatePointer of a long id", want)
	if _, err := r.GetPointer(ctx, long); err != nil {
		t.Fatal(err)
	}
	want.DDBRRU += 2 // two 4 KB units, strongly consistent
	check("GetPointer of a long id", want)
	if err := r.CreatePointer(ctx, "c2", p); err != nil {
		t.Fatal(err)
	}
	want.DDBWRU++
	n := 0
	if err := r.ListPointers(ctx, func(string, refcount.Pointer) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("ListPointers: %d pointers, %v", n, err)
	}
	want.DDBRRU += 2 // one page of 5,048 + 50 bytes
	check("ListPointers", want)
}

// bucketCatalog is a catalog that keeps a file per Put in a Charging bucket, as
// catalog/parquet does.
type bucketCatalog struct {
	catalog.Backend
	b objstore.Bucket
}

func (bucketCatalog) ChargesUsage() {}

func (c bucketCatalog) Put(ctx context.Context, entries ...catalog.Entry) error {
	_, err := c.b.Put(ctx, "catalog/x", []byte("x"), objstore.PutOptions{})
	return err
}

// TestCatalog: a catalog that charges its requests is metered by them; one that keeps
// nothing in AWS (catalog/mem) costs nothing.
func TestCatalog(t *testing.T) {
	ctx := context.Background()
	now := time.UnixMilli(1764000000123)
	e := catalog.Entry{ID: "c1", Nonce: "n", CreatedAt: now, StoredAt: now}
	var total, op cost.Meter
	mem := Catalog(catmem.New(), &total)
	if err := mem.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := mem.Delete(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got := total.Usage(); got != (cost.Usage{}) {
		t.Errorf("catalog/mem: %+v, want nothing", got)
	}
	charged := Catalog(bucketCatalog{catmem.New(), Charging(objmem.New())}, &total)
	if err := charged.Put(cost.WithMeter(ctx, &op), e); err != nil {
		t.Fatal(err)
	}
	want := cost.Usage{S3PutClass: 1}
	if got := total.Parts()[cost.Catalog]; got != want {
		t.Errorf("a charging catalog's Put: %+v, want %+v", got, want)
	}
	if got := op.Usage(); got != want {
		t.Errorf("the call's meter: %+v, want %+v", got, want)
	}
}

// reporting is a reference store that reports a fixed usage for every call, as a DynamoDB
// store does from the server's figures.
type reporting struct{ refcount.Backend }

func (reporting) ItemNamespace() string { return "ns:" }

func (reporting) TableClass(context.Context) (string, error) { return cost.TableClassStandard, nil }

func (r reporting) AddRefs(ctx context.Context, owner string, segments []string, now time.Time) error {
	cost.Charge(ctx, cost.Usage{DDBWRU: 7})
	return nil
}

// TestReported: a Reporter's own figure replaces the model.
func TestReported(t *testing.T) {
	var total cost.Meter
	r := Refs(reporting{refmem.New()}, &total)
	if err := r.AddRefs(context.Background(), "o", []string{"a"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := total.Usage(); got != (cost.Usage{DDBWRU: 7}) {
		t.Errorf("%+v, want the reported 7 write units", got)
	}
}
