// Package mem is an in-memory refcount.Backend for tests and single-process use. Everything is
// lost when the process exits.
//
// One mutex guards all state, so every method is atomic. Times are kept as Unix milliseconds,
// like the other backends. The List methods copy what they report under the lock and call fn
// without it, so fn may call the store.
package mem

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/refcount/internal/rules"
)

// errClosed is returned by every method after Close.
var errClosed = errors.New("refcount/mem: store is closed")

// Store is an in-memory refcount.Backend. Create it with New.
type Store struct {
	mu         sync.Mutex
	closed     bool
	refs       map[string]map[string]int64 // segment → owner → created (Unix ms)
	heads      map[string]rules.Record     // segment → head
	candidates map[string]int64            // segment → since (Unix ms)
	pointers   map[string]refcount.Pointer // conversation id → pointer
}

var _ refcount.Backend = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		refs:       make(map[string]map[string]int64),
		heads:      make(map[string]rules.Record),
		candidates: make(map[string]int64),
		pointers:   make(map[string]refcount.Pointer),
	}
}

// lock takes the mutex after checking ctx and that the store is open; on success the caller
// must unlock s.mu.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	return nil
}

// AddRefs records owner's reference on every segment; existing references keep their time.
func (s *Store) AddRefs(ctx context.Context, owner string, segments []string, now time.Time) error {
	if err := rules.CheckName("owner", owner); err != nil {
		return err
	}
	if err := rules.CheckNames("segment", segments); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, seg := range segments {
		owners := s.refs[seg]
		if owners == nil {
			owners = make(map[string]int64)
			s.refs[seg] = owners
		}
		if _, ok := owners[owner]; !ok {
			owners[owner] = rules.Millis(now)
		}
	}
	return nil
}

// RemoveRefs deletes owner's references on the segments; missing ones are ignored.
func (s *Store) RemoveRefs(ctx context.Context, owner string, segments []string) error {
	if err := rules.CheckName("owner", owner); err != nil {
		return err
	}
	if err := rules.CheckNames("segment", segments); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, seg := range segments {
		owners := s.refs[seg]
		delete(owners, owner)
		if len(owners) == 0 {
			delete(s.refs, seg)
		}
	}
	return nil
}

// HasRefs reports whether any owner references segment.
func (s *Store) HasRefs(ctx context.Context, segment string) (bool, error) {
	if err := rules.CheckName("segment", segment); err != nil {
		return false, err
	}
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	return len(s.refs[segment]) > 0, nil
}

// ListRefs calls fn for every reference.
func (s *Store) ListRefs(ctx context.Context, fn func(refcount.Ref) error) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	var all []refcount.Ref
	for seg, owners := range s.refs {
		for owner, created := range owners {
			all = append(all, refcount.Ref{Segment: seg, Owner: owner, Created: rules.Time(created)})
		}
	}
	s.mu.Unlock()
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// GetHead returns the segment's head or refcount.ErrNotFound.
func (s *Store) GetHead(ctx context.Context, segment string) (refcount.Head, error) {
	if err := rules.CheckName("segment", segment); err != nil {
		return refcount.Head{}, err
	}
	if err := s.lock(ctx); err != nil {
		return refcount.Head{}, err
	}
	defer s.mu.Unlock()
	r, ok := s.heads[segment]
	if !ok {
		return refcount.Head{}, fmt.Errorf("refcount/mem: head %q: %w", segment, refcount.ErrNotFound)
	}
	return r.Head(segment), nil
}

// CreateHead creates a live head, or returns refcount.ErrExists.
func (s *Store) CreateHead(ctx context.Context, segment string, size int64, now time.Time) error {
	if err := rules.CheckName("segment", segment); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.heads[segment]; ok {
		return fmt.Errorf("refcount/mem: create head %q: %w", segment, refcount.ErrExists)
	}
	s.heads[segment] = rules.NewLive(size, now)
	return nil
}

// update applies fn to the segment's head record (nil when absent) and, when fn succeeds,
// stores the record fn returns, or deletes the head when that is nil.
func (s *Store) update(ctx context.Context, op, segment, claimID string, fn func(*rules.Record) (*rules.Record, error)) error {
	if err := rules.CheckName("segment", segment); err != nil {
		return err
	}
	if err := rules.CheckName("claim id", claimID); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	var p *rules.Record
	if r, ok := s.heads[segment]; ok {
		p = &r
	}
	next, err := fn(p)
	if err != nil {
		return fmt.Errorf("refcount/mem: %s %q: %w", op, segment, err)
	}
	if next == nil {
		delete(s.heads, segment)
	} else {
		s.heads[segment] = *next
	}
	return nil
}

// Claim moves the head to Deleting under claimID until expires (see refcount.Backend).
func (s *Store) Claim(ctx context.Context, segment, claimID string, expires, now time.Time) error {
	return s.update(ctx, "claim", segment, claimID, func(r *rules.Record) (*rules.Record, error) {
		return r, rules.Claim(r, claimID, expires, now)
	})
}

