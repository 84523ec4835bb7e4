// Package meter wraps a store's backends so that every request is recorded, in the units AWS
// bills (package cost), in a cost.Meter (the store's total) and in the meters of the request's
// context (cost.WithMeter: one operation's), each under its part of the store.
//
// The bucket is counted in S3's request model whatever backs it: a PUT per Put (a failed
// conditional put included), a GET per Get, a HEAD (GET class) per Stat, a LIST (PUT class) per
// page of objstore.ListPageSize keys, a DELETE per objstore.DeleteBatchSize keys. Retries
// inside a backend are not counted.
//
// The reference store and the catalog are counted in DynamoDB's units. A backend that reports
// what its requests cost (a Reporter: the DynamoDB stores, from the server's consumed capacity;
// see internal/ddbtable) is taken at its word. Any other (the local and in-memory stores, or a
// wrapper that hides the Reporter) is modelled: each call costs what the DynamoDB store's
// requests for it would, sized from the same items (internal/ddbitem, in the empty namespace):
//
//	AddRefs, RemoveRefs, MarkCandidates  the write units of each item (duplicates once)
//	CreateHead, Claim, Release, Revive,  the write units of the head (with the claim), also
//	DeleteHead, RemoveCandidate          when the condition fails
//	CreatePointer, MovePointer,          the write units of the pointer (the new one), also
//	DeletePointer                        when the condition fails
//	GetHead, GetPointer                  a strongly consistent read of the item (1 unit when missing)
//	HasRefs                              one strongly consistent Query per shard queried: the
//	                                     first group of ddbitem.HasRefsFanout when one is found,
//	                                     all ddbitem.RefShards when none is
//	ListCandidates                       one Query per shard, the marks it returns
//	ListRefs, ListHeads, ListPointers    a consistent Scan of the items returned, per 1 MB page
//	                                     (the server also bills the other items it reads)
//
// A call that fails for any other reason than its outcome (ErrConflict, ErrExists,
// ErrNotFound) is not modelled: invalid input sends nothing.
package meter

import (
	"context"
	"errors"

	"github.com/stowken/stowken/cost"
)

// Reporter is a backend whose requests report their own cost (cost.Charge) while the call runs:
// a DynamoDB store.
type Reporter interface {
	// ItemNamespace is the namespace its items carry in their keys (see ddbitem), which is
	// part of their size.
	ItemNamespace() string
	// TableClass is the class of its table (cost.TableClassStandard or
	// cost.TableClassStandardIA), which prices its usage.
	TableClass(ctx context.Context) (string, error)
}

// Charger is a backend whose requests charge what they cost to the call that made them
// (cost.Charge) while the call runs: catalog/parquet, on a Charging bucket.
type Charger interface {
	ChargesUsage()
}

// pageBytes is the most a Scan or Query page reads.
const pageBytes = 1 << 20

// metered is what the metering of the reference store and of the catalog share: the meter,
// the part their usage goes under, and whether the backend is a Reporter.
type metered struct {
	m       *cost.Meter
	part    cost.Part
	reports bool
}

func newMetered(backend any, m *cost.Meter, part cost.Part) metered {
	_, reports := backend.(Reporter)
	_, charges := backend.(Charger)
	return metered{m, part, reports || charges}
}

// call runs fn, one call of the backend, and records what it cost: what its requests reported
// when the backend is a Reporter; otherwise model(), when billed says the call's outcome was
// billed.
func (b metered) call(ctx context.Context, fn func(ctx context.Context) error, billed func(error) bool, model func() cost.Usage) error {
	if b.reports {
		var c cost.Call
		err := fn(cost.WithCall(ctx, &c))
		record(ctx, b.m, b.part, c.Usage())
		return err
	}
	err := fn(ctx)
	if billed(err) {
		record(ctx, b.m, b.part, model())
	}
	return err
}

// record adds u to m and to the meters of ctx.
func record(ctx context.Context, m *cost.Meter, p cost.Part, u cost.Usage) {
	if u == (cost.Usage{}) {
		return
	}
	m.Add(p, u)
	cost.Record(ctx, p, u)
}

// billedIf returns whether a call's outcome was billed: it succeeded, or it failed on one of
// outcomes (a failed condition, a missing item).
func billedIf(outcomes ...error) func(error) bool {
	return func(err error) bool {
		if err == nil {
			return true
		}
		for _, o := range outcomes {
			if errors.Is(err, o) {
				return true
			}
		}
		return false
	}
}

// always is the billing of a listing: what it read is billed, whatever ended it (the caller's
// fn may stop it).
func always(error) bool { return true }

// scanReads is the read units of a consistent Scan or Query that returns items of these sizes
// in pages of pageBytes (at least one page).
func scanReads(sizes []int) float64 {
	units, page := 0.0, 0
	for _, s := range sizes {
		if page > 0 && page+s > pageBytes {
			units += cost.ReadUnits(page, true)
			page = 0
		}
		page += s
	}
	return units + cost.ReadUnits(page, true)
}
