package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/stowken/stowken/catalog"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/internal/meter"
	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/objstore"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/refcount"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/vault"
)

// Target is the fresh, empty store a benchmark writes into: the raw backends, so that the
// benchmark can open several vaults over them (a cold-cache reader beside the writer) and put
// the naive baseline's objects into the same bucket.
type Target struct {
	Bucket  objstore.Bucket
	Refs    refcount.Backend
	Catalog catalog.Backend
	// Location says where the data goes: "memory", a directory, or the s3:// URL with the
	// random sub-prefix this run added.
	Location string
	// EndToEnd is set for stores given by the user (a directory or S3): the report then
	// includes the end-to-end throughput and latency next to the naive baseline's.
	EndToEnd bool
}

// Close closes the backends.
func (t *Target) Close() error {
	return errors.Join(t.Bucket.Close(), t.Catalog.Close(), t.Refs.Close())
}

// MemoryTarget returns a fresh in-memory store (objstore/mem, refcount/mem, and the catalog's
// files in the bucket: catalog/parquet).
func MemoryTarget() *Target {
	b := objmem.New()
	return &Target{Bucket: b, Refs: refmem.New(), Catalog: catparquet.New(b, catparquet.Options{}), Location: "memory"}
}

// OpenTarget opens the store that store and refs name, with the backends of reg, for a
// benchmark, which must start from an empty store: the location's Fresh store (a directory
// must be absent or empty; an s3:// store gets a fresh random sub-prefix "bench-<time>-<random>"
// under the URL's prefix, a store of its own whose references and catalog are kept under its
// own namespace in the table, which other stores may share).
//
// The bucket and the table must exist ("stowken init"). Nothing is deleted afterwards: the
// data stays under Location, a store "stowken --store" can open.
//
// It opens the backends rather than a vault, because the benchmark needs the Bucket and the
// reference backend (see the package doc).
func OpenTarget(ctx context.Context, reg *location.Registry, store, refs string, logger *slog.Logger) (*Target, error) {
	loc, err := reg.Parse(store, refs)
	if err != nil {
		return nil, err
	}
	if loc, err = loc.Fresh(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	o, err := loc.Open(ctx, vault.Options{Logger: logger}, true)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &Target{Bucket: o.Bucket, Refs: o.Refs, Catalog: o.Catalog, Location: loc.String(), EndToEnd: true}, nil
}

// shared returns vault options over backends that a vault's Close leaves open: the benchmark
// opens several vaults over the same backends and closes the backends itself. A reference store
// that reports its own usage (meter.Reporter, the DynamoDB store) stays one, and so does a
// catalog that charges its requests (meter.Charger, catalog/parquet), so that the vault
// counts what the requests cost.
func shared(b objstore.Bucket, r refcount.Backend, c catalog.Backend) vault.Options {
	o := vault.Options{Bucket: sharedBucket{b}, Refs: sharedRefs{r}, Catalog: sharedCatalog{c}}
	if rep, ok := r.(meter.Reporter); ok {
		o.Refs = reportingRefs{sharedRefs{r}, rep}
	}
	if _, ok := c.(meter.Charger); ok {
		o.Catalog = chargingCatalog{sharedCatalog{c}}
	}
	return o
}

type sharedBucket struct{ objstore.Bucket }

func (sharedBucket) Close() error { return nil }

type sharedRefs struct{ refcount.Backend }

func (sharedRefs) Close() error { return nil }

type sharedCatalog struct{ catalog.Backend }

func (sharedCatalog) Close() error { return nil }

type reportingRefs struct {
	sharedRefs
	meter.Reporter
}

type chargingCatalog struct{ sharedCatalog }

func (chargingCatalog) ChargesUsage() {}
