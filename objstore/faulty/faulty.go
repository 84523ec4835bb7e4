// Package faulty wraps an objstore.Bucket with programmable faults, for tests of what happens
// when requests fail, are retried, or stall (in the style of kopia's blobtesting).
//
// Every method call becomes a Call. A Fault decides what happens to the calls it matches: fail
// before sending (nothing applied), fail after applying (applied but reported as failed),
// deliver twice (a retried request; the second result is returned), or stall before or after
// applying until a channel releases it or the call's context ends. Faults are consumed in the
// order they were added; a hook (SetHook) sees every call first and can block it, which lets a
// test schedule interleavings deterministically.
//
//	b := faulty.New(mem.New())
//	release := make(chan struct{})
//	b.Add(&faulty.Fault{Match: faulty.OnKey(faulty.OpDelete, key), Wait: release})
//
// DropConditions makes Put ignore the conditions of its options, as some S3-compatible servers
// do. Close is passed through without faults.
package faulty

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stowken/stowken/internal/faults"
	"github.com/stowken/stowken/objstore"
)

// Op names a Bucket method.
type Op string

// The Bucket methods.
const (
	OpPut    Op = "Put"
	OpGet    Op = "Get"
	OpStat   Op = "Stat"
	OpDelete Op = "Delete"
	OpList   Op = "List"
)

// Call is one method call.
type Call struct {
	Op Op
	// Key is the key (Put, Get, Stat), the prefix (List), or the first key (Delete).
	Key string
	// Keys are all the keys of a Delete.
	Keys []string
	// Opts are a Put's options; Size the size of its data.
	Opts objstore.PutOptions
	Size int
}

// SingleAttempt reports whether the client sends the call only once (a Put with
// PutOptions.SingleAttempt): a Duplicate fault then loses its response instead of retrying it.
func (c *Call) SingleAttempt() bool { return c.Op == OpPut && c.Opts.SingleAttempt }

// Write reports whether the call can change the bucket.
func (c *Call) Write() bool { return c.Op == OpPut || c.Op == OpDelete }

// Has reports whether the call concerns key (Delete: any of its keys).
func (c *Call) Has(key string) bool {
	if c.Op == OpDelete {
		return slices.Contains(c.Keys, key)
	}
	return c.Key == key
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

// OnKey matches the calls of one method concerning key.
func OnKey(op Op, key string) func(*Call) bool {
	return func(c *Call) bool { return c.Op == op && c.Has(key) }
}

// OnPrefix matches the calls of one method whose key starts with prefix (Delete: any key).
func OnPrefix(op Op, prefix string) func(*Call) bool {
	return func(c *Call) bool {
		if c.Op != op {
			return false
		}
		if c.Op == OpDelete {
			return slices.ContainsFunc(c.Keys, func(k string) bool { return strings.HasPrefix(k, prefix) })
		}
		return strings.HasPrefix(c.Key, prefix)
	}
}

// Bucket is a fault-injecting objstore.Bucket. Its Injector methods (Add, SetHook, Clear,
// Pending, Stats, VirtualDeadlines) program it.
type Bucket struct {
	*faults.Injector[*Call]
	inner objstore.Bucket

	mu       sync.Mutex
	now      func() time.Time
	modTimes map[string]time.Time
	// dropIfNoneMatch and dropIfMatch are set by DropConditions.
	dropIfNoneMatch, dropIfMatch bool
}

var _ objstore.Bucket = (*Bucket)(nil)

// New wraps b. Without faults every call passes straight through.
func New(b objstore.Bucket) *Bucket {
	return &Bucket{Injector: &faults.Injector[*Call]{}, inner: b, modTimes: map[string]time.Time{}}
}

// Inner returns the wrapped bucket, for checks that must bypass the faults.
func (b *Bucket) Inner() objstore.Bucket { return b.inner }

// StampModTimes makes the bucket report, as the ModTime of every object written through it
// from now on, now() at the time of the write, so that code comparing object ages with a fake
// clock sees consistent times. nil turns it off (objects keep the inner bucket's times).
func (b *Bucket) StampModTimes(now func() time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = now
}

// DropConditions makes every Put from now on ignore PutOptions.IfNoneMatch (ifNoneMatch) and
// PutOptions.IfMatch (ifMatch): the put overwrites unconditionally and succeeds, as on an
// S3-compatible server that accepts the headers and ignores them. Faults and the hook still
// see the options the caller gave. DropConditions(false, false) restores them.
func (b *Bucket) DropConditions(ifNoneMatch, ifMatch bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropIfNoneMatch, b.dropIfMatch = ifNoneMatch, ifMatch
}

// sent returns the options of a Put as the server applies them (see DropConditions).
func (b *Bucket) sent(opts objstore.PutOptions) objstore.PutOptions {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropIfNoneMatch {
		opts.IfNoneMatch = false
	}
	if b.dropIfMatch {
		opts.IfMatch = ""
	}
	return opts
}

// stamp records a write's time (Put) and rewrites a reported ModTime.
func (b *Bucket) stamp(a objstore.Attrs, written bool) objstore.Attrs {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.now == nil {
		return a
	}
	if written {
		b.modTimes[a.Key+"\x00"+a.ETag] = b.now()
	}
	if t, ok := b.modTimes[a.Key+"\x00"+a.ETag]; ok {
		a.ModTime = t
	}
	return a
}

// Put implements objstore.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) (objstore.Attrs, error) {
	var a objstore.Attrs
	err := b.Do(ctx, &Call{Op: OpPut, Key: key, Opts: opts, Size: len(data)}, func() error {
		var err error
		a, err = b.inner.Put(ctx, key, data, b.sent(opts))
		if err == nil {
			a = b.stamp(a, true)
		}
		return err
	})
	if err != nil {
		return objstore.Attrs{}, err
	}
	return a, nil
}

