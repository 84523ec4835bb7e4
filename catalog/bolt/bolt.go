// Package bolt is a catalog.Backend in buckets of a bbolt database, for the embedded store: it
// lives in the same file as the embedded reference store (refcount/bolt), whose DB method
// gives the database to New.
//
// # Layout
//
// Four top-level buckets:
//
//   - "catalog": key the entry's ID, value its encoding (catalog.Entry.MarshalBinary).
//   - "catalog_by_time": key created(8) + ID, for every entry.
//   - "catalog_by_app": key application + 0x00 + created(8) + ID, for entries with an
//     application.
//   - "catalog_by_model": key model + 0x00 + created(8) + ID, for entries with a model.
//
// created(8) is CreatedAt as 8 bytes of big-endian Unix milliseconds, so the keys of one index
// (and of one application or model) sort by (CreatedAt, ID); index values are empty. Strings
// contain no NUL byte (catalog.Entry's rules), so the prefixes are unambiguous.
//
// Put and Delete are one write transaction each, which replaces or removes the entry and its
// index keys together. List is one read transaction: it seeks the chosen index's cursor to the
// page's start, walks forward or backward, and reads the entry of every key it visits.
//
// docs/design.md ("Layout") describes the catalog items a store keeps.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/internal/rules"
	"github.com/stowken/stowken/internal/boltbuckets"
)

// Bucket names.
var (
	bucketEntries = []byte("catalog")
	bucketByTime  = []byte("catalog_by_time")
	bucketByApp   = []byte("catalog_by_app")
	bucketByModel = []byte("catalog_by_model")
)

// Store is a catalog.Backend in a bbolt database. Create it with New.
type Store struct {
	db *bbolt.DB
}

var _ catalog.Backend = (*Store)(nil)

// New returns a store in db, creating its buckets if needed (which writes nothing when they
// exist). In a db opened read-only, the buckets must exist, and Put and Delete fail with
// catalog.ErrReadOnly. The caller keeps owning db: Close does not close it.
func New(db *bbolt.DB) (*Store, error) {
	err := boltbuckets.Ensure(db, bucketEntries, bucketByTime, bucketByApp, bucketByModel)
	if err != nil {
		return nil, fmt.Errorf("catalog/bolt: creating buckets in %s: %w", db.Path(), err)
	}
	return &Store{db: db}, nil
}

// indexKey is the key of position k in an index: prefix (+ 0x00 when not empty), created(8), ID.
func indexKey(prefix string, k rules.Key) []byte {
	b := make([]byte, 0, len(prefix)+1+8+len(k.ID))
	if prefix != "" {
		b = append(append(b, prefix...), 0)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(k.Ms))
	return append(b, k.ID...)
}

// indexKeys returns e's key in each index bucket it belongs to.
func indexKeys(e catalog.Entry) map[string][]byte {
	k := rules.KeyOf(e)
	keys := map[string][]byte{string(bucketByTime): indexKey("", k)}
	if e.Application != "" {
		keys[string(bucketByApp)] = indexKey(e.Application, k)
	}
	if e.Model != "" {
		keys[string(bucketByModel)] = indexKey(e.Model, k)
	}
	return keys
}

func getEntry(tx *bbolt.Tx, id string) (catalog.Entry, bool, error) {
	v := tx.Bucket(bucketEntries).Get([]byte(id))
	if v == nil {
		return catalog.Entry{}, false, nil
	}
	var e catalog.Entry
	if err := e.UnmarshalBinary(v); err != nil {
		return catalog.Entry{}, false, fmt.Errorf("catalog/bolt: corrupt entry %q: %w", id, err)
	}
	return e, true, nil
}

// deleteEntry removes e and its index keys.
func deleteEntry(tx *bbolt.Tx, e catalog.Entry) error {
	for bucket, k := range indexKeys(e) {
		if err := tx.Bucket([]byte(bucket)).Delete(k); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketEntries).Delete([]byte(e.ID))
}

