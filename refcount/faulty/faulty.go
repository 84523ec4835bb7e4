// Package faulty wraps a refcount.Backend with programmable faults, for tests of the reference
// protocol when requests fail, are retried, or stall (in the style of kopia's blobtesting).
//
// Every method call becomes a Call. A Fault decides what happens to the calls it matches: fail
// before sending (nothing applied), fail after applying (applied but reported as failed),
// deliver twice (a retried request; the second result is returned), or stall before or after
// applying until a channel releases it or the call's context ends. Faults are consumed in the
// order they were added; a hook (SetHook) sees every call first and can block it, which lets a
// test schedule interleavings deterministically.
//
//	s := faulty.New(mem.New())
//	s.Add(&faulty.Fault{Match: faulty.OnSegment(faulty.OpRemoveRefs, seg), Kind: faulty.Duplicate})
//
// Listings can be sorted (SortLists) so that code iterating them calls the store in a
// reproducible order. Close is passed through without faults.
package faulty

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/stowken/stowken/internal/faults"
	"github.com/stowken/stowken/refcount"
)

// Op names a Store method.
type Op string

// The Store methods.
const (
	OpAddRefs         Op = "AddRefs"
	OpRemoveRefs      Op = "RemoveRefs"
	OpHasRefs         Op = "HasRefs"
	OpListRefs        Op = "ListRefs"
	OpGetHead         Op = "GetHead"
	OpCreateHead      Op = "CreateHead"
	OpClaim           Op = "Claim"
	OpRelease         Op = "Release"
	OpRevive          Op = "Revive"
	OpDeleteHead      Op = "DeleteHead"
	OpListHeads       Op = "ListHeads"
	OpMarkCandidates  Op = "MarkCandidates"
	OpListCandidates  Op = "ListCandidates"
	OpRemoveCandidate Op = "RemoveCandidate"
	OpCreatePointer   Op = "CreatePointer"
	OpMovePointer     Op = "MovePointer"
	OpGetPointer      Op = "GetPointer"
	OpDeletePointer   Op = "DeletePointer"
	OpListPointers    Op = "ListPointers"
)

// Call is one method call.
type Call struct {
	Op Op
	// Segments are the call's segments: one for the single-segment methods, none for listings
	// and the pointer methods.
	Segments []string
	Owner    string // AddRefs, RemoveRefs
	ClaimID  string // Claim, Release, Revive, DeleteHead
	// Now is the call's time argument (AddRefs, CreateHead, Claim, Revive, MarkCandidates),
	// Expires a Claim's expiry, Since a RemoveCandidate's time.
	Now, Expires, Since time.Time
	Size                int64 // CreateHead
	// ID is the conversation id of CreatePointer, MovePointer, GetPointer and DeletePointer.
	ID string
	// Pointer is CreatePointer's pointer, MovePointer's new one (From the one it replaces),
	// and DeletePointer's.
	Pointer, From refcount.Pointer
}

// Segment returns the call's first segment, or "".
func (c *Call) Segment() string {
	if len(c.Segments) == 0 {
		return ""
	}
	return c.Segments[0]
}

// Has reports whether the call concerns segment.
func (c *Call) Has(segment string) bool { return slices.Contains(c.Segments, segment) }

// SingleAttempt reports whether the client sends the call only once: CreatePointer and
// MovePointer are (see refcount.Backend), so a Duplicate fault loses its response instead of
// retrying it.
func (c *Call) SingleAttempt() bool { return c.Op == OpCreatePointer || c.Op == OpMovePointer }

// Write reports whether the call can change the store.
func (c *Call) Write() bool {
	switch c.Op {
	case OpHasRefs, OpListRefs, OpGetHead, OpListHeads, OpListCandidates, OpGetPointer, OpListPointers:
		return false
	}
	return true
}

// Fault, Kind, Stats and the constants are those of the shared engine; see its documentation
// on each field.
type (
	Fault = faults.Fault[*Call]
	Kind  = faults.Kind
	Stats = faults.Stats
)

// Fault kinds.
const (
	Pass       = faults.Pass
	FailBefore = faults.FailBefore
	FailAfter  = faults.FailAfter
	Duplicate  = faults.Duplicate
	// Forever as Fault.Times fires on every matching call.
	Forever = faults.Forever
)

// ErrInjected is the default error of injected failures.
var ErrInjected = faults.ErrInjected

// OnOp matches the calls of one method.
func OnOp(op Op) func(*Call) bool { return func(c *Call) bool { return c.Op == op } }

// OnSegment matches the calls of one method concerning segment.
func OnSegment(op Op, segment string) func(*Call) bool {
	return func(c *Call) bool { return c.Op == op && c.Has(segment) }
}

