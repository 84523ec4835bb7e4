package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/stowken/stowken/catalog"
	catmem "github.com/stowken/stowken/catalog/mem"
	"github.com/stowken/stowken/objstore"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/refcount"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/storeurl"
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

// MemoryTarget returns a fresh in-memory store (objstore/mem, refcount/mem, catalog/mem).
func MemoryTarget() *Target {
	return &Target{Bucket: objmem.New(), Refs: refmem.New(), Catalog: catmem.New(), Location: "memory"}
}

// OpenTarget opens the store that store and refs name (the URLs of storeurl.Parse) for a
// benchmark, which must start from an empty store:
//
//   - a directory (or file://DIR) must be absent or empty; anything in it is refused;
//   - an s3:// store gets a fresh random sub-prefix ("bench-<time>-<random>") under the URL's
//     prefix: a store of its own, whose references and catalog (in the DynamoDB table, which
//     other stores may share) are kept under its own namespace, so nothing another store holds
//     is seen or touched.
//
// The bucket and the table must exist ("stowken init"). Nothing is deleted afterwards: the
// data stays under Location, a store "stowken --store" can open.
//
// It opens the backends (storeurl.Backends) rather than a vault, because the benchmark needs
// the Bucket and the reference store (see the package doc).
func OpenTarget(ctx context.Context, store, refs string, logger *slog.Logger) (*Target, error) {
	loc, err := storeurl.Parse(store, refs)
	if err != nil {
		return nil, err
	}
	where := loc.Dir
	switch loc.Kind {
	case storeurl.Local:
		entries, err := os.ReadDir(loc.Dir)
		switch {
		case err == nil && len(entries) > 0:
			return nil, fmt.Errorf("bench: store %s is not empty: a benchmark needs a new or empty directory", loc.Dir)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("bench: store %s: %w", loc.Dir, err)
		}
	case storeurl.S3:
		sub := "bench-" + time.Now().UTC().Format("20060102T150405Z") + "-" + randomHex(4)
		u := *loc.Bucket
		u.Path = strings.TrimSuffix(u.Path, "/") + "/" + sub
		loc.Bucket = &u
		shown := u
		shown.RawQuery = ""
		where = shown.Redacted()
	default:
		return nil, fmt.Errorf("bench: unsupported store %q", store)
	}
	o, err := storeurl.Backends(ctx, loc, vault.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &Target{Bucket: o.Bucket, Refs: o.Refs, Catalog: o.Catalog, Location: where, EndToEnd: true}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// shared wraps backends so that a vault's Close leaves them open: the benchmark opens several
// vaults over the same backends and closes the backends itself.
type sharedBucket struct{ objstore.Bucket }

func (sharedBucket) Close() error { return nil }

type sharedRefs struct{ refcount.Backend }

func (sharedRefs) Close() error { return nil }

type sharedCatalog struct{ catalog.Backend }

func (sharedCatalog) Close() error { return nil }
