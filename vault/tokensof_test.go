package vault

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/manifest"
)

// TestTokensOf: TokensOf reads what the catalog's entries summarize from their batch objects,
// without pointer reads; once GC has moved the conversations and deleted the batch object, it
// reads them through their pointers; an entry whose copy is deleted, or replaced by another
// copy, is skipped once its batch object is gone; and an entry with only an ID is read through
// its pointer. Stored tells a deleted copy's entry from a stored one's.
func TestTokensOf(t *testing.T) {
	ctx := context.Background()
	clock := &fakeclock.Clock{}
	v, _, _ := newMemVault(t, Options{Now: clock.Now})
	var convs []*conversation.Conversation
	for i := range 4 {
		convs = append(convs, catalogConv(i))
	}
	if _, errs := v.StoreBatch(ctx, convs); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	var entries []catalog.Entry // as listed before the deletions below
	if err := v.ListAll(ctx, catalog.Query{Oldest: true}, func(e catalog.Entry) error { entries = append(entries, e); return nil }); err != nil {
		t.Fatal(err)
	}
	old := entries[0].Batch
	if len(entries) != 4 || old == "" || entries[3].Batch != old {
		t.Fatalf("entries %+v; want 4 naming their batch", entries)
	}
	// id-02 is deleted; id-03 is deleted and stored again, in another batch.
	for _, id := range []string{"id-02", "id-03"} {
		if err := v.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Store(ctx, catalogConv(3)); err != nil {
		t.Fatal(err)
	}
	read := func(entries []catalog.Entry) (got []string, gets float64) {
		t.Helper()
		before := v.Usage()
		var mu sync.Mutex
		err := v.TokensOf(ctx, entries, func(i int, m *manifest.Manifest, streams [][]int) error {
			want := catalogConv(map[string]int{"id-00": 0, "id-01": 1, "id-02": 2, "id-03": 3}[m.ID])
			if m.ID != entries[i].ID || len(streams) != len(want.Messages) || len(streams[1]) == 0 {
				t.Errorf("entry %d (%s): read %s with %d messages", i, entries[i].ID, m.ID, len(streams))
			}
			mu.Lock()
			defer mu.Unlock()
			got = append(got, m.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got, v.Usage().Sub(before).DDBRRU
	}
	// Before GC, every entry listed is read from the batch object, deleted ones included:
	// Stored tells them apart.
	if got, rru := read(entries); !slices.Equal(got, []string{"id-00", "id-01", "id-02", "id-03"}) || rru != 0 {
		t.Fatalf("before GC: read %v with %v read units; want all four from the batch object, no pointer read", got, rru)
	}
	for _, e := range entries {
		stored, err := v.Stored(ctx, e)
		if err != nil || stored != (e.ID == "id-00" || e.ID == "id-01") {
			t.Errorf("Stored(%s) = %v, %v", e.ID, stored, err)
		}
	}
	// GC moves id-00 and id-01 to a new batch, and deletes the old batch object.
	clock.Advance(retireAfter)
	for range 2 {
		if _, err := v.GC(ctx, GCOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.readBatch(ctx, old); !errors.Is(err, ErrMissingSegment) {
		t.Fatalf("the old batch object: %v; want it deleted", err)
	}
	if got, rru := read(entries); !slices.Equal(got, []string{"id-00", "id-01"}) || rru == 0 {
		t.Fatalf("after GC: read %v with %v read units; want id-00 and id-01 through their pointers", got, rru)
	}
	if got, _ := read([]catalog.Entry{{ID: "id-01"}, {ID: "id-03"}, {ID: "id-02"}}); !slices.Equal(got, []string{"id-01", "id-03"}) {
		t.Fatalf("entries with only an ID: read %v; want id-01 and id-03", got)
	}
}