// Get implements objstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, objstore.Attrs, error) {
	var data []byte
	var a objstore.Attrs
	err := b.Do(ctx, &Call{Op: OpGet, Key: key}, func() error {
		var err error
		data, a, err = b.inner.Get(ctx, key)
		return err
	})
	if err != nil {
		return nil, objstore.Attrs{}, err
	}
	return data, b.stamp(a, false), nil
}

// Stat implements objstore.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	var a objstore.Attrs
	err := b.Do(ctx, &Call{Op: OpStat, Key: key}, func() error {
		var err error
		a, err = b.inner.Stat(ctx, key)
		return err
	})
	if err != nil {
		return objstore.Attrs{}, err
	}
	return b.stamp(a, false), nil
}

// Delete implements objstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, keys ...string) error {
	c := &Call{Op: OpDelete, Keys: slices.Clone(keys)}
	if len(keys) > 0 {
		c.Key = keys[0]
	}
	return b.Do(ctx, c, func() error { return b.inner.Delete(ctx, keys...) })
}

// List implements objstore.Bucket. The listing is one call: a fault applies to all of it, and
// a duplicated listing is read twice but reported once (from the second read).
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	return b.list(ctx, prefix, fn, func(fn func(objstore.Attrs) error) error { return b.inner.List(ctx, prefix, fn) })
}

// ListAfter implements objstore.Bucket, as List.
func (b *Bucket) ListAfter(ctx context.Context, prefix, after string, fn func(objstore.Attrs) error) error {
	return b.list(ctx, prefix, fn, func(fn func(objstore.Attrs) error) error { return b.inner.ListAfter(ctx, prefix, after, fn) })
}

// list runs a listing of the inner bucket as one call.
func (b *Bucket) list(ctx context.Context, prefix string, fn func(objstore.Attrs) error, run func(func(objstore.Attrs) error) error) error {
	var all []objstore.Attrs
	err := b.Do(ctx, &Call{Op: OpList, Key: prefix}, func() error {
		all = all[:0]
		return run(func(a objstore.Attrs) error {
			all = append(all, a)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, a := range all {
		if err := fn(b.stamp(a, false)); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the wrapped bucket.
func (b *Bucket) Close() error { return b.inner.Close() }
