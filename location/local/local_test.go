package local

import (
	"bytes"
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/testenv"
	"github.com/stowken/stowken/vault"
)

// TestReadOnlyLocal: read-only opens of a local store share it, read it, refuse every write
// with ErrReadOnly, and leave every file of the store as it was; a read-only open where there
// is no store fails and creates nothing.
func TestReadOnlyLocal(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "store")
	if _, err := Open(ctx, dir, vault.Options{ReadOnly: true}); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("read-only open of a missing store: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("the read-only open created the directory: %v", err)
	}

	v, err := Open(ctx, dir, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &conversation.Conversation{ID: "x", Tokenizer: "cl100k_base", Messages: []conversation.Message{{Role: "user", Content: strings.Repeat("a local store holds this message; ", 40)}}}
	if _, err := v.Store(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	before := testenv.Files(t, dir)

	r1, err := Open(ctx, dir, vault.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(ctx, dir, vault.Options{ReadOnly: true}) // held together with r1
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*vault.Vault{r1, r2} {
		if got, err := r.Retrieve(ctx, "x"); err != nil || got.Messages[0].Content != c.Messages[0].Content {
			t.Fatalf("Retrieve through a read-only vault: %v", err)
		}
		if page, err := r.List(ctx, catalog.Query{}); err != nil || len(page.Entries) != 1 {
			t.Fatalf("List through a read-only vault: %+v, %v", page, err)
		}
	}
	d := &conversation.Conversation{ID: "y", Tokenizer: "cl100k_base", Messages: []conversation.Message{{Role: "user", Content: "new"}}}
	_, storeErr := r1.Store(ctx, d)
	_, batchErrs := r1.StoreBatch(ctx, []*conversation.Conversation{d})
	_, gcErr := r1.GC(ctx, vault.GCOptions{})
	_, verifyErr := r1.Verify(ctx, vault.VerifyOptions{Repair: true})
	for name, err := range map[string]error{"Store": storeErr, "StoreBatch": batchErrs[0],
		"Delete": r1.Delete(ctx, "x"), "GC": gcErr, "Verify with Repair": verifyErr} {
		if !errors.Is(err, vault.ErrReadOnly) {
			t.Errorf("%s through a read-only vault: %v, want vault.ErrReadOnly", name, err)
		}
	}
	if _, err := r2.GC(ctx, vault.GCOptions{DryRun: true}); err != nil {
		t.Errorf("dry-run GC through a read-only vault: %v", err)
	}
	if rep, err := r2.Verify(ctx, vault.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("Verify through a read-only vault: %+v, %v", rep, err)
	}
	if err := errors.Join(r1.Close(), r2.Close()); err != nil {
		t.Fatal(err)
	}

	// A read-write open of the existing store that writes nothing leaves it as it was too.
	if v, err = Open(ctx, dir, vault.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	after := testenv.Files(t, dir)
	if len(after) != len(before) {
		t.Errorf("the store had %d files, now %d", len(before), len(after))
	}
	for name, data := range before {
		if !bytes.Equal(after[name], data) {
			t.Errorf("%s changed", name)
		}
	}
}
