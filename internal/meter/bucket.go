package meter

import (
	"context"

	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/objstore"
)

// Bucket wraps b so that its requests are recorded in m and in the meters of their context,
// under the part that part gives a key (or a listing's prefix).
func Bucket(b objstore.Bucket, m *cost.Meter, part func(key string) cost.Part) objstore.Bucket {
	return &bucket{b, m, part}
}

type bucket struct {
	objstore.Bucket
	m    *cost.Meter // nil: Charging
	part func(string) cost.Part
}

func (b *bucket) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) (objstore.Attrs, error) {
	b.record(ctx, key, cost.Usage{S3PutClass: 1})
	return b.Bucket.Put(ctx, key, data, opts)
}

func (b *bucket) Get(ctx context.Context, key string) ([]byte, objstore.Attrs, error) {
	b.record(ctx, key, cost.Usage{S3GetClass: 1})
	return b.Bucket.Get(ctx, key)
}

func (b *bucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	b.record(ctx, key, cost.Usage{S3GetClass: 1})
	return b.Bucket.Stat(ctx, key)
}

func (b *bucket) Delete(ctx context.Context, keys ...string) error {
	if len(keys) > 0 {
		n := (len(keys) + objstore.DeleteBatchSize - 1) / objstore.DeleteBatchSize
		b.record(ctx, keys[0], cost.Usage{S3Delete: float64(n)})
	}
	return b.Bucket.Delete(ctx, keys...)
}

func (b *bucket) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	return b.list(ctx, prefix, fn, func(fn func(objstore.Attrs) error) error { return b.Bucket.List(ctx, prefix, fn) })
}

func (b *bucket) ListAfter(ctx context.Context, prefix, after string, fn func(objstore.Attrs) error) error {
	return b.list(ctx, prefix, fn, func(fn func(objstore.Attrs) error) error { return b.Bucket.ListAfter(ctx, prefix, after, fn) })
}

// list runs a listing and records its requests: one per page of objstore.ListPageSize keys.
func (b *bucket) list(ctx context.Context, prefix string, fn func(objstore.Attrs) error, run func(func(objstore.Attrs) error) error) error {
	n := 0
	err := run(func(a objstore.Attrs) error {
		n++
		return fn(a)
	})
	b.record(ctx, prefix, cost.Usage{S3PutClass: float64(n/objstore.ListPageSize + 1)})
	return err
}

// record records u, the cost of a request for key, in the meters; or charges it to the call
// of ctx when b is Charging.
func (b *bucket) record(ctx context.Context, key string, u cost.Usage) {
	if b.m == nil {
		cost.Charge(ctx, u)
		return
	}
	record(ctx, b.m, b.part(key), u)
}

// Charging wraps b so that its requests, counted as Bucket counts them, are charged to the
// call of their context (cost.Charge): a backend built on a bucket (catalog/parquet) then
// reports its usage as a DynamoDB store does, and is a Charger.
func Charging(b objstore.Bucket) objstore.Bucket {
	return &bucket{b, nil, nil}
}
