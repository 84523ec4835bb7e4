package vault

import (
	"context"
	"testing"

	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
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
