package objstore

import (
	"context"
	"sync/atomic"
)

// ListPageSize and DeleteBatchSize are S3's page sizes: one LIST request returns at most
// ListPageSize keys and one DeleteObjects request deletes at most DeleteBatchSize keys.
const (
	ListPageSize    = 1000
	DeleteBatchSize = 1000
)

// Counts is a snapshot of request counts.
type Counts struct {
	Puts, Gets, Heads, Lists, Deletes int64
}

// Sub returns c minus o, the requests made between two snapshots.
func (c Counts) Sub(o Counts) Counts {
	return Counts{c.Puts - o.Puts, c.Gets - o.Gets, c.Heads - o.Heads, c.Lists - o.Lists, c.Deletes - o.Deletes}
}

// Counter counts the requests a Bucket makes, in S3's request model: one PUT per Put, one GET
// per Get, one HEAD per Stat, one LIST per page of ListPageSize keys, one DELETE per
// DeleteBatchSize keys. Retries inside a backend are not counted. Safe for concurrent use.
type Counter struct {
	puts, gets, heads, lists, deletes atomic.Int64
}

// Snapshot returns the counts so far.
func (c *Counter) Snapshot() Counts {
	return Counts{c.puts.Load(), c.gets.Load(), c.heads.Load(), c.lists.Load(), c.deletes.Load()}
}

// Counting wraps b so that every request is counted in c, and also in the Counter of the
// request's context, if it has one (see WithCounter).
func Counting(b Bucket, c *Counter) Bucket { return &counting{b, c} }

type counting struct {
	Bucket
	c *Counter
}

type counterKey struct{}

// WithCounter returns a context under which the requests of a Counting bucket are also counted
// in c: the requests of one operation.
func WithCounter(ctx context.Context, c *Counter) context.Context {
	return context.WithValue(ctx, counterKey{}, c)
}

// count applies add to the bucket's counter and to the context's.
func (b *counting) count(ctx context.Context, add func(*Counter)) {
	add(b.c)
	if c, ok := ctx.Value(counterKey{}).(*Counter); ok {
		add(c)
	}
}

func (b *counting) Put(ctx context.Context, key string, data []byte, opts PutOptions) (Attrs, error) {
	b.count(ctx, func(c *Counter) { c.puts.Add(1) })
	return b.Bucket.Put(ctx, key, data, opts)
}

func (b *counting) Get(ctx context.Context, key string) ([]byte, Attrs, error) {
	b.count(ctx, func(c *Counter) { c.gets.Add(1) })
	return b.Bucket.Get(ctx, key)
}

func (b *counting) Stat(ctx context.Context, key string) (Attrs, error) {
	b.count(ctx, func(c *Counter) { c.heads.Add(1) })
	return b.Bucket.Stat(ctx, key)
}

func (b *counting) Delete(ctx context.Context, keys ...string) error {
	b.count(ctx, func(c *Counter) { c.deletes.Add(int64((len(keys) + DeleteBatchSize - 1) / DeleteBatchSize)) })
	return b.Bucket.Delete(ctx, keys...)
}

func (b *counting) List(ctx context.Context, prefix string, fn func(Attrs) error) error {
	n := 0
	err := b.Bucket.List(ctx, prefix, func(a Attrs) error {
		n++
		return fn(a)
	})
	b.count(ctx, func(c *Counter) { c.lists.Add(int64(n/ListPageSize + 1)) })
	return err
}
