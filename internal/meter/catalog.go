package meter

import (
	"context"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/ddbitem"
)

// Catalog wraps c so that its requests are recorded in m and in the meters of their context,
// as cost.Catalog: what c reports if it is a Reporter, the model otherwise (see the package
// documentation).
func Catalog(c catalog.Backend, m *cost.Meter) catalog.Backend {
	return &cat{c, newMetered(c, m, cost.Catalog)}
}

type cat struct {
	catalog.Backend
	metered
}

// catBilled is when a modelled call of the catalog is billed.
var catBilled = billedIf(catalog.ErrNotFound)

func (c *cat) Put(ctx context.Context, e catalog.Entry) error {
	return c.call(ctx, func(ctx context.Context) error { return c.Backend.Put(ctx, e) }, catBilled,
		func() cost.Usage { return cost.Usage{DDBWRU: ddbitem.WriteUnits(ddbitem.Catalog("", e))} })
}

func (c *cat) Delete(ctx context.Context, id, nonce string) error {
	var old ddbitem.Item
	if !c.reports {
		if e, err := c.Backend.Get(ctx, id); err == nil && (nonce == "" || e.Nonce == nonce) {
			old = ddbitem.Catalog("", e)
		}
	}
	return c.call(ctx, func(ctx context.Context) error { return c.Backend.Delete(ctx, id, nonce) }, catBilled,
		func() cost.Usage {
			if old == nil { // nothing deleted: the (failed) condition is billed as one unit
				return cost.Usage{DDBWRU: 1}
			}
			return cost.Usage{DDBWRU: ddbitem.WriteUnits(old)}
		})
}

func (c *cat) Get(ctx context.Context, id string) (catalog.Entry, error) {
	var e catalog.Entry
	err := c.call(ctx, func(ctx context.Context) (err error) {
		e, err = c.Backend.Get(ctx, id)
		return err
	}, catBilled, func() cost.Usage {
		if e.ID == "" {
			return cost.Usage{DDBRRU: cost.ReadUnits(0, true)}
		}
		return cost.Usage{DDBRRU: cost.ReadUnits(ddbitem.Size(ddbitem.Catalog("", e)), true)}
	})
	return e, err
}

func (c *cat) List(ctx context.Context, q catalog.Query) (catalog.Page, error) {
	var p catalog.Page
	err := c.call(ctx, func(ctx context.Context) (err error) {
		p, err = c.Backend.List(ctx, q)
		return err
	}, catBilled, func() cost.Usage {
		sizes := make([]int, ddbitem.CatalogShards)
		for _, e := range p.Entries {
			sizes[ddbitem.CatalogShard(e.ID)] += ddbitem.Size(ddbitem.Catalog("", e))
		}
		var u cost.Usage
		for _, s := range sizes { // index reads are eventually consistent
			u.DDBRRU += cost.ReadUnits(s, false)
		}
		return u
	})
	return p, err
}
