package union_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/mem"
	"github.com/stowken/stowken/catalog/union"
)

// TestListAsOne: listing a backend and extra entries page by page, for every query, order and
// page size, gives what one backend holding all of them lists: each entry once (those in both
// included), in order, every page with the backend's cursors.
func TestListAsOne(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	var all []catalog.Entry
	for i := range 300 {
		all = append(all, catalog.Entry{
			ID: fmt.Sprintf("c-%03d", i), Nonce: fmt.Sprintf("%012x", i), Application: []string{"a", "b", "c"}[r.IntN(3)],
			CreatedAt: t0.Add(time.Duration(r.IntN(50)) * time.Minute), // many share a time
			StoredAt:  t0, Messages: 1,
		})
	}
	b, one := mem.New(), mem.New()
	var extra []catalog.Entry
	for i, e := range all {
		switch i % 3 {
		case 0:
			extra = append(extra, e)
		case 1:
			extra = append(extra, e) // in both
			fallthrough
		default:
			if err := b.Put(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := one.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	extra = append(extra, catalog.Entry{ID: "", StoredAt: t0}) // invalid: left out
	queries := []catalog.Query{{}, {Oldest: true}, {Application: "b"}, {Application: "c", Oldest: true},
		{Since: t0.Add(10 * time.Minute), Until: t0.Add(30 * time.Minute)}}
	for _, q := range queries {
		for _, limit := range []int{1, 7, 100, 1000} {
			q.Limit = limit
			want := listAll(t, q, func(q catalog.Query) (catalog.Page, error) { return one.List(ctx, q) })
			got := listAll(t, q, func(q catalog.Query) (catalog.Page, error) { return union.List(ctx, b, extra, q) })
			if !slices.Equal(got, want) {
				t.Errorf("query %+v: listed %d entries %v…, want %d %v…", q, len(got), got[:min(len(got), 5)], len(want), want[:min(len(want), 5)])
			}
		}
	}
	// Extra entries none of which a query selects: the backend's pages, cursors included.
	var onlyA []catalog.Entry
	for _, e := range extra {
		if e.Application == "a" {
			onlyA = append(onlyA, e)
		}
	}
	q := catalog.Query{Application: "b", Limit: 10}
	if got, want := listAll(t, q, func(q catalog.Query) (catalog.Page, error) { return union.List(ctx, b, onlyA, q) }),
		listAll(t, q, func(q catalog.Query) (catalog.Page, error) { return b.List(ctx, q) }); !slices.Equal(got, want) {
		t.Errorf("no extra entry selected: listed %d entries, want the backend's %d", len(got), len(want))
	}
	// A cursor of another query is refused, as by the backend.
	page, err := union.List(ctx, b, extra, catalog.Query{Limit: 5})
	if err != nil || page.Next == "" {
		t.Fatal(page, err)
	}
	if _, err := union.List(ctx, b, extra, catalog.Query{Limit: 5, Oldest: true, Cursor: page.Next}); !errors.Is(err, catalog.ErrInvalidCursor) {
		t.Errorf("a cursor of another order: %v, want ErrInvalidCursor", err)
	}
}

// listAll follows the cursor and returns "ID/Nonce" of every entry listed.
func listAll(t *testing.T, q catalog.Query, list func(catalog.Query) (catalog.Page, error)) []string {
	t.Helper()
	var out []string
	for {
		page, err := list(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) > q.Limit {
			t.Fatalf("a page of %d entries, limit %d", len(page.Entries), q.Limit)
		}
		for _, e := range page.Entries {
			out = append(out, e.ID+"/"+e.Nonce)
		}
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

func TestCheck(t *testing.T) {
	if err := union.Check(catalog.Entry{ID: "x", StoredAt: time.Now()}); err != nil {
		t.Error(err)
	}
	if err := union.Check(catalog.Entry{ID: "x\x00", StoredAt: time.Now()}); !errors.Is(err, catalog.ErrInvalidEntry) {
		t.Errorf("a NUL in the id: %v, want ErrInvalidEntry", err)
	}
}

// TestWith: With lists as List does, and passes everything else to the backend.
func TestWith(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	now := time.Now()
	if err := b.Put(ctx, catalog.Entry{ID: "in", StoredAt: now}); err != nil {
		t.Fatal(err)
	}
	w := union.With(b, []catalog.Entry{{ID: "extra", StoredAt: now.Add(time.Second)}})
	var ids []string
	if err := catalog.ListAll(ctx, w, catalog.Query{}, func(e catalog.Entry) error { ids = append(ids, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"extra", "in"}) {
		t.Errorf("listed %q, want extra then in", ids)
	}
	if _, err := w.Get(ctx, "extra"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Get of an extra entry: %v, want the backend's ErrNotFound", err)
	}
}
