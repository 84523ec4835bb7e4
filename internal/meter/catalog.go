package meter

import (
	"context"
	"errors"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/cost"
)

// Catalog wraps c so that its requests are recorded in m and in the meters of their context,
// as cost.Catalog, when c charges them (a Charger: catalog/parquet). Any other catalog
// (catalog/mem) keeps nothing in AWS, and costs nothing.
//
// The wrapper is a catalog.Compactor; its methods fail with errors.ErrUnsupported when c is
// not one.
func Catalog(c catalog.Backend, m *cost.Meter) catalog.Backend {
	return &cat{c, newMetered(c, m, cost.Catalog)}
}

type cat struct {
	catalog.Backend
	metered
}

var _ catalog.Compactor = (*cat)(nil)

// run runs fn, one call of the catalog, and records what it charged.
func (c *cat) run(ctx context.Context, fn func(ctx context.Context) error) error {
	if !c.reports {
		return fn(ctx)
	}
	return c.call(ctx, fn, always, nil)
}

func (c *cat) Put(ctx context.Context, entries ...catalog.Entry) error {
	return c.run(ctx, func(ctx context.Context) error { return c.Backend.Put(ctx, entries...) })
}

func (c *cat) Delete(ctx context.Context, e catalog.Entry) error {
	return c.run(ctx, func(ctx context.Context) error { return c.Backend.Delete(ctx, e) })
}

func (c *cat) Get(ctx context.Context, id string) (e catalog.Entry, err error) {
	err = c.run(ctx, func(ctx context.Context) (err error) {
		e, err = c.Backend.Get(ctx, id)
		return err
	})
	return e, err
}

func (c *cat) List(ctx context.Context, q catalog.Query) (p catalog.Page, err error) {
	err = c.run(ctx, func(ctx context.Context) (err error) {
		p, err = c.Backend.List(ctx, q)
		return err
	})
	return p, err
}

func (c *cat) Compact(ctx context.Context, opts catalog.CompactOptions) (r catalog.CompactResult, err error) {
	cp, ok := c.Backend.(catalog.Compactor)
	if !ok {
		return r, errors.ErrUnsupported
	}
	err = c.run(ctx, func(ctx context.Context) (err error) {
		r, err = cp.Compact(ctx, opts)
		return err
	})
	return r, err
}

func (c *cat) Deletions(ctx context.Context) (n int, oldest time.Time, err error) {
	cp, ok := c.Backend.(catalog.Compactor)
	if !ok {
		return 0, time.Time{}, errors.ErrUnsupported
	}
	err = c.run(ctx, func(ctx context.Context) (err error) {
		n, oldest, err = cp.Deletions(ctx)
		return err
	})
	return n, oldest, err
}
