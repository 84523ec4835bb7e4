// Package refcount defines Backend, the reference store that decides when a segment object may be
// deleted, and the protocol every implementation serves.
//
// # The protocol
//
// A segment is a content-addressed object in the bucket. The reference store keeps, per segment:
//
//   - one reference item per (segment, owner), where an owner is a batch: the conversations
//     one StoreBatch stored (or an audit's own, short-lived owner). References are created and deleted idempotently; retries never double-count
//     because there is nothing to count: a reference either exists or it does not.
//   - a head item with a state. "Head is live" implies "the object exists". "Deleting" means a
//     garbage collector has claimed the segment until the claim's expiry; writers cannot pass it.
//   - a GC candidate mark, set when a reference was removed, which tells the collector where to
//     look. Marks are hints: safety never depends on them.
//
// and, per stored conversation, a pointer item: the batch that holds its manifest (and owns the
// references of its segments) and the nonce of the stored copy. A conversation exists exactly
// when its pointer exists.
//
// Writer (vault.StoreBatch; a Store is a batch of one): AddRefs under the batch's owner first;
// then GetHead (strongly consistent) for each segment: live → done; absent → upload the object
// create-if-absent, then CreateHead; deleting with an unexpired claim → wait and read again;
// deleting with an expired claim → upload the object, then Revive. The batch object (the
// batch's manifests) is uploaded create-if-absent, with no head and no reference, and the
// pointers are written last, one CreatePointer per conversation.
//
// Collector (vault.GC): a batch's references are removed (RemoveRefs) once no pointer names the
// batch and its writer deadline has passed, and then its batch object is deleted. Then, per
// segment: Claim (live → deleting, only when
// the head is live, or deleting under an expired claim), then HasRefs (strongly consistent):
// true → Release; false → delete the object while the claim is unexpired, then DeleteHead.
//
// Every method is a single-item conditional write or a strongly consistent read, so the protocol
// runs on DynamoDB without transactions. Implementations must pass refcount/refcounttest.
//
// docs/design.md ("The protocol and its invariant") places the protocol in the whole design.
package refcount

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound: no head item exists for the segment, or no pointer for the id.
	ErrNotFound = errors.New("refcount: not found")
	// ErrExists: CreateHead found a head already there, or CreatePointer a pointer.
	ErrExists = errors.New("refcount: already exists")
	// ErrConflict: a conditional write's condition did not hold (DynamoDB's
	// ConditionalCheckFailedException), e.g. a claim on a segment that is not live.
	ErrConflict = errors.New("refcount: condition failed")
	// ErrReadOnly: a write to a store opened read-only.
	ErrReadOnly = errors.New("refcount: store is read-only")
)

// State is the state of a segment's head item.
type State string

// Head states.
const (
	// Live: the segment object exists and may be referenced.
	Live State = "live"
	// Deleting: a collector has claimed the segment; writers must not rely on the object.
	Deleting State = "deleting"
)

// Head is the per-segment item that gates deletion.
type Head struct {
	Segment string
	State   State
	// Size is the stored size of the segment object in bytes (for statistics and "bytes freed").
	Size    int64
	Created time.Time
	// ClaimID and ClaimExpires are set while State is Deleting.
	ClaimID      string
	ClaimExpires time.Time
}

// Ref is one owner's reference on one segment.
type Ref struct {
	Segment string
	Owner   string
	Created time.Time
}

// Pointer publishes one stored conversation.
type Pointer struct {
	// Batch is the id of the batch that stored the conversation: the id of the batch object
	// holding its manifest, and the owner of the references that keep its segments.
	Batch string
	// Nonce tells the stored copies of one conversation id apart: every pointer write has its
	// own.
	Nonce string
}

// Candidate marks a segment that lost a reference at Since and may have become unreferenced.
type Candidate struct {
	Segment string
	Since   time.Time
}

