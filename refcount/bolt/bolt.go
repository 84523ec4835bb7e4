// Package bolt is a refcount.Backend in one local file, on go.etcd.io/bbolt, for the embedded
// (single-machine) deployment.
//
// The embedded store has one writer at a time: Open takes an exclusive lock on the file, and
// OpenReadOnly a shared one, so any number of read-only opens (in any processes) can hold the
// file together, but not beside a read-write one. An open that cannot take its lock waits up to
// LockTimeout and then fails with a "database is locked by another process" error instead of
// hanging. A store opened read-only writes nothing: its writes fail with refcount.ErrReadOnly.
// Within the process, every method is safe for concurrent use.
//
// # Layout
//
// Four buckets:
//
//   - "refs": key segment + 0x00 + owner, value the reference's creation time as 8 bytes of
//     big-endian Unix milliseconds. All of one segment's references are adjacent, so HasRefs is
//     one cursor seek.
//   - "heads": key segment, value a JSON object {"state","size","created","claim_id",
//     "claim_expires"} with times in Unix milliseconds. claim_id is kept after a head returns to
//     live (it names the last holder, so a retried Release or Revive succeeds); GetHead reports no
//     claim for a live head.
//   - "candidates": key segment, value the mark time as 8 bytes of big-endian Unix milliseconds.
//   - "pointers": key conversation id, value a JSON object {"batch","nonce"}. A file written
//     before pointers existed lacks the bucket until it is opened for writing; a read-only open
//     reads it as holding no pointer.
//
// Names may not be empty or contain a NUL byte.
//
// Every write and every point read is one bbolt transaction, so each is atomic and durable
// (fsync on commit). The List methods read in pages of listPage keys, one read transaction per
// page, and call fn outside any transaction (so fn may call the store); like a DynamoDB scan, a
// listing is therefore not a snapshot of one instant.
//
// docs/design.md ("The protocol and its invariant") describes the protocol these items
// serve.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/stowken/stowken/internal/boltbuckets"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/refcount/internal/rules"
)

// LockTimeout is how long Open waits for another process to release the file.
const LockTimeout = 5 * time.Second

// listPage is the number of keys one List transaction reads.
const listPage = 1024

// Bucket names.
var (
	bucketRefs       = []byte("refs")
	bucketHeads      = []byte("heads")
	bucketCandidates = []byte("candidates")
	bucketPointers   = []byte("pointers")
)

// Store is a refcount.Backend in a bbolt file. Create it with Open or OpenReadOnly.
type Store struct {
	db   *bbolt.DB
	path string
}

var _ refcount.Backend = (*Store)(nil)

// Open opens (creating it and its parent directory if needed) the store file at path for
// reading and writing. Opening an existing store writes nothing. It fails after LockTimeout
// when another process holds the file.
func Open(path string) (*Store, error) {
	return open(path, LockTimeout, false)
}

// OpenReadOnly opens the existing store file at path for reading only, sharing the file with
// other read-only opens (see the package documentation). A missing file is an error wrapping
// fs.ErrNotExist. It fails after LockTimeout when a read-write open holds the file.
func OpenReadOnly(path string) (*Store, error) {
	return open(path, LockTimeout, true)
}

func open(path string, timeout time.Duration, readOnly bool) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" && !readOnly {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("refcount/bolt: %w", err)
		}
	}
	if readOnly {
		// bbolt would report a missing file as an invalid database.
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("refcount/bolt: open %s read-only: %w", path, err)
		}
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, ReadOnly: readOnly})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("refcount/bolt: open %s: database is locked by another process "+
			"(gave up after %s; the embedded store has one writer at a time)", path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("refcount/bolt: open %s: %w", path, err)
	}
	buckets := [][]byte{bucketRefs, bucketHeads, bucketCandidates}
	if !readOnly {
		// A read-only open of a file from before pointers reads the missing bucket as empty.
		buckets = append(buckets, bucketPointers)
	}
	if err := boltbuckets.Ensure(db, buckets...); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("refcount/bolt: open %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Path returns the store file's path.
func (s *Store) Path() string { return s.path }

func refKey(segment, owner string) []byte {
	k := make([]byte, 0, len(segment)+1+len(owner))
	k = append(k, segment...)
	k = append(k, 0)
	return append(k, owner...)
}

func refPrefix(segment string) []byte {
	return append([]byte(segment), 0)
}

func encodeMillis(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(rules.Millis(t)))
}