// Release moves a head claimed by claimID back to Live.
func (s *Store) Release(ctx context.Context, segment, claimID string) error {
	return s.update(ctx, "release", segment, claimID, func(r *rules.Record) (*rules.Record, error) {
		return r, rules.Release(r, claimID)
	})
}

// Revive moves a head held by claimID under an expired claim back to Live.
func (s *Store) Revive(ctx context.Context, segment, claimID string, now time.Time) error {
	return s.update(ctx, "revive", segment, claimID, func(r *rules.Record) (*rules.Record, error) {
		return r, rules.Revive(r, claimID, now)
	})
}

// DeleteHead deletes a head claimed by claimID; nil when it is already gone.
func (s *Store) DeleteHead(ctx context.Context, segment, claimID string) error {
	return s.update(ctx, "delete head", segment, claimID, func(r *rules.Record) (*rules.Record, error) {
		return nil, rules.MayDelete(r, claimID)
	})
}

// ListHeads calls fn for every head.
func (s *Store) ListHeads(ctx context.Context, fn func(refcount.Head) error) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	all := make([]refcount.Head, 0, len(s.heads))
	for seg, r := range s.heads {
		all = append(all, r.Head(seg))
	}
	s.mu.Unlock()
	for _, h := range all {
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

// MarkCandidates sets the segments' candidate marks to now (last writer wins, like the
// DynamoDB backend's batched puts).
func (s *Store) MarkCandidates(ctx context.Context, segments []string, now time.Time) error {
	if err := rules.CheckNames("segment", segments); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, seg := range segments {
		s.candidates[seg] = rules.Millis(now)
	}
	return nil
}

// ListCandidates calls fn for every candidate mark.
func (s *Store) ListCandidates(ctx context.Context, fn func(refcount.Candidate) error) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	all := make([]refcount.Candidate, 0, len(s.candidates))
	for seg, since := range s.candidates {
		all = append(all, refcount.Candidate{Segment: seg, Since: rules.Time(since)})
	}
	s.mu.Unlock()
	for _, c := range all {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// RemoveCandidate deletes the segment's mark if it is not after since. A later mark survives
// and is not an error; neither is a missing mark.
func (s *Store) RemoveCandidate(ctx context.Context, segment string, since time.Time) error {
	if err := rules.CheckName("segment", segment); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if m, ok := s.candidates[segment]; ok && m <= rules.Millis(since) {
		delete(s.candidates, segment)
	}
	return nil
}

// CreatePointer stores id's pointer, or returns refcount.ErrExists when id has one.
func (s *Store) CreatePointer(ctx context.Context, id string, p refcount.Pointer) error {
	if err := rules.CheckPointer(id, p); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.pointers[id]; ok {
		return fmt.Errorf("refcount/mem: create pointer %q: %w", id, refcount.ErrExists)
	}
	s.pointers[id] = p
	return nil
}

// GetPointer returns id's pointer or refcount.ErrNotFound.
func (s *Store) GetPointer(ctx context.Context, id string) (refcount.Pointer, error) {
	if err := rules.CheckName("id", id); err != nil {
		return refcount.Pointer{}, err
	}
	if err := s.lock(ctx); err != nil {
		return refcount.Pointer{}, err
	}
	defer s.mu.Unlock()
	p, ok := s.pointers[id]
	if !ok {
		return refcount.Pointer{}, fmt.Errorf("refcount/mem: pointer %q: %w", id, refcount.ErrNotFound)
	}
	return p, nil
}

// MovePointer replaces id's pointer from with to; refcount.ErrConflict when id has another
// pointer or none.
func (s *Store) MovePointer(ctx context.Context, id string, from, to refcount.Pointer) error {
	if err := errors.Join(rules.CheckPointer(id, from), rules.CheckPointer(id, to)); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if p, ok := s.pointers[id]; !ok || p != from {
		return fmt.Errorf("refcount/mem: move pointer %q: %w", id, refcount.ErrConflict)
	}
	s.pointers[id] = to
	return nil
}

// DeletePointer deletes id's pointer if it is p; refcount.ErrConflict when it is another, nil
// when id has none.
func (s *Store) DeletePointer(ctx context.Context, id string, p refcount.Pointer) error {
	if err := rules.CheckPointer(id, p); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	cur, ok := s.pointers[id]
	if !ok {
		return nil
	}
	if cur != p {
		return fmt.Errorf("refcount/mem: delete pointer %q: %w", id, refcount.ErrConflict)
	}
	delete(s.pointers, id)
	return nil
}

// ListPointers calls fn for every pointer.
func (s *Store) ListPointers(ctx context.Context, fn func(id string, p refcount.Pointer) error) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	ids := make([]string, 0, len(s.pointers))
	ps := make([]refcount.Pointer, 0, len(s.pointers))
	for id, p := range s.pointers {
		ids = append(ids, id)
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for i, id := range ids {
		if err := fn(id, ps[i]); err != nil {
			return err
		}
	}
	return nil
}

// Close drops the store's contents; later calls fail.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.refs, s.heads, s.candidates, s.pointers = nil, nil, nil, nil
	return nil
}