// OnOwner matches the calls of one method (AddRefs, RemoveRefs) by owner.
func OnOwner(op Op, owner string) func(*Call) bool {
	return func(c *Call) bool { return c.Op == op && c.Owner == owner }
}

// OnID matches the calls of one method (CreatePointer, MovePointer, GetPointer, DeletePointer) by
// conversation id.
func OnID(op Op, id string) func(*Call) bool {
	return func(c *Call) bool { return c.Op == op && c.ID == id }
}

// Store is a fault-injecting refcount.Backend. Its Injector methods (Add, SetHook, Clear,
// Pending, Stats, VirtualDeadlines) program it.
type Store struct {
	*faults.Injector[*Call]
	inner  refcount.Backend
	sorted atomic.Bool
}

var _ refcount.Backend = (*Store)(nil)

// New wraps s. Without faults every call passes straight through.
func New(s refcount.Backend) *Store {
	return &Store{Injector: &faults.Injector[*Call]{}, inner: s}
}

// Inner returns the wrapped store, for checks that must bypass the faults.
func (s *Store) Inner() refcount.Backend { return s.inner }

// SortLists makes ListRefs, ListHeads and ListCandidates report in order of segment (then
// owner), and ListPointers in order of id, so that callers iterating them behave the same from
// run to run.
func (s *Store) SortLists(on bool) { s.sorted.Store(on) }

// AddRefs implements refcount.Backend.
func (s *Store) AddRefs(ctx context.Context, owner string, segments []string, now time.Time) error {
	return s.Do(ctx, &Call{Op: OpAddRefs, Owner: owner, Segments: slices.Clone(segments), Now: now}, func() error {
		return s.inner.AddRefs(ctx, owner, segments, now)
	})
}

// RemoveRefs implements refcount.Backend.
func (s *Store) RemoveRefs(ctx context.Context, owner string, segments []string) error {
	return s.Do(ctx, &Call{Op: OpRemoveRefs, Owner: owner, Segments: slices.Clone(segments)}, func() error {
		return s.inner.RemoveRefs(ctx, owner, segments)
	})
}

// HasRefs implements refcount.Backend.
func (s *Store) HasRefs(ctx context.Context, segment string) (bool, error) {
	var has bool
	err := s.Do(ctx, &Call{Op: OpHasRefs, Segments: []string{segment}}, func() error {
		var err error
		has, err = s.inner.HasRefs(ctx, segment)
		return err
	})
	return has && err == nil, err
}

