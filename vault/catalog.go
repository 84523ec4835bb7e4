package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/union"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/sketch"
)

// The catalog holds a summary of every stored conversation (catalog.Entry), so that listing,
// statistics and exports read summaries instead of every manifest. The pointers stay the
// truth: StoreBatch writes the entries after the pointers (a Store leaves its entry in its
// batch object for GC to gather: solo.go), Delete removes an entry after the pointer, and a
// crash in between leaves the catalog behind until Verify with Repair reconciles them (or, for
// a StoreBatch, until the same conversation is stored again).

// Limits on the metadata a catalog entry carries: top-level scalars only, with keys and values
// of at most these many bytes; longer ones are left out of the entry (the manifest keeps them).
const (
	maxCatalogMetaKey   = 128
	maxCatalogMetaValue = 256
)

// catalogEntry summarizes m, whose share of its batch object is manifestBytes.
func catalogEntry(m *manifest.Manifest, manifestBytes int64) *catalog.Entry {
	e := &catalog.Entry{
		ID: m.ID, Nonce: m.Nonce, Batch: m.Batch, Application: m.Application, Model: m.Model, Tokenizer: m.Tokenizer,
		StoredAt: time.UnixMilli(m.StoredAt).UTC(), Messages: len(m.Messages),
		StoredBytes: manifestBytes + m.Totals.SegmentBytes,
	}
	if t, err := time.Parse(time.RFC3339Nano, m.CreatedAt); err == nil {
		e.CreatedAt = t
	}
	for _, msg := range m.Messages {
		if e.Tokens == nil {
			e.Tokens = map[string]int64{}
		}
		e.Tokens[msg.Role] += int64(msg.Tokens)
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(m.Metadata, &meta) == nil {
		for k, raw := range meta {
			v, ok := metadataScalar(raw)
			if ok && k != "" && len(k) <= maxCatalogMetaKey && len(v) <= maxCatalogMetaValue && utf8.ValidString(k) {
				if e.Metadata == nil {
					e.Metadata = map[string]string{}
				}
				e.Metadata[k] = v
			}
		}
	}
	return e
}

// metadataScalar returns a JSON scalar as the catalog keeps it: a string as it is, a number or
// boolean as its JSON text. Null, objects and arrays are not kept.
func metadataScalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err == nil && !strings.ContainsRune(s, 0)
	case '{', '[', 'n':
		return "", false
	default:
		return string(raw), true
	}
}

// putCatalog writes the catalog entries of the stored conversations of one Store or
// StoreBatch, in one call (catalog/parquet writes them as one file per day). Its requests
// count for the first of them. When it fails, each of them fails with an error that says it
// is stored.
func (v *Vault) putCatalog(ctx context.Context, ps []*pendingStore) {
	if v.catalog == nil {
		return
	}
	var stored []*pendingStore
	for _, p := range ps {
		if p.err == nil && p.entry != nil {
			stored = append(stored, p)
		}
	}
	if len(stored) == 0 {
		return
	}
	first := stored[0]
	entries := make([]catalog.Entry, len(stored))
	for i, p := range stored {
		entries[i] = *p.entry
	}
	if v.sketches {
		// CPU only: every conversation's tokens are in memory.
		_ = forEach(ctx, len(stored), runtime.GOMAXPROCS(0), func(_ context.Context, i int) error {
			v.addSketches(&entries[i], stored[i].plan.manifest, stored[i].plan.streams)
			return nil
		})
	}
	if err := v.catalog.Put(cost.WithMeter(ctx, &first.ops), entries...); err != nil {
		for _, p := range ps {
			if p.err == nil && p.entry != nil {
				p.err = fmt.Errorf("vault: %q is stored, but its catalog entry was not written (verify --repair writes it): %w", p.c.ID, err)
			}
		}
	}
}

// addSketches writes the sketches of the conversation m into its entry e, from its messages'
// tokens. It cannot fail for a conversation that was stored; if it did, e is complete without
// them (an analysis computes what is missing), and the failure is logged.
func (v *Vault) addSketches(e *catalog.Entry, m *manifest.Manifest, streams [][]int) {
	sig, vec, err := sketch.Compute(m.Tokenizer, m.Roles(), streams)
	if err != nil {
		v.log.Warn("catalog: sketches not computed; the entry is written without them", "id", m.ID, "err", err)
		return
	}
	e.Signature, e.Vector = sig, vec
}

// checkSoloEntry fails a conversation stored alone whose catalog entry no catalog could keep,
// as putCatalog fails one whose entry the catalog refused: GC could not gather it.
func checkSoloEntry(p *pendingStore) {
	if p.err != nil || p.entry == nil {
		return
	}
	if err := union.Check(*p.entry); err != nil {
		p.err = fmt.Errorf("vault: %q is stored, but the catalog cannot keep its entry: %w", p.c.ID, err)
	}
}

// errStop ends a listing early.
var errStop = errors.New("stop")

// CatalogBehind reports whether the catalog lists no conversation while conversations are
// stored: a crash left every entry out, which Verify with Repair writes (stowken verify
// --repair --min-age 10m). It costs a catalog listing and a read of the reference store.
func (v *Vault) CatalogBehind(ctx context.Context) (bool, error) {
	page, err := v.List(ctx, catalog.Query{Limit: 1})
	if err != nil || len(page.Entries) > 0 {
		return false, err
	}
	found := false
	err = v.refs.ListPointers(ctx, func(string, refcount.Pointer) error {
		found = true
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, fmt.Errorf("vault: list pointers: %w", err)
	}
	return found, nil
}

// List returns a page of the catalog: summaries of stored conversations matching q, newest
// first unless q.Oldest (see catalog.Query for filters, limits and cursors). It reads the
// catalog, and the entries of the conversations stored alone that GC has not gathered into it
// yet (solo.go), so its cost follows the page and those, not the size of the store. An entry
// whose conversation was deleted by a Delete that failed half-way is listed until Verify
// repairs it.
func (v *Vault) List(ctx context.Context, q catalog.Query) (catalog.Page, error) {
	if v.catalog == nil {
		return catalog.Page{}, ErrNoCatalog
	}
	extra, err := v.ungathered(ctx)
	if err != nil {
		return catalog.Page{}, fmt.Errorf("vault: list: %w", err)
	}
	page, err := union.List(ctx, v.catalog, extra, q)
	if err != nil {
		return page, fmt.Errorf("vault: list: %w", err)
	}
	return page, nil
}

// ListAll calls fn for every catalog entry matching q (its Limit and Cursor are ignored),
// those not gathered yet included (List).
func (v *Vault) ListAll(ctx context.Context, q catalog.Query, fn func(catalog.Entry) error) error {
	if v.catalog == nil {
		return ErrNoCatalog
	}
	extra, err := v.ungathered(ctx)
	if err != nil {
		return fmt.Errorf("vault: list: %w", err)
	}
	return catalog.ListAll(ctx, union.With(v.catalog, extra), q, fn)
}