func decodeMillis(v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("refcount/bolt: corrupt time value of %d bytes", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func (s *Store) update(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.db.IsReadOnly() {
		return fmt.Errorf("refcount/bolt: %s: %w", s.path, refcount.ErrReadOnly)
	}
	return s.db.Update(fn)
}

func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// AddRefs records owner's reference on every segment; existing references keep their time.
func (s *Store) AddRefs(ctx context.Context, owner string, segments []string, now time.Time) error {
	if err := rules.CheckName("owner", owner); err != nil {
		return err
	}
	if err := rules.CheckNames("segment", segments); err != nil {
		return err
	}
	v := encodeMillis(now)
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRefs)
		for _, seg := range segments {
			k := refKey(seg, owner)
			if b.Get(k) != nil {
				continue
			}
			if err := b.Put(k, v); err != nil {
				return fmt.Errorf("refcount/bolt: add ref: %w", err)
			}
		}
		return nil
	})
}

// RemoveRefs deletes owner's references on the segments; missing ones are ignored.
func (s *Store) RemoveRefs(ctx context.Context, owner string, segments []string) error {
	if err := rules.CheckName("owner", owner); err != nil {
		return err
	}
	if err := rules.CheckNames("segment", segments); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRefs)
		for _, seg := range segments {
			if err := b.Delete(refKey(seg, owner)); err != nil {
				return fmt.Errorf("refcount/bolt: remove ref: %w", err)
			}
		}
		return nil
	})
}

// HasRefs reports whether any owner references segment.
func (s *Store) HasRefs(ctx context.Context, segment string) (bool, error) {
	if err := rules.CheckName("segment", segment); err != nil {
		return false, err
	}
	var found bool
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		p := refPrefix(segment)
		k, _ := tx.Bucket(bucketRefs).Cursor().Seek(p)
		found = k != nil && bytes.HasPrefix(k, p)
		return nil
	})
	return found, err
}

// listPages walks bucket in pages of listPage keys, one read transaction each, calling fn for
// every key and value outside the transaction.
func (s *Store) listPages(ctx context.Context, bucket []byte, fn func(k, v []byte) error) error {
	type kv struct{ k, v []byte }
	var after []byte
	for {
		var page []kv
		err := s.view(ctx, func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucket)
			if b == nil {
				return nil // the pointers of a file opened read-only before its first write
			}
			c := b.Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(page) < listPage; k, v = c.Next() {
				// Keys and values are only valid inside the transaction: copy them.
				page = append(page, kv{bytes.Clone(k), bytes.Clone(v)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e.k, e.v); err != nil {
				return err
			}
		}
		if len(page) < listPage {
			return nil
		}
		after = page[len(page)-1].k
	}
}

// ListRefs calls fn for every reference.
func (s *Store) ListRefs(ctx context.Context, fn func(refcount.Ref) error) error {
	return s.listPages(ctx, bucketRefs, func(k, v []byte) error {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			return fmt.Errorf("refcount/bolt: corrupt reference key %q", k)
		}
		ms, err := decodeMillis(v)
		if err != nil {
			return err
		}
		return fn(refcount.Ref{Segment: string(k[:i]), Owner: string(k[i+1:]), Created: rules.Time(ms)})
	})
}

func getRecord(tx *bbolt.Tx, segment string) (*rules.Record, error) {
	v := tx.Bucket(bucketHeads).Get([]byte(segment))
	if v == nil {
		return nil, nil
	}
	var r rules.Record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("refcount/bolt: corrupt head %q: %w", segment, err)
	}
	return &r, nil
}

func putRecord(tx *bbolt.Tx, segment string, r rules.Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketHeads).Put([]byte(segment), v)
}

