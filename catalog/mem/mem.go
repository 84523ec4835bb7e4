// Package mem is an in-memory catalog.Backend for tests. Everything is lost when the process exits.
//
// Entries are kept in a map by ID, and their positions (catalog/internal/rules.Key) in three
// sorted slices: all entries, per application and per model. List finds its start by binary
// search and walks from there, so it costs in proportion to the entries it visits; Put and Delete
// move slice elements (linear in the index size, which is fine for tests). One read-write mutex
// guards everything; returned entries are copies.
package mem

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/internal/rules"
)

// errClosed is returned by every method after Close.
var errClosed = errors.New("catalog/mem: store is closed")

// Store is an in-memory catalog.Backend. Create it with New.
type Store struct {
	mu      sync.RWMutex
	closed  bool
	entries map[string]catalog.Entry
	byTime  []rules.Key
	byApp   map[string][]rules.Key
	byModel map[string][]rules.Key
	deleted map[[2]string]bool // copies deleted: ID and nonce
}

var _ catalog.Backend = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		entries: map[string]catalog.Entry{},
		byApp:   map[string][]rules.Key{},
		byModel: map[string][]rules.Key{},
		deleted: map[[2]string]bool{},
	}
}

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return errClosed
	}
	return nil
}

// insert adds k to the sorted slice.
func insert(keys []rules.Key, k rules.Key) []rules.Key {
	i, _ := slices.BinarySearchFunc(keys, k, rules.Key.Compare)
	return slices.Insert(keys, i, k)
}

// remove deletes k from the sorted slice, if there.
func remove(keys []rules.Key, k rules.Key) []rules.Key {
	if i, ok := slices.BinarySearchFunc(keys, k, rules.Key.Compare); ok {
		return slices.Delete(keys, i, i+1)
	}
	return keys
}

// index calls fn on each sorted slice e belongs to and stores the result.
func (s *Store) index(e catalog.Entry, fn func([]rules.Key, rules.Key) []rules.Key) {
	k := rules.KeyOf(e)
	s.byTime = fn(s.byTime, k)
	for _, ix := range []struct {
		m     map[string][]rules.Key
		value string
	}{{s.byApp, e.Application}, {s.byModel, e.Model}} {
		if ix.value == "" {
			continue
		}
		if keys := fn(ix.m[ix.value], k); len(keys) > 0 {
			ix.m[ix.value] = keys
		} else {
			delete(ix.m, ix.value)
		}
	}
}

// Put inserts the entries, each replacing the entry of its ID, except those of deleted copies.
func (s *Store) Put(ctx context.Context, entries ...catalog.Entry) error {
	norm, err := rules.NormalizeAll(entries)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	for _, e := range norm {
		if s.deleted[[2]string{e.ID, e.Nonce}] {
			continue
		}
		if old, ok := s.entries[e.ID]; ok {
			s.index(old, remove)
		}
		s.entries[e.ID] = e
		s.index(e, insert)
	}
	return nil
}

// Delete deletes the entry of e.ID if its nonce is e.Nonce.
func (s *Store) Delete(ctx context.Context, e catalog.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	s.deleted[[2]string{e.ID, e.Nonce}] = true
	old, ok := s.entries[e.ID]
	if !ok || old.Nonce != e.Nonce {
		return nil
	}
	s.index(old, remove)
	delete(s.entries, e.ID)
	return nil
}

// Get returns the entry of id, or catalog.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (catalog.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return catalog.Entry{}, err
	}
	e, ok := s.entries[id]
	if !ok {
		return catalog.Entry{}, fmt.Errorf("catalog/mem: entry %q: %w", id, catalog.ErrNotFound)
	}
	return rules.Clone(e), nil
}

// List walks the plan's index between its bounds (see catalog/internal/rules.Plan).
func (s *Store) List(ctx context.Context, q catalog.Query) (catalog.Page, error) {
	p, err := rules.NewPlan(q)
	if err != nil {
		return catalog.Page{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return catalog.Page{}, err
	}
	if p.Empty() {
		return catalog.Page{}, nil
	}
	keys := s.byTime
	switch ix, value := p.Index(); ix {
	case rules.ByApp:
		keys = s.byApp[value]
	case rules.ByModel:
		keys = s.byModel[value]
	}
	// keys[lo:hi] are the keys within [Lower, Upper].
	lo, _ := slices.BinarySearchFunc(keys, p.Lower(), rules.Key.Compare)
	hi, found := slices.BinarySearchFunc(keys, p.Upper(), rules.Key.Compare)
	if found {
		hi++
	}
	var matched []catalog.Entry
	for n := range hi - lo {
		i := lo + n
		if p.Desc {
			i = hi - 1 - n
		}
		if e := s.entries[keys[i].ID]; p.Match(e) {
			if matched = append(matched, rules.Clone(e)); len(matched) == p.Want() {
				break
			}
		}
	}
	return p.Page(matched), nil
}

// Close empties the store; later calls fail.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.entries, s.byTime, s.byApp, s.byModel, s.deleted = nil, nil, nil, nil, nil
	return nil
}
