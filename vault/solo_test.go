package vault

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/fakeclock"
	objmem "github.com/stowken/stowken/objstore/mem"
	reffaulty "github.com/stowken/stowken/refcount/faulty"
	refmem "github.com/stowken/stowken/refcount/mem"
)

// listedIDs lists the whole catalog through v, oldest first, failing on a duplicate.
func listedIDs(t *testing.T, v *Vault) []string {
	t.Helper()
	var out []string
	if err := v.ListAll(context.Background(), catalog.Query{Oldest: true}, func(e catalog.Entry) error {
		out = append(out, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(out); i++ {
		if slices.Contains(out[:i], out[i]) {
			t.Fatalf("listed %q twice: %v", out[i], out)
		}
	}
	return out
}

// catalogFiles counts the catalog's files in the bucket.
func catalogFiles(t *testing.T, v *Vault) int {
	t.Helper()
	return len(listKeys(t, v.bucket, catalog.FilePrefix))
}

// TestSoloCatalog: a conversation stored alone writes no catalog file; it is listed (and
// counted by Stats) from its batch object and pointer until GC, past its writer deadline,
// gathers its entry into the catalog's files; deleted before, it is neither listed nor
// gathered; each entry is listed once, before and after, and gathered once.
func TestSoloCatalog(t *testing.T) {
	ctx := context.Background()
	clock := &fakeclock.Clock{}
	v, _, _ := newMemVault(t, Options{Now: clock.Now})
	for i := range 3 {
		if _, err := v.Store(ctx, catalogConv(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := catalogFiles(t, v); n != 0 {
		t.Fatalf("%d catalog files after three Stores; want none", n)
	}
	if _, errs := v.StoreBatch(ctx, []*conversation.Conversation{catalogConv(3), catalogConv(4)}); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	want := []string{"id-00", "id-01", "id-02", "id-03", "id-04"}
	if got := listedIDs(t, v); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	// The entry of a conversation stored alone is the one the catalog would hold.
	page, err := v.List(ctx, catalog.Query{Application: "b", Model: "m2", Limit: 1})
	if err != nil || len(page.Entries) != 1 || page.Entries[0].ID != "id-01" {
		t.Fatalf("filtered list: %v, %v", page, err)
	}
	m, err := v.Manifest(ctx, "id-01")
	if err != nil {
		t.Fatal(err)
	}
	if e := page.Entries[0]; e.Nonce != m.Nonce || e.Messages != 3 || e.Metadata["team"] != "x" || e.StoredBytes <= m.Totals.SegmentBytes ||
		!e.CreatedAt.Equal(catalogConv(1).CreatedAt) {
		t.Fatalf("entry %+v of manifest %+v", e, m)
	}
	if st, err := v.Stats(ctx, StatsOptions{}); err != nil || st.Conversations != 5 {
		t.Fatalf("stats: %d conversations, %v; want 5", st.Conversations, err)
	}
	if err := v.Delete(ctx, "id-02"); err != nil {
		t.Fatal(err)
	}
	want = []string{"id-00", "id-01", "id-03", "id-04"}
	if got := listedIDs(t, v); !slices.Equal(got, want) {
		t.Fatalf("after deleting id-02: listed %v, want %v", got, want)
	}

	// Before the writer deadline has passed by ClaimTTL/2, GC gathers nothing.
	if rep, err := v.GC(ctx, GCOptions{Grace: time.Hour}); err != nil || rep.Gathered != 0 {
		t.Fatalf("gc right away: %+v, %v; want nothing gathered", rep, err)
	}
	clock.Advance(retireAfter)
	// The grace keeps id-02's batch object, which GC would delete: its pointer keeps it out.
	if rep, err := v.GC(ctx, GCOptions{Grace: time.Hour}); err != nil || rep.Gathered != 2 {
		t.Fatalf("gc past the deadline: %+v, %v; want id-00 and id-01 gathered", rep, err)
	}
	if extra, err := v.ungathered(ctx); err != nil || len(extra) != 0 {
		t.Fatalf("entries not gathered after gathering: %v, %v", extra, err)
	}
	if got := listedIDs(t, v); !slices.Equal(got, want) {
		t.Fatalf("after gathering: listed %v, want %v", got, want)
	}
	// Only what is stored later is read, and gathered, afterwards.
	if _, err := v.Store(ctx, catalogConv(5)); err != nil {
		t.Fatal(err)
	}
	if extra, err := v.ungathered(ctx); err != nil || len(extra) != 1 || extra[0].ID != "id-05" {
		t.Fatalf("entries not gathered: %v, %v; want id-05's", ids(extra), err)
	}
	clock.Advance(retireAfter)
	if rep, err := v.GC(ctx, GCOptions{}); err != nil || rep.Gathered != 1 {
		t.Fatalf("gc: %+v, %v; want id-05 gathered", rep, err)
	}
	if got, want := listedIDs(t, v), append(want, "id-05"); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if rep, err := v.Verify(ctx, VerifyOptions{MinAge: time.Nanosecond}); err != nil || !rep.OK() || rep.MissingCatalogEntries+rep.StaleCatalogEntries != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

// TestSoloGatherWaitsForPublish: GC gathers no conversation stored alone whose Store may still
// write its pointer: were it to move its mark past such a batch object, the conversation,
// published after, would never be listed.
func TestSoloGatherWaitsForPublish(t *testing.T) {
	ctx := context.Background()
	clock := &fakeclock.Clock{}
	b, refs := objmem.New(), reffaulty.New(refmem.New())
	v, err := New(ctx, Options{Bucket: b, Refs: refs, Catalog: catparquet.New(b, catparquet.Options{Now: clock.Now}), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Store(ctx, catalogConv(0)); err != nil { // an earlier one, to gather
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	reached, release := make(chan *reffaulty.Call, 1), make(chan struct{})
	refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "id-01"), Reached: reached, Wait: release})
	stored := goDo(func() (StoreResult, error) { return v.Store(ctx, catalogConv(1)) })
	recv(t, reached)
	clock.Advance(retireAfter - 30*time.Second) // id-00 is past, id-01 not
	if rep, err := v.GC(ctx, GCOptions{}); err != nil || rep.Gathered != 1 {
		t.Fatalf("gc while id-01's pointer write is held: %+v, %v; want id-00 gathered", rep, err)
	}
	close(release)
	if r := recv(t, stored); r.err != nil {
		t.Fatal(r.err)
	}
	if got := listedIDs(t, v); !slices.Equal(got, []string{"id-00", "id-01"}) {
		t.Fatalf("listed %v, want id-00 and id-01", got)
	}
	clock.Advance(time.Minute)
	if rep, err := v.GC(ctx, GCOptions{}); err != nil || rep.Gathered != 1 {
		t.Fatalf("gc: %+v, %v; want id-01 gathered", rep, err)
	}
	if got := listedIDs(t, v); !slices.Equal(got, []string{"id-00", "id-01"}) {
		t.Fatalf("listed %v, want id-00 and id-01", got)
	}
}

// TestSoloGatherAfterDelete: a Delete between GC's read of a conversation's pointer and its
// write of the entry (race (p), for a gathered entry): the deleted conversation is not listed.
func TestSoloGatherAfterDelete(t *testing.T) {
	ctx := context.Background()
	clock := &fakeclock.Clock{}
	b := objmem.New()
	cat := &deletingCatalog{Backend: catparquet.New(b, catparquet.Options{Now: clock.Now})}
	v, err := New(ctx, Options{Bucket: b, Refs: refmem.New(), Catalog: cat, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cat.v = v
	if _, err := v.Store(ctx, catalogConv(1)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(retireAfter)
	if _, err := v.GC(ctx, GCOptions{Grace: time.Hour}); err != nil || cat.err != nil {
		t.Fatalf("gc: %v; the racing delete: %v", err, cat.err)
	}
	if _, err := v.Retrieve(ctx, "id-01"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the deleted conversation: %v, want ErrNotFound", err)
	}
	if got := listedIDs(t, v); len(got) != 0 {
		t.Fatalf("listed %v after the racing delete, want nothing", got)
	}
}
