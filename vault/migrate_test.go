package vault

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/refcount"
	refmem "github.com/stowken/stowken/refcount/mem"
)

// toOldLayout rewrites the store as a stowken before batches kept it: each conversation's
// manifest an object of its own, its references owned by the conversation's copy, no
// pointers, no batch objects.
func toOldLayout(t *testing.T, v *Vault, ids []string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		m, err := v.readManifest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		data, err := v.manifests.Encode(m, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.bucket.Put(ctx, manifest.Key(id), data, objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := v.refs.AddRefs(ctx, m.LegacyOwner(), m.Segments(), v.now()); err != nil {
			t.Fatal(err)
		}
		if err := v.refs.DeletePointer(ctx, id, refcount.Pointer{Batch: m.Batch, Nonce: m.Nonce}); err != nil {
			t.Fatal(err)
		}
	}
	err := v.refs.ListRefs(ctx, func(r refcount.Ref) error {
		if manifest.IsBatchID(r.Owner) {
			return v.refs.RemoveRefs(ctx, r.Owner, []string{r.Segment})
		}
		return nil
	})
	if err == nil {
		err = v.bucket.List(ctx, manifest.BatchPrefix, func(a objstore.Attrs) error { return v.bucket.Delete(ctx, a.Key) })
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrate: a store in the layout before batches is refused, read or written, with a
// message naming the migration; Migrate moves every conversation into batches (each retrieves
// exactly, listed once in the catalog), leaves no old manifest and no old reference, and runs
// again as a no-op; the store then opens, verifies clean, and its segments survive GC.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	clock := &fakeclock.Clock{}
	b, r := objmem.New(), refmem.New()
	open := func(opts Options) (*Vault, error) {
		opts.Bucket, opts.Refs, opts.Now = b, r, clock.Now
		opts.Catalog = catparquet.New(b, catparquet.Options{Now: clock.Now})
		return New(ctx, opts)
	}
	v, err := open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var convs []*conversation.Conversation
	var ids []string
	var lines [][]byte
	for i := range 7 {
		c := &conversation.Conversation{ID: fmt.Sprintf("old-%d", i), Tokenizer: "cl100k_base", Application: "app",
			Messages: []conversation.Message{{Role: "system", Content: words(5, 600)}, {Role: "user", Content: words(100+i, 300)}}}
		line, err := conversation.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		convs, ids, lines = append(convs, c), append(ids, c.ID), append(lines, line)
	}
	storeAll(t, v, convs)
	toOldLayout(t, v, ids) // v is left open: closing it would close the shared backends

	for _, readOnly := range []bool{false, true} {
		if _, err := open(Options{ReadOnly: readOnly}); !errors.Is(err, ErrOldLayout) {
			t.Fatalf("open of an old store (read-only %v): %v, want ErrOldLayout", readOnly, err)
		}
	}
	m, err := open(Options{Migrate: true, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var progress []int
	rep, err := m.Migrate(ctx, 3, func(done, total int) { progress = append(progress, done*100+total) })
	if err != nil || rep.Moved != len(ids) || rep.Failed != 0 {
		t.Fatalf("migrate: %+v, %v", rep, err)
	}
	if fmt.Sprint(progress) != "[307 607 707]" {
		t.Errorf("progress %v, want 3, 6 and 7 of 7", progress)
	}
	if rep, err := m.Migrate(ctx, 3, nil); err != nil || rep.Moved != 0 || rep.Failed != 0 {
		t.Fatalf("migrate again: %+v, %v; want nothing to do", rep, err)
	}

	after, err := open(Options{})
	if err != nil {
		t.Fatalf("open after the migration: %v", err)
	}
	defer after.Close()
	checkRoundTrip(t, after, convs, lines)
	var listed int
	if err := after.ListAll(ctx, catalog.Query{}, func(catalog.Entry) error { listed++; return nil }); err != nil || listed != len(ids) {
		t.Fatalf("catalog lists %d conversations (%v), want %d", listed, err, len(ids))
	}
	if err := after.refs.ListRefs(ctx, func(r refcount.Ref) error {
		if !manifest.IsBatchID(r.Owner) {
			t.Errorf("reference of %s left by the old layout", r.Owner)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(48 * time.Hour)
	if rep, err := after.Verify(ctx, VerifyOptions{Repair: true}); err != nil || !rep.OK() || rep.LeakedRefs+rep.LeakedObjects != 0 {
		t.Fatalf("verify after the migration: %+v, %v", rep, err)
	}
	for range 2 {
		if _, err := after.GC(ctx, GCOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	checkRoundTrip(t, after, convs, lines)
}