// GetHead returns the segment's head or refcount.ErrNotFound.
func (s *Store) GetHead(ctx context.Context, segment string) (refcount.Head, error) {
	if err := rules.CheckName("segment", segment); err != nil {
		return refcount.Head{}, err
	}
	var h refcount.Head
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		r, err := getRecord(tx, segment)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("refcount/bolt: head %q: %w", segment, refcount.ErrNotFound)
		}
		h = r.Head(segment)
		return nil
	})
	return h, err
}

// CreateHead creates a live head, or returns refcount.ErrExists.
func (s *Store) CreateHead(ctx context.Context, segment string, size int64, now time.Time) error {
	if err := rules.CheckName("segment", segment); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketHeads).Get([]byte(segment)) != nil {
			return fmt.Errorf("refcount/bolt: create head %q: %w", segment, refcount.ErrExists)
		}
		return putRecord(tx, segment, rules.NewLive(size, now))
	})
}

// transition applies fn to the segment's head record (nil when absent) in one transaction and,
// when fn succeeds, stores the record fn returns, or deletes the head when that is nil.
func (s *Store) transition(ctx context.Context, op, segment, claimID string, fn func(*rules.Record) (*rules.Record, error)) error {
	if err := rules.CheckName("segment", segment); err != nil {
		return err
	}
	if err := rules.CheckName("claim id", claimID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		r, err := getRecord(tx, segment)
		if err != nil {
			return err
		}
		next, err := fn(r)
		if err != nil {
			return fmt.Errorf("refcount/bolt: %s %q: %w", op, segment, err)
		}
		if next == nil {
			return tx.Bucket(bucketHeads).Delete([]byte(segment))
		}
		return putRecord(tx, segment, *next)
	})
}

// Claim moves the head to Deleting under claimID until expires (see refcount.Backend).
func (s *Store) Claim(ctx context.Context, segment, claimID string, expires, now time.Time) error {
	return s.transition(ctx, "claim", segment, claimID, func(r *rules.Record) (*rules.Record, error) {
		return r, rules.Claim(r, claimID, expires, now)
	})
}

// Release moves a head claimed by claimID back to Live.
func (s *Store) Release(ctx context.Context, segment, claimID string) error {
	return s.transition(ctx, "release", segment, claimID, func(r *rules.Record) (*rules.Record, error) {
		return r, rules.Release(r, claimID)
	})
}

// Revive moves a head held by claimID under an expired claim back to Live.
func (s *Store) Revive(ctx context.Context, segment, claimID string, now time.Time) error {
	return s.transition(ctx, "revive", segment, claimID, func(r *rules.Record) (*rules.Record, error) {
		return r, rules.Revive(r, claimID, now)
	})
}

// DeleteHead deletes a head claimed by claimID; nil when it is already gone.
func (s *Store) DeleteHead(ctx context.Context, segment, claimID string) error {
	return s.transition(ctx, "delete head", segment, claimID, func(r *rules.Record) (*rules.Record, error) {
		return nil, rules.MayDelete(r, claimID)
	})
}

// ListHeads calls fn for every head.
func (s *Store) ListHeads(ctx context.Context, fn func(refcount.Head) error) error {
	return s.listPages(ctx, bucketHeads, func(k, v []byte) error {
		var r rules.Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("refcount/bolt: corrupt head %q: %w", k, err)
		}
		return fn(r.Head(string(k)))
	})
}

// MarkCandidates sets the segments' candidate marks to now (last writer wins, like the
// DynamoDB backend's batched puts).
func (s *Store) MarkCandidates(ctx context.Context, segments []string, now time.Time) error {
	if err := rules.CheckNames("segment", segments); err != nil {
		return err
	}
	v := encodeMillis(now)
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCandidates)
		for _, seg := range segments {
			if err := b.Put([]byte(seg), v); err != nil {
				return fmt.Errorf("refcount/bolt: mark candidate: %w", err)
			}
		}
		return nil
	})
}

// ListCandidates calls fn for every candidate mark.
func (s *Store) ListCandidates(ctx context.Context, fn func(refcount.Candidate) error) error {
	return s.listPages(ctx, bucketCandidates, func(k, v []byte) error {
		ms, err := decodeMillis(v)
		if err != nil {
			return err
		}
		return fn(refcount.Candidate{Segment: string(k), Since: rules.Time(ms)})
	})
}

