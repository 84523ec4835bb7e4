// Package objstore defines Bucket, the small object-store interface every stowken backend
// implements, and the sentinel errors callers check with errors.Is.
//
// Implementations live in sub-packages (objstore/mem, objstore/fs, objstore/s3) so that a user
// of one backend does not link the others. Every implementation must pass the conformance suite
// in objstore/objstoretest.
//
// docs/design.md ("Layout") lists the objects stowken keeps in a bucket.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Sentinel errors. Backends translate their native errors into these exactly once, at the
// backend boundary; callers test them with errors.Is.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("objstore: object not found")
	// ErrExists: a create-if-absent put found the object already there.
	ErrExists = errors.New("objstore: object already exists")
	// ErrPrecondition: an If-Match put found a different ETag (or no object).
	ErrPrecondition = errors.New("objstore: precondition failed")
	// ErrInvalidKey: the key is empty, too long, or could escape the bucket root.
	ErrInvalidKey = errors.New("objstore: invalid key")
	// ErrReadOnly: a write (Put or Delete) to a bucket opened read-only.
	ErrReadOnly = errors.New("objstore: bucket is read-only")
)

// MaxKeyLen is the longest key accepted, in bytes (S3's own limit).
const MaxKeyLen = 1024

// Attrs describes a stored object.
type Attrs struct {
	Key     string
	Size    int64
	ETag    string    // opaque version tag; changes whenever the content is replaced
	ModTime time.Time // when the current content was written
}

// PutOptions are the conditions of a Put. The zero value overwrites unconditionally.
type PutOptions struct {
	// IfNoneMatch makes the put create-if-absent: it fails with ErrExists when the key exists
	// (S3 "If-None-Match: *").
	IfNoneMatch bool
	// IfMatch, when set, makes the put a compare-and-swap: it fails with ErrPrecondition unless
	// the object exists with exactly this ETag.
	IfMatch string
	// ContentType is stored with the object where the backend supports it.
	ContentType string
	// SingleAttempt sends the request once: the client does not retry it. A Put whose
	// response is lost then fails instead of being sent again, so a request is applied at
	// most once and, with IfNoneMatch, ErrExists means the object was there before this
	// call. Callers that must never write a given content twice (a manifest that a Delete
	// may remove in between) retry themselves with new content. Backends without retries
	// ignore it.
	SingleAttempt bool
}

// ListPageSize and DeleteBatchSize are S3's page sizes: one LIST request returns at most
// ListPageSize keys and one DeleteObjects request deletes at most DeleteBatchSize keys.
const (
	ListPageSize    = 1000
	DeleteBatchSize = 1000
)

// Bucket is a flat namespace of immutable-by-convention objects addressed by key.
//
// Keys are slash-separated, relative paths (see ValidateKey). All methods are safe for
// concurrent use.
type Bucket interface {
	// Put writes data under key, honouring opts, and returns the new object's attributes.
	Put(ctx context.Context, key string, data []byte, opts PutOptions) (Attrs, error)
	// Get returns the object's content and attributes, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, Attrs, error)
	// Stat returns the object's attributes, or ErrNotFound.
	Stat(ctx context.Context, key string) (Attrs, error)
	// Delete removes the objects with the given keys. Missing keys are not an error, so a retried
	// delete succeeds. Backends batch where they can (S3 DeleteObjects, 1,000 keys a request).
	Delete(ctx context.Context, keys ...string) error
	// List calls fn for every object whose key starts with prefix, in lexical key order. A
	// non-nil error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(Attrs) error) error
	// ListAfter is List of the keys that sort after after (byte order): a listing that
	// resumes, or that starts in the middle of keys ordered by time, without reading the keys
	// before (S3's StartAfter). List is ListAfter with after "".
	ListAfter(ctx context.Context, prefix, after string, fn func(Attrs) error) error
	// Close releases the bucket's resources.
	Close() error
}

// ValidateKey reports whether key is acceptable to every backend: non-empty, at most MaxKeyLen
// bytes, no control characters or backslashes, not absolute, and no empty, "." or ".." path
// elements (so that no key can escape a filesystem root).
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: length %d", ErrInvalidKey, len(key))
	}
	for _, r := range key {
		if unicode.IsControl(r) || r == '\\' || r == unicode.ReplacementChar {
			return fmt.Errorf("%w: %q contains a forbidden character", ErrInvalidKey, key)
		}
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("%w: %q has an empty, \".\" or \"..\" element", ErrInvalidKey, key)
		}
	}
	return nil
}
