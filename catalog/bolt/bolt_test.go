package bolt_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/bolt"
	"github.com/stowken/stowken/catalog/catalogtest"
	rcbolt "github.com/stowken/stowken/refcount/bolt"
)

// open returns a catalog in a fresh reference-store file, as the embedded store has them.
func open(t *testing.T, path string) (*bolt.Store, *rcbolt.Store) {
	t.Helper()
	refs, err := rcbolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bolt.New(refs.DB())
	if err != nil {
		refs.Close()
		t.Fatal(err)
	}
	return s, refs
}

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Backend {
		s, refs := open(t, filepath.Join(t.TempDir(), "refs.db"))
		t.Cleanup(func() {
			if err := refs.Close(); err != nil {
				t.Error(err)
			}
		})
		return s
	})
}

// TestSharesTheReferenceFile: the catalog keeps its buckets in the reference store's file,
// survives reopening it, and its Close leaves the file open for the reference store.
func TestSharesTheReferenceFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "refs.db")
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	e := catalog.Entry{ID: "conv", Nonce: "n", Application: "app", Model: "m", StoredAt: now,
		Tokens: map[string]int64{"user": 1}, Metadata: map[string]string{"k": "v"}}

	s, refs := open(t, path)
	if err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The reference store still works after the catalog's Close.
	if err := refs.AddRefs(ctx, "owner", []string{"seg"}, now); err != nil {
		t.Fatalf("AddRefs after the catalog's Close: %v", err)
	}
	if err := refs.Close(); err != nil {
		t.Fatal(err)
	}

	s, refs = open(t, path) // New on a file that has the buckets already
	defer refs.Close()
	got, err := s.Get(ctx, "conv")
	if err != nil || got.Nonce != "n" || !got.CreatedAt.Equal(now) || got.Metadata["k"] != "v" {
		t.Fatalf("Get after reopening = %+v, %v", got, err)
	}
	page, err := s.List(ctx, catalog.Query{Model: "m"})
	if err != nil || len(page.Entries) != 1 {
		t.Fatalf("List by model after reopening = %+v, %v", page, err)
	}
	if ok, err := refs.HasRefs(ctx, "seg"); err != nil || !ok {
		t.Fatalf("HasRefs after reopening = %v, %v", ok, err)
	}
	var buckets []string
	if err := refs.DB().View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			buckets = append(buckets, string(name))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"candidates", "catalog", "catalog_by_app", "catalog_by_model", "catalog_by_time", "heads", "refs"}
	if !slices.Equal(buckets, want) {
		t.Fatalf("buckets %q, want %q", buckets, want)
	}
}

// TestReadOnly: in a file opened read-only the catalog reads, and Put and Delete fail with
// catalog.ErrReadOnly; a read-only file without the catalog's buckets is an error.
func TestReadOnly(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	bare := filepath.Join(dir, "bare.db") // a reference file without the catalog's buckets
	refs, err := rcbolt.Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	refs.Close()
	if refs, err = rcbolt.OpenReadOnly(bare); err != nil {
		t.Fatal(err)
	}
	if _, err := bolt.New(refs.DB()); err == nil {
		t.Error("New in a read-only file without the catalog's buckets succeeded")
	}
	refs.Close()

	path := filepath.Join(dir, "refs.db")
	e := catalog.Entry{ID: "conv", Nonce: "n", StoredAt: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
	s, refs := open(t, path)
	if err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	refs.Close()
	if refs, err = rcbolt.OpenReadOnly(path); err != nil {
		t.Fatal(err)
	}
	defer refs.Close()
	if s, err = bolt.New(refs.DB()); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "conv"); err != nil || got.Nonce != "n" {
		t.Fatalf("Get in a read-only file = %+v, %v", got, err)
	}
	e.ID = "other"
	if err := s.Put(ctx, e); !errors.Is(err, catalog.ErrReadOnly) {
		t.Errorf("Put in a read-only file: %v, want catalog.ErrReadOnly", err)
	}
	if err := s.Delete(ctx, "conv", ""); !errors.Is(err, catalog.ErrReadOnly) {
		t.Errorf("Delete in a read-only file: %v, want catalog.ErrReadOnly", err)
	}
}
