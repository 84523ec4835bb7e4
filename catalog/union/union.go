// Package union lists a catalog backend and entries kept elsewhere as one catalog, with the
// backend's order, filters and cursors. The vault keeps the entries of conversations stored
// alone in their batch objects until GC gathers them into the catalog's files, and lists
// both with List.
package union

import (
	"context"
	"slices"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/internal/rules"
)

// List returns the page of q over b's entries and extra, as b.List would if b held extra too:
// ordered by (CreatedAt, ID), filtered, cut at q.Limit, with a cursor that continues both. An
// entry of extra that b holds too (the same ID and Nonce) is listed once. Entries of extra are
// returned as a backend keeps them (Check); an invalid one is left out. It costs b.List.
func List(ctx context.Context, b catalog.Backend, extra []catalog.Entry, q catalog.Query) (catalog.Page, error) {
	page, err := b.List(ctx, q)
	if err != nil || len(extra) == 0 {
		return page, err
	}
	p, err := rules.NewPlan(q)
	if err != nil {
		return catalog.Page{}, err
	}
	type copyKey struct{ id, nonce string }
	seen := map[copyKey]bool{}
	merged := slices.Clone(page.Entries)
	for _, e := range merged {
		seen[copyKey{e.ID, e.Nonce}] = true
	}
	for _, e := range extra {
		e, err := rules.Normalize(e)
		if err != nil || !p.Match(e) || seen[copyKey{e.ID, e.Nonce}] {
			continue
		}
		seen[copyKey{e.ID, e.Nonce}] = true
		merged = append(merged, e)
	}
	slices.SortStableFunc(merged, func(x, y catalog.Entry) int {
		switch {
		case p.Before(x, y):
			return -1
		case p.Before(y, x):
			return 1
		}
		return 0
	})
	// The page's first Limit entries come before b's next page, whose entries all follow the
	// last of b's page: the merged page ends there at the latest, and continues from there
	// when it holds no extra entry.
	if page.Next != "" && len(merged) == p.Limit {
		return catalog.Page{Entries: merged, Next: page.Next}, nil
	}
	return p.Page(merged), nil
}

// With returns b with extra: its List is List over both, its other methods b's.
func With(b catalog.Backend, extra []catalog.Entry) catalog.Backend { return with{b, extra} }

type with struct {
	catalog.Backend
	extra []catalog.Entry
}

func (w with) List(ctx context.Context, q catalog.Query) (catalog.Page, error) {
	return List(ctx, w.Backend, w.extra, q)
}

// Check returns nil if every backend can keep e, and an error wrapping
// catalog.ErrInvalidEntry, which names what is wrong, if none can.
func Check(e catalog.Entry) error {
	_, err := rules.Normalize(e)
	return err
}
