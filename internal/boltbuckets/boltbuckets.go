// Package boltbuckets creates the top-level buckets of a bbolt database without writing when
// they exist (refcount/bolt).
package boltbuckets

import (
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// Ensure makes sure db has the top-level buckets. It looks in a read transaction first and
// creates the missing ones in one write transaction that runs only when some are missing, so
// that opening an existing store writes nothing (a bbolt write transaction rewrites pages and
// the meta page even when it changes nothing). In a read-only db a missing bucket is an error.
func Ensure(db *bbolt.DB, buckets ...[]byte) error {
	var missing [][]byte
	if err := db.View(func(tx *bbolt.Tx) error {
		for _, b := range buckets {
			if tx.Bucket(b) == nil {
				missing = append(missing, b)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	if db.IsReadOnly() {
		return fmt.Errorf("bucket %q is missing and the file is open read-only "+
			"(open it for writing once to create it)", missing[0])
	}
	return db.Update(func(tx *bbolt.Tx) error {
		for _, b := range missing {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}
