// Package analyze finds what a store holds beyond single conversations: groups of
// near-duplicates (Dups), clusters and outliers of conversation embeddings (Cluster), and the
// conversations that match a query (Search), over the conversations a catalog query selects.
// The algorithms are packages of their own (neardup, embed, cluster, search); this package
// reads the conversations for them.
//
// Each analysis reads every conversation it selects, in parallel, from its batch object and
// segments (vault.Tokens: token ids, not text, so nothing is tokenized again), about what a
// Retrieve of each costs: per conversation a read unit and, shared with the batch and cached,
// its batch object and packs. That is the way for the thousands to hundreds of thousands of
// conversations a filter selects; docs/plan-search-and-dedup.md has the plan for stores where
// it is not (signatures and vectors kept with the catalog's rows), and says where a user should
// go past it.
package analyze

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/tokenizer"
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
	tok, err := tokenizer.Get(d.Entry.Tokenizer)
	if err != nil {
		return "", err
	}
	var parts []string
	for i, ids := range d.Tokens {
		if len(roles) > 0 && !slices.Contains(roles, d.Roles[i]) {
			continue
		}
		text, err := tok.Decode(ids)
		if err != nil {
			return "", fmt.Errorf("conversation %q: %w", d.Entry.ID, err)
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, "\n\n"), nil
}

// readers is how many conversations are read at once.
const readers = 16

// Read returns the conversations opts selects, in the catalog's order. A conversation deleted
// since the catalog listed it is left out.
func Read(ctx context.Context, v *vault.Vault, opts Options) ([]Doc, error) {
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
	if err != nil {
		return nil, err
	}
	docs := make([]Doc, len(entries))
	ok := make([]bool, len(entries))
	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readers)
	for i, e := range entries {
		g.Go(func() error {
			m, streams, err := v.Tokens(gctx, e.ID)
			switch {
			case errors.Is(err, vault.ErrNotFound):
			case err != nil:
				return fmt.Errorf("read %q: %w", e.ID, err)
			default:
				docs[i], ok[i] = Doc{Entry: e, Roles: roles(m), Tokens: streams}, true
			}
			mu.Lock()
			defer mu.Unlock()
			if done++; opts.Progress != nil {
				opts.Progress(done, len(entries))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
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

func roles(m *manifest.Manifest) []string {
	out := make([]string, len(m.Messages))
	for i, msg := range m.Messages {
		out[i] = msg.Role
	}
	return out
}