// RemoveCandidate deletes the segment's mark if it is not after since. A later mark survives
// and is not an error; neither is a missing mark.
func (s *Store) RemoveCandidate(ctx context.Context, segment string, since time.Time) error {
	if err := rules.CheckName("segment", segment); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCandidates)
		v := b.Get([]byte(segment))
		if v == nil {
			return nil
		}
		ms, err := decodeMillis(v)
		if err != nil {
			return err
		}
		if ms > rules.Millis(since) {
			return nil
		}
		return b.Delete([]byte(segment))
	})
}

// pointerRecord is a stored pointer.
type pointerRecord struct {
	Batch string `json:"batch"`
	Nonce string `json:"nonce"`
}

// getPointer returns id's pointer, or nil when it has none.
func getPointer(tx *bbolt.Tx, id string) (*refcount.Pointer, error) {
	b := tx.Bucket(bucketPointers)
	if b == nil {
		return nil, nil // a file opened read-only before its first write
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return decodePointer(id, v)
}

func decodePointer(id string, v []byte) (*refcount.Pointer, error) {
	var r pointerRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("refcount/bolt: corrupt pointer %q: %w", id, err)
	}
	return &refcount.Pointer{Batch: r.Batch, Nonce: r.Nonce}, nil
}

// CreatePointer stores id's pointer, or returns refcount.ErrExists when id has one.
func (s *Store) CreatePointer(ctx context.Context, id string, p refcount.Pointer) error {
	if err := rules.CheckPointer(id, p); err != nil {
		return err
	}
	v, err := json.Marshal(pointerRecord{Batch: p.Batch, Nonce: p.Nonce})
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPointers)
		if b.Get([]byte(id)) != nil {
			return fmt.Errorf("refcount/bolt: create pointer %q: %w", id, refcount.ErrExists)
		}
		return b.Put([]byte(id), v)
	})
}

// GetPointer returns id's pointer or refcount.ErrNotFound.
func (s *Store) GetPointer(ctx context.Context, id string) (refcount.Pointer, error) {
	if err := rules.CheckName("id", id); err != nil {
		return refcount.Pointer{}, err
	}
	var p refcount.Pointer
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		r, err := getPointer(tx, id)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("refcount/bolt: pointer %q: %w", id, refcount.ErrNotFound)
		}
		p = *r
		return nil
	})
	return p, err
}

// MovePointer replaces id's pointer from with to; refcount.ErrConflict when id has another
// pointer or none.
func (s *Store) MovePointer(ctx context.Context, id string, from, to refcount.Pointer) error {
	if err := errors.Join(rules.CheckPointer(id, from), rules.CheckPointer(id, to)); err != nil {
		return err
	}
	v, err := json.Marshal(pointerRecord{Batch: to.Batch, Nonce: to.Nonce})
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		r, err := getPointer(tx, id)
		if err != nil {
			return err
		}
		if r == nil || *r != from {
			return fmt.Errorf("refcount/bolt: move pointer %q: %w", id, refcount.ErrConflict)
		}
		return tx.Bucket(bucketPointers).Put([]byte(id), v)
	})
}

// DeletePointer deletes id's pointer if it is p; refcount.ErrConflict when it is another, nil
// when id has none.
func (s *Store) DeletePointer(ctx context.Context, id string, p refcount.Pointer) error {
	if err := rules.CheckPointer(id, p); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		r, err := getPointer(tx, id)
		if err != nil {
			return err
		}
		if r == nil {
			return nil
		}
		if *r != p {
			return fmt.Errorf("refcount/bolt: delete pointer %q: %w", id, refcount.ErrConflict)
		}
		return tx.Bucket(bucketPointers).Delete([]byte(id))
	})
}

// ListPointers calls fn for every pointer.
func (s *Store) ListPointers(ctx context.Context, fn func(id string, p refcount.Pointer) error) error {
	return s.listPages(ctx, bucketPointers, func(k, v []byte) error {
		p, err := decodePointer(string(k), v)
		if err != nil {
			return err
		}
		return fn(string(k), *p)
	})
}

// Close closes the file and releases its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("refcount/bolt: close %s: %w", s.path, err)
	}
	return nil
}
