// Package mem is an in-memory objstore.Bucket for tests and for examples.
//
// Data lives only as long as the Bucket value. Put and Get copy their data, so callers may reuse
// or modify their buffers.
package mem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stowken/stowken/objstore"
)

// object is one stored version. Its data is never modified after it is stored.
type object struct {
	data  []byte
	attrs objstore.Attrs
}

// Bucket is an in-memory objstore.Bucket. The zero value is not usable; call New.
//
// ETags are the first 16 bytes of the content's SHA-256 in hex followed by "-" and a per-bucket
// write counter, so unlike S3 (whose ETag is the MD5 of the content) every write gets a new
// ETag, even one that stores identical content again.
type Bucket struct {
	mu      sync.RWMutex
	objects map[string]object
	gen     uint64 // incremented by every successful write; part of the ETag
	closed  bool
}

var _ objstore.Bucket = (*Bucket)(nil)

// New returns an empty bucket.
func New() *Bucket {
	return &Bucket{objects: make(map[string]object)}
}

// errClosed is returned by every method after Close.
var errClosed = errors.New("mem: bucket is closed")

// begin checks what every operation checks first: the context and whether the bucket is closed.
// The caller holds b.mu.
func (b *Bucket) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed {
		return errClosed
	}
	return nil
}

// Put stores a copy of data under key, honouring opts.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) (objstore.Attrs, error) {
	if err := objstore.ValidateKey(key); err != nil {
		return objstore.Attrs{}, fmt.Errorf("mem: put: %w", err)
	}
	if opts.IfNoneMatch && opts.IfMatch != "" {
		return objstore.Attrs{}, fmt.Errorf("mem: put %q: IfNoneMatch and IfMatch are mutually exclusive", key)
	}
	sum := sha256.Sum256(data)
	stored := slices.Clone(data)

	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(ctx); err != nil {
		return objstore.Attrs{}, fmt.Errorf("mem: put %q: %w", key, err)
	}
	cur, exists := b.objects[key]
	switch {
	case opts.IfNoneMatch && exists:
		return objstore.Attrs{}, fmt.Errorf("mem: put %q: %w", key, objstore.ErrExists)
	case opts.IfMatch != "" && (!exists || cur.attrs.ETag != opts.IfMatch):
		return objstore.Attrs{}, fmt.Errorf("mem: put %q if-match %q: %w", key, opts.IfMatch, objstore.ErrPrecondition)
	}
	b.gen++
	a := objstore.Attrs{
		Key:     key,
		Size:    int64(len(data)),
		ETag:    hex.EncodeToString(sum[:16]) + "-" + strconv.FormatUint(b.gen, 10),
		ModTime: time.Now(),
	}
	b.objects[key] = object{data: stored, attrs: a}
	return a, nil
}

// Get returns a copy of the object's content and its attributes, or ErrNotFound.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, objstore.Attrs, error) {
	o, err := b.lookup(ctx, "get", key)
	if err != nil {
		return nil, objstore.Attrs{}, err
	}
	return slices.Clone(o.data), o.attrs, nil
}

// Stat returns the object's attributes, or ErrNotFound.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	o, err := b.lookup(ctx, "stat", key)
	return o.attrs, err
}

func (b *Bucket) lookup(ctx context.Context, op, key string) (object, error) {
	if err := objstore.ValidateKey(key); err != nil {
		return object{}, fmt.Errorf("mem: %s: %w", op, err)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.begin(ctx); err != nil {
		return object{}, fmt.Errorf("mem: %s %q: %w", op, key, err)
	}
	o, ok := b.objects[key]
	if !ok {
		return object{}, fmt.Errorf("mem: %s %q: %w", op, key, objstore.ErrNotFound)
	}
	return o, nil
}

// Delete removes the objects with the given keys; missing keys are ignored. If any key is
// invalid nothing is deleted.
func (b *Bucket) Delete(ctx context.Context, keys ...string) error {
	for _, key := range keys {
		if err := objstore.ValidateKey(key); err != nil {
			return fmt.Errorf("mem: delete: %w", err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(ctx); err != nil {
		return fmt.Errorf("mem: delete: %w", err)
	}
	for _, key := range keys {
		delete(b.objects, key)
	}
	return nil
}

// List calls fn, in lexical key order, for every object whose key starts with prefix. It
// works on a snapshot taken at the start, so fn may call other methods of the bucket.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	return b.ListAfter(ctx, prefix, "", fn)
}

// ListAfter is List of the keys after after.
func (b *Bucket) ListAfter(ctx context.Context, prefix, after string, fn func(objstore.Attrs) error) error {
	b.mu.RLock()
	if err := b.begin(ctx); err != nil {
		b.mu.RUnlock()
		return fmt.Errorf("mem: list %q: %w", prefix, err)
	}
	var snap []objstore.Attrs
	for key, o := range b.objects {
		if strings.HasPrefix(key, prefix) && key > after {
			snap = append(snap, o.attrs)
		}
	}
	b.mu.RUnlock()

	slices.SortFunc(snap, func(x, y objstore.Attrs) int { return strings.Compare(x.Key, y.Key) })
	for _, a := range snap {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mem: list %q: %w", prefix, err)
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

// Close drops the bucket's contents. Every later call fails.
func (b *Bucket) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.objects = nil
	return nil
}