// ListRefs implements refcount.Backend.
func (s *Store) ListRefs(ctx context.Context, fn func(refcount.Ref) error) error {
	var all []refcount.Ref
	err := s.Do(ctx, &Call{Op: OpListRefs}, func() error {
		all = all[:0]
		return s.inner.ListRefs(ctx, func(r refcount.Ref) error {
			all = append(all, r)
			return nil
		})
	})
	if err != nil {
		return err
	}
	if s.sorted.Load() {
		slices.SortFunc(all, func(a, b refcount.Ref) int {
			return cmp.Or(cmp.Compare(a.Segment, b.Segment), cmp.Compare(a.Owner, b.Owner))
		})
	}
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// GetHead implements refcount.Backend.
func (s *Store) GetHead(ctx context.Context, segment string) (refcount.Head, error) {
	var h refcount.Head
	err := s.Do(ctx, &Call{Op: OpGetHead, Segments: []string{segment}}, func() error {
		var err error
		h, err = s.inner.GetHead(ctx, segment)
		return err
	})
	if err != nil {
		return refcount.Head{}, err
	}
	return h, nil
}

// CreateHead implements refcount.Backend.
func (s *Store) CreateHead(ctx context.Context, segment string, size int64, now time.Time) error {
	return s.Do(ctx, &Call{Op: OpCreateHead, Segments: []string{segment}, Size: size, Now: now}, func() error {
		return s.inner.CreateHead(ctx, segment, size, now)
	})
}

// Claim implements refcount.Backend.
func (s *Store) Claim(ctx context.Context, segment, claimID string, expires, now time.Time) error {
	return s.Do(ctx, &Call{Op: OpClaim, Segments: []string{segment}, ClaimID: claimID, Expires: expires, Now: now}, func() error {
		return s.inner.Claim(ctx, segment, claimID, expires, now)
	})
}

// Release implements refcount.Backend.
func (s *Store) Release(ctx context.Context, segment, claimID string) error {
	return s.Do(ctx, &Call{Op: OpRelease, Segments: []string{segment}, ClaimID: claimID}, func() error {
		return s.inner.Release(ctx, segment, claimID)
	})
}

// Revive implements refcount.Backend.
func (s *Store) Revive(ctx context.Context, segment, claimID string, now time.Time) error {
	return s.Do(ctx, &Call{Op: OpRevive, Segments: []string{segment}, ClaimID: claimID, Now: now}, func() error {
		return s.inner.Revive(ctx, segment, claimID, now)
	})
}

// DeleteHead implements refcount.Backend.
func (s *Store) DeleteHead(ctx context.Context, segment, claimID string) error {
	return s.Do(ctx, &Call{Op: OpDeleteHead, Segments: []string{segment}, ClaimID: claimID}, func() error {
		return s.inner.DeleteHead(ctx, segment, claimID)
	})
}

// ListHeads implements refcount.Backend.
func (s *Store) ListHeads(ctx context.Context, fn func(refcount.Head) error) error {
	var all []refcount.Head
	err := s.Do(ctx, &Call{Op: OpListHeads}, func() error {
		all = all[:0]
		return s.inner.ListHeads(ctx, func(h refcount.Head) error {
			all = append(all, h)
			return nil
		})
	})
	if err != nil {
		return err
	}
	if s.sorted.Load() {
		slices.SortFunc(all, func(a, b refcount.Head) int { return cmp.Compare(a.Segment, b.Segment) })
	}
	for _, h := range all {
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
}

// MarkCandidates implements refcount.Backend.
func (s *Store) MarkCandidates(ctx context.Context, segments []string, now time.Time) error {
	return s.Do(ctx, &Call{Op: OpMarkCandidates, Segments: slices.Clone(segments), Now: now}, func() error {
		return s.inner.MarkCandidates(ctx, segments, now)
	})
}

// ListCandidates implements refcount.Backend.
func (s *Store) ListCandidates(ctx context.Context, fn func(refcount.Candidate) error) error {
	var all []refcount.Candidate
	err := s.Do(ctx, &Call{Op: OpListCandidates}, func() error {
		all = all[:0]
		return s.inner.ListCandidates(ctx, func(c refcount.Candidate) error {
			all = append(all, c)
			return nil
		})
	})
	if err != nil {
		return err
	}
	if s.sorted.Load() {
		slices.SortFunc(all, func(a, b refcount.Candidate) int { return cmp.Compare(a.Segment, b.Segment) })
	}
	for _, c := range all {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// RemoveCandidate implements refcount.Backend.
func (s *Store) RemoveCandidate(ctx context.Context, segment string, since time.Time) error {
	return s.Do(ctx, &Call{Op: OpRemoveCandidate, Segments: []string{segment}, Since: since}, func() error {
		return s.inner.RemoveCandidate(ctx, segment, since)
	})
}

// CreatePointer implements refcount.Backend.
func (s *Store) CreatePointer(ctx context.Context, id string, p refcount.Pointer) error {
	return s.Do(ctx, &Call{Op: OpCreatePointer, ID: id, Pointer: p}, func() error {
		return s.inner.CreatePointer(ctx, id, p)
	})
}

// GetPointer implements refcount.Backend.
func (s *Store) GetPointer(ctx context.Context, id string) (refcount.Pointer, error) {
	var p refcount.Pointer
	err := s.Do(ctx, &Call{Op: OpGetPointer, ID: id}, func() error {
		var err error
		p, err = s.inner.GetPointer(ctx, id)
		return err
	})
	if err != nil {
		return refcount.Pointer{}, err
	}
	return p, nil
}

// MovePointer implements refcount.Backend.
func (s *Store) MovePointer(ctx context.Context, id string, from, to refcount.Pointer) error {
	return s.Do(ctx, &Call{Op: OpMovePointer, ID: id, Pointer: to, From: from}, func() error {
		return s.inner.MovePointer(ctx, id, from, to)
	})
}

// DeletePointer implements refcount.Backend.
func (s *Store) DeletePointer(ctx context.Context, id string, p refcount.Pointer) error {
	return s.Do(ctx, &Call{Op: OpDeletePointer, ID: id, Pointer: p}, func() error {
		return s.inner.DeletePointer(ctx, id, p)
	})
}

// ListPointers implements refcount.Backend.
func (s *Store) ListPointers(ctx context.Context, fn func(id string, p refcount.Pointer) error) error {
	type entry struct {
		id string
		p  refcount.Pointer
	}
	var all []entry
	err := s.Do(ctx, &Call{Op: OpListPointers}, func() error {
		all = all[:0]
		return s.inner.ListPointers(ctx, func(id string, p refcount.Pointer) error {
			all = append(all, entry{id, p})
			return nil
		})
	})
	if err != nil {
		return err
	}
	if s.sorted.Load() {
		slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.id, b.id) })
	}
	for _, e := range all {
		if err := fn(e.id, e.p); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the wrapped store.
func (s *Store) Close() error { return s.inner.Close() }
