// Package analyze finds what a store holds beyond single conversations: groups of
// near-duplicates (Dups), clusters and outliers of conversation embeddings (Clusters), and the
// conversations that match a query (Search), over the conversations a catalog query selects.
// The algorithms are packages of their own (neardup, embed, cluster, search); this package
// gets their input from the store.
//
// Dups and Clusters work from the catalog: a store that keeps sketches (vault.Options.Sketches)
// has each conversation's MinHash signature and embedding vector in its catalog row, so they
// read the catalog's files and nothing else. A conversation whose row has none (stored before,
// or by a writer without sketches), or an analysis with other parameters than the stored
// sketches' (another shingle length, other roles, another embedder), reads the conversation
// and computes it with package sketch's functions: the result is the same either way.
// Search reads every conversation it selects (Read), and the commands check the pointers of
// the hits they show (Keep). Reading conversations (vault.TokensOf) reads their batch objects
// and segments, each once and shared, without pointer reads. docs/design.md ("Sketches and
// the analyses") has the costs on a store of 10 million conversations.
package analyze

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/sketch"
	"github.com/stowken/stowken/vault"
)

// ErrTooMany: the query selects more conversations than Options.Limit allows to read.
var ErrTooMany = errors.New("analyze: the query selects more conversations than the limit")

// DefaultLimit is Options.Limit when it is zero.
const DefaultLimit = 100_000

// Options select the conversations an analysis reads.
type Options struct {
	// Query selects them (its Limit and Cursor are ignored), in the catalog's order.
	Query catalog.Query
	// Limit is the most conversations read (0: DefaultLimit); more selected is ErrTooMany,
	// so that an analysis never silently works on a part of what was asked.
	Limit int
	// Progress, when set, is called with the conversations read so far and those selected.
	Progress func(done, total int)
}

// Doc is one conversation as an analysis reads it.
type Doc struct {
	Entry catalog.Entry
	// Roles and Tokens are its messages' roles and token ids (in Entry.Tokenizer).
	Roles  []string
	Tokens [][]int
}

// Text returns the text of the messages whose role is in roles (every message when roles is
// empty), joined by blank lines.
func (d Doc) Text(roles ...string) (string, error) {
	text, err := sketch.Text(d.Entry.Tokenizer, d.Roles, d.Tokens, roles)
	if err != nil {
		return "", fmt.Errorf("conversation %q: %w", d.Entry.ID, err)
	}
	return text, nil
}

// Select returns the catalog entries opts selects, in the catalog's order, with their
// sketches when they have any.
func Select(ctx context.Context, v *vault.Vault, opts Options) ([]catalog.Entry, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	var entries []catalog.Entry
	err := v.ListAll(ctx, opts.Query, func(e catalog.Entry) error {
		if len(entries) == limit {
			return fmt.Errorf("%w: more than %d (narrow the filters, or raise the limit)", ErrTooMany, limit)
		}
		entries = append(entries, e)
		return nil
	})
	return entries, err
}

// Read returns the conversations opts selects, in the catalog's order. A conversation deleted
// since the catalog listed it is left out.
func Read(ctx context.Context, v *vault.Vault, opts Options) ([]Doc, error) {
	entries, err := Select(ctx, v, opts)
	if err != nil {
		return nil, err
	}
	return ReadEntries(ctx, v, entries, opts.Progress)
}

// ReadEntries reads the conversations of entries (vault.TokensOf: from the batch objects the
// entries name, without pointer reads), in their order, calling progress (when not nil) with
// the conversations read so far and len(entries). A conversation not stored any more is left
// out. An entry with only an ID is read through its pointer.
func ReadEntries(ctx context.Context, v *vault.Vault, entries []catalog.Entry, progress func(done, total int)) ([]Doc, error) {
	docs := make([]Doc, len(entries))
	ok := make([]bool, len(entries))
	var mu sync.Mutex
	done := 0
	err := v.TokensOf(ctx, entries, func(i int, m *manifest.Manifest, streams [][]int) error {
		e := entries[i]
		e.Tokenizer = m.Tokenizer
		docs[i], ok[i] = Doc{Entry: e, Roles: m.Roles(), Tokens: streams}, true
		mu.Lock()
		defer mu.Unlock()
		if done++; progress != nil {
			progress(done, len(entries))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := docs[:0]
	for i, d := range docs {
		if ok[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

// sketched is what Dups and Clusters compare: a value per conversation, from its catalog row
// or computed from the conversation read.
type sketched[T any] struct {
	ids    []string // in the catalog's order, once each
	values map[string]T
	read   int // conversations read
}

// sketches returns the values of the conversations opts selects: stored(e) when it gives one,
// and for the others compute of the conversations, read (computeChunk at a time). A conversation listed
// twice (two stored copies of one id) counts once; one deleted since the listing is left out.
func sketches[T any](ctx context.Context, v *vault.Vault, opts Options, stored func(catalog.Entry) (T, bool), compute func([]Doc) ([]T, error)) (sketched[T], error) {
	var res sketched[T]
	entries, err := Select(ctx, v, opts)
	if err != nil {
		return res, err
	}
	res.values = make(map[string]T, len(entries))
	var toRead []catalog.Entry
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		res.ids = append(res.ids, e.ID)
		if val, ok := stored(e); ok {
			res.values[e.ID] = val
		} else {
			toRead = append(toRead, e)
		}
	}
	if len(toRead) == 0 {
		return res, nil
	}
	// In chunks, so that only a chunk's tokens are held at once.
	for start := 0; start < len(toRead); start += computeChunk {
		var progress func(done, total int)
		if opts.Progress != nil {
			progress = func(done, _ int) { opts.Progress(start+done, len(toRead)) }
		}
		docs, err := ReadEntries(ctx, v, toRead[start:min(len(toRead), start+computeChunk)], progress)
		if err != nil {
			return res, err
		}
		vals, err := compute(docs)
		if err != nil {
			return res, err
		}
		for i, d := range docs {
			res.values[d.Entry.ID] = vals[i]
		}
		res.read += len(docs)
	}
	res.ids = slices.DeleteFunc(res.ids, func(id string) bool { _, ok := res.values[id]; return !ok })
	return res, nil
}

// computeChunk is how many conversations sketches reads before it computes their values.
const computeChunk = 1000