// Backend is the reference store. All methods are safe for concurrent use, and every write is
// idempotent: repeating a call that already took effect gives the same final state.
type Backend interface {
	// AddRefs records owner's reference on every segment, stamped with now. An existing
	// reference stays (mem and bolt keep its time; refcount/dynamodb stamps it with now, which
	// only makes it younger, never less safe).
	AddRefs(ctx context.Context, owner string, segments []string, now time.Time) error
	// RemoveRefs deletes owner's references on the segments; missing references are not an error.
	RemoveRefs(ctx context.Context, owner string, segments []string) error
	// HasRefs reports, with a strongly consistent read, whether any owner references segment.
	HasRefs(ctx context.Context, segment string) (bool, error)
	// ListRefs calls fn for every reference, in no particular order.
	ListRefs(ctx context.Context, fn func(Ref) error) error

	// GetHead returns the segment's head with a strongly consistent read, or ErrNotFound.
	GetHead(ctx context.Context, segment string) (Head, error)
	// CreateHead creates a live head if none exists; ErrExists otherwise.
	CreateHead(ctx context.Context, segment string, size int64, now time.Time) error
	// Claim moves the head to Deleting under claimID until expires. It succeeds only when the
	// head is Live, or Deleting under a claim that expired before now; ErrConflict otherwise,
	// ErrNotFound when there is no head.
	Claim(ctx context.Context, segment, claimID string, expires, now time.Time) error
	// Release moves a head claimed by claimID back to Live; ErrConflict if claimID does not hold it.
	Release(ctx context.Context, segment, claimID string) error
	// Revive moves a head held by claimID under a claim that expired before now back to Live.
	// The caller must have made sure the object exists first. ErrConflict otherwise.
	Revive(ctx context.Context, segment, claimID string, now time.Time) error
	// DeleteHead deletes a head claimed by claimID; ErrConflict if claimID does not hold it,
	// nil if the head is already gone.
	DeleteHead(ctx context.Context, segment, claimID string) error
	// ListHeads calls fn for every head, in no particular order.
	ListHeads(ctx context.Context, fn func(Head) error) error

	// MarkCandidates records that the segments may have become unreferenced at now. Marking a
	// segment again moves its time forward, so the grace period counts from the latest removal.
	MarkCandidates(ctx context.Context, segments []string, now time.Time) error
	// ListCandidates calls fn for every candidate mark, in no particular order.
	ListCandidates(ctx context.Context, fn func(Candidate) error) error
	// RemoveCandidate deletes the segment's mark if its time is not after since (so a mark set
	// again by a later removal survives); a missing mark is not an error.
	RemoveCandidate(ctx context.Context, segment string, since time.Time) error

	// CreatePointer publishes id's pointer when id has none, and returns ErrExists when it has
	// one. A request that may have been applied is not sent again (refcount/dynamodb retries
	// only throttled requests), so that a write whose outcome the caller does not know is never
	// applied after the caller moved on.
	CreatePointer(ctx context.Context, id string, p Pointer) error
	// GetPointer returns id's pointer with a strongly consistent read, or ErrNotFound.
	GetPointer(ctx context.Context, id string) (Pointer, error)
	// MovePointer replaces id's pointer from with to, in one conditional write, and returns
	// ErrConflict when id has no pointer or another one (batch or nonce) than from. Like
	// CreatePointer, a request that may have been applied is not sent again.
	MovePointer(ctx context.Context, id string, from, to Pointer) error
	// DeletePointer deletes id's pointer if it is p (batch and nonce). It returns ErrConflict
	// when id's pointer is another, and nil when id has no pointer.
	DeletePointer(ctx context.Context, id string, p Pointer) error
	// ListPointers calls fn for every pointer, in no particular order.
	ListPointers(ctx context.Context, fn func(id string, p Pointer) error) error

	// Close releases the store's resources.
	Close() error
}

// BatchSize is the number of items one batched write carries (DynamoDB BatchWriteItem's limit).
// AddRefs, RemoveRefs and MarkCandidates cost one write request per BatchSize segments.
const BatchSize = 25
