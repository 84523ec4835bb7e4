package vault

import (
	"context"
	"testing"

	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/refcount"
	refmem "github.com/stowken/stowken/refcount/mem"
)

// newMemVault returns a vault over fresh in-memory backends (bucket, references) with the
// catalog's files in the bucket, as every store keeps them; closed with the test.
func newMemVault(t testing.TB, opts Options) (*Vault, objstore.Bucket, refcount.Backend) {
	t.Helper()
	b, r := objmem.New(), refmem.New()
	opts.Bucket, opts.Refs = b, r
	if opts.Catalog == nil {
		opts.Catalog = catparquet.New(b, catparquet.Options{Now: opts.Now})
	}
	v, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, b, r
}

// readCorpus parses every conversation of a corpus file; every n-th only when every > 1.
func readCorpus(t testing.TB, path string, every int) (convs []*conversation.Conversation, lines [][]byte) {
	t.Helper()
	i := 0
	err := corpus.Lines(path, func(line []byte, n int) error {
		i++
		if every > 1 && i%every != 0 {
			return nil
		}
		c, err := conversation.Parse(line)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		convs = append(convs, c)
		lines = append(lines, append([]byte(nil), line...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return convs, lines
}

// storeAll stores the conversations in batches of 256, as stowken import does, and fails the
// test on any error.
func storeAll(t testing.TB, v *Vault, convs []*conversation.Conversation) {
	t.Helper()
	for len(convs) > 0 {
		batch := convs[:min(256, len(convs))]
		convs = convs[len(batch):]
		_, errs := v.StoreBatch(context.Background(), batch)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("store %q: %v", batch[i].ID, err)
			}
		}
	}
}

// retireAfter is how long after a StoreBatch started (with the default StoreTimeout and
// ClaimTTL) GC may retire its batch: past the writer deadline by half a claim.
const retireAfter = DefaultStoreTimeout + DefaultClaimTTL/2

// collectDeleted lets the writer deadline of every batch pass on clock, with the margin GC
// keeps, and runs GC twice: the first retires the batches none of whose conversations is
// stored, the second collects what only they used.
func collectDeleted(t testing.TB, v *Vault, clock *fakeclock.Clock) {
	t.Helper()
	clock.Advance(retireAfter)
	for range 2 {
		if _, err := v.GC(context.Background(), GCOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// batchKey is the key of the batch object that holds conversation id's manifest.
func batchKey(t testing.TB, r refcount.Backend, id string) string {
	t.Helper()
	p, err := r.GetPointer(context.Background(), id)
	if err != nil {
		t.Fatalf("pointer of %q: %v", id, err)
	}
	return manifest.BatchKey(p.Batch)
}

// zstdOf is data as one zstd frame, as batch objects are stored.
func zstdOf(t testing.TB, data []byte) []byte {
	t.Helper()
	z, err := codec.NewZstd(codec.LevelDocuments, 0, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	return z.Compress(data)
}