func (s *Store) update(ctx context.Context, op, id string, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.db.IsReadOnly() {
		return fmt.Errorf("catalog/bolt: %s %q: %w", op, id, catalog.ErrReadOnly)
	}
	if err := s.db.Update(fn); err != nil {
		return fmt.Errorf("catalog/bolt: %s %q: %w", op, id, err)
	}
	return nil
}

// Put inserts or replaces the entry for e.ID and its index keys.
func (s *Store) Put(ctx context.Context, e catalog.Entry) error {
	e, err := rules.Normalize(e)
	if err != nil {
		return err
	}
	v, err := e.MarshalBinary()
	if err != nil {
		return err
	}
	return s.update(ctx, "put", e.ID, func(tx *bbolt.Tx) error {
		old, ok, err := getEntry(tx, e.ID)
		if err != nil {
			return err
		}
		if ok {
			if err := deleteEntry(tx, old); err != nil {
				return err
			}
		}
		for bucket, k := range indexKeys(e) {
			if err := tx.Bucket([]byte(bucket)).Put(k, nil); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketEntries).Put([]byte(e.ID), v)
	})
}

// Delete deletes the entry of id and its index keys if its nonce is nonce, or whatever is there
// when nonce is "".
func (s *Store) Delete(ctx context.Context, id, nonce string) error {
	return s.update(ctx, "delete", id, func(tx *bbolt.Tx) error {
		old, ok, err := getEntry(tx, id)
		if err != nil || !ok || nonce != "" && old.Nonce != nonce {
			return err
		}
		return deleteEntry(tx, old)
	})
}

// Get returns the entry of id, or catalog.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (catalog.Entry, error) {
	if err := ctx.Err(); err != nil {
		return catalog.Entry{}, err
	}
	var e catalog.Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		var ok bool
		var err error
		e, ok, err = getEntry(tx, id)
		if err == nil && !ok {
			err = fmt.Errorf("catalog/bolt: entry %q: %w", id, catalog.ErrNotFound)
		}
		return err
	})
	return e, err
}

// List walks the plan's index with a bbolt cursor from the page's start (see
// catalog/internal/rules.Plan) and reads the entry of every key it visits.
func (s *Store) List(ctx context.Context, q catalog.Query) (catalog.Page, error) {
	p, err := rules.NewPlan(q)
	if err != nil {
		return catalog.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return catalog.Page{}, err
	}
	if p.Empty() {
		return catalog.Page{}, nil
	}
	bucket, prefix := bucketByTime, ""
	switch ix, value := p.Index(); ix {
	case rules.ByApp:
		bucket, prefix = bucketByApp, value
	case rules.ByModel:
		bucket, prefix = bucketByModel, value
	}
	lower, upper := indexKey(prefix, p.Lower()), indexKey(prefix, p.Upper())
	idAt := len(indexKey(prefix, rules.Key{})) // where the ID starts in a key
	var matched []catalog.Entry
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		var k []byte
		next := c.Next
		if p.Desc {
			next = c.Prev
			// The last key not after upper.
			if k, _ = c.Seek(upper); k == nil {
				k, _ = c.Last()
			} else if bytes.Compare(k, upper) > 0 {
				k, _ = c.Prev()
			}
		} else {
			k, _ = c.Seek(lower)
		}
		// Every key between lower and upper has their prefix.
		for ; k != nil && bytes.Compare(k, lower) >= 0 && bytes.Compare(k, upper) <= 0; k, _ = next() {
			e, ok, err := getEntry(tx, string(k[idAt:]))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("catalog/bolt: index %s has %q, whose entry is missing", bucket, k)
			}
			if p.Match(e) {
				if matched = append(matched, e); len(matched) == p.Want() {
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return catalog.Page{}, fmt.Errorf("catalog/bolt: list: %w", err)
	}
	return p.Page(matched), nil
}

// Close does nothing: the database belongs to the caller of New.
func (s *Store) Close() error { return nil }
