package meter

import (
	"context"
	"errors"
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
