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

	c := Catalog(catmem.New(), &total)
	e := catalog.Entry{ID: "c1", Nonce: "n", Application: "app", Model: "m", Tokenizer: "cl100k_base", CreatedAt: now, StoredAt: now, Messages: 1}
	if err := c.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "c1", "n"); err != nil {
		t.Fatal(err)
	}
	units := ddbitem.WriteUnits(ddbitem.Catalog("", e)) // the table and three indexes
	if units != 4 {
		t.Fatalf("a small catalog item in three indexes costs %v write units", units)
	}
	if got := total.Parts()[cost.Catalog]; got.DDBWRU != 2*units || got.DDBRRU != 0 {
		t.Errorf("catalog put and delete: %+v, want %v write units and no read (the model's own read is free)", got, 2*units)
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
