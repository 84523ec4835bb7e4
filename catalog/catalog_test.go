package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/mem"
)

func TestSize(t *testing.T) {
	e := catalog.Entry{ID: "conv-1", Nonce: "n", Tokens: map[string]int64{"user": 3}, Metadata: map[string]string{"k": "v"}}
	if got, want := e.Size(), 6+1+4*8+4+8+2; got != want {
		t.Fatalf("Size = %d, want %d", got, want)
	}
	if got := (catalog.Entry{Tokens: map[string]int64{"user": 3, "assistant": 9}}).TotalTokens(); got != 12 {
		t.Fatalf("TotalTokens = %d", got)
	}
}

// pager wraps a store and records the queries ListAll sends.
type pager struct {
	catalog.Backend
	queries []catalog.Query
	fail    error
}

func (p *pager) List(ctx context.Context, q catalog.Query) (catalog.Page, error) {
	p.queries = append(p.queries, q)
	if p.fail != nil && len(p.queries) == 2 {
		return catalog.Page{}, p.fail
	}
	return p.Backend.List(ctx, q)
}

func TestListAllPages(t *testing.T) {
	ctx := t.Context()
	s := mem.New()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 2*catalog.MaxLimit + 5
	for i := range n {
		if err := s.Put(ctx, catalog.Entry{ID: fmt.Sprintf("c%05d", i), StoredAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	p := &pager{Backend: s}
	var ids []string
	err := catalog.ListAll(ctx, p, catalog.Query{Oldest: true, Limit: 3, Cursor: "ignored"}, func(e catalog.Entry) error {
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n || ids[0] != "c00000" || ids[n-1] != fmt.Sprintf("c%05d", n-1) {
		t.Fatalf("ListAll: %d ids from %s to %s", len(ids), ids[0], ids[len(ids)-1])
	}
	if len(p.queries) != 3 {
		t.Fatalf("ListAll sent %d List calls, want 3 pages of MaxLimit", len(p.queries))
	}
	for i, q := range p.queries {
		if q.Limit != catalog.MaxLimit || (i == 0) != (q.Cursor == "") || !q.Oldest {
			t.Errorf("List call %d: %+v", i, q)
		}
	}

	boom := errors.New("boom")
	p = &pager{Backend: s, fail: boom}
	calls := 0
	err = catalog.ListAll(ctx, p, catalog.Query{}, func(catalog.Entry) error { calls++; return nil })
	if !errors.Is(err, boom) || calls != catalog.MaxLimit {
		t.Fatalf("ListAll with a failing second page: %v after %d entries", err, calls)
	}
}
