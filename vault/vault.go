package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/lru"
	"github.com/stowken/stowken/internal/meter"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/segment"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound: no conversation with that id is stored.
	ErrNotFound = errors.New("vault: conversation not found")
	// ErrConflict: a different conversation is already stored under that id (Delete it first).
	ErrConflict = errors.New("vault: a different conversation is stored under this id")
	// ErrCorrupt: stored data failed verification (checksum, hash or structure). A read that
	// failed (a timeout, a throttled request) is not ErrCorrupt: it can be retried.
	ErrCorrupt = errors.New("vault: stored data is corrupt")
	// ErrNewerVersion: stored data was written by a newer stowken (a newer manifest schema,
	// frame version or codec, or a tokenizer this build lacks); upgrade to read it.
	ErrNewerVersion = errors.New("vault: written by a newer stowken (upgrade to read it)")
	// ErrMissingSegment: a manifest references a segment object that does not exist.
	ErrMissingSegment = errors.New("vault: segment missing")
	// ErrNoCatalog: the call needs a catalog and the vault was opened without one.
	ErrNoCatalog = errors.New("vault: no catalog (Options.Catalog)")
	// ErrOldLayout: the store holds conversations in the layout of a stowken before batches
	// (a manifest object per conversation); Migrate (stowken migrate) moves them.
	ErrOldLayout = errors.New("vault: the store holds conversations in the layout of an older stowken (one manifest object each): run 'stowken migrate' to move them into batches")
	// ErrReadOnly: the call would write, and the vault was opened read-only (Options.ReadOnly);
	// nothing was changed.
	ErrReadOnly = errors.New("vault: the store was opened read-only")
)

// Defaults for Options.
const (
	DefaultCacheBytes   = 64 << 20
	DefaultStoreTimeout = 10 * time.Minute
	DefaultClaimTTL     = 30 * time.Minute
)

// Options configure a Vault. Bucket and Refs are required.
type Options struct {
	Bucket objstore.Bucket
	Refs   refcount.Backend
	// Catalog keeps a summary of every stored conversation, for List, Stats and export. Store
	// writes an entry after the pointer and Delete removes it after the pointer; it is
	// rebuilt from the pointers and manifests by Verify with Repair. The backends of package location always
	// include one; without it, List and Stats fail with ErrNoCatalog.
	Catalog catalog.Backend
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// CacheBytes bounds each of the vault's three caches (default 64 MiB each): the decoded
	// segments Retrieve reads (checked once, when read from the bucket), the decoded batch objects (manifests) it reads, and the tokens
	// of the message texts Store tokenized lately.
	// (An API log sends a conversation's whole history again with every request, and
	// tokenizing it again would be most of the CPU a Store takes.) Negative: no caching.
	CacheBytes int
	// Concurrency bounds parallel requests of one batch call (default 4 × GOMAXPROCS).
	Concurrency int
	// StoreTimeout is the writer deadline: a Store that has not published its pointers within
	// it gives up and leaves its references to be reclaimed (default 10 minutes). Its batch
	// object records the deadline, and GC retires the batch no sooner. Verify's
	// repair never touches references younger than this.
	StoreTimeout time.Duration
	// ClaimTTL is how long a GC claim on a segment lasts (default 30 minutes). A collector
	// deletes only within the first half of its claim.
	ClaimTTL time.Duration
	// Now is the clock (default time.Now); tests use a fake one.
	Now func() time.Time
	// ReadOnly opens the store for reading only, on any backend: Store, StoreBatch, Delete,
	// GC (except a dry run) and Verify with Repair fail with ErrReadOnly and change nothing.
	// The local store (location/local) also opens its files read-only, so that several
	// readers can share the store.
	ReadOnly bool
	// Sketches writes each conversation's sketches (package sketch: a MinHash signature and
	// an embedding vector, 776 bytes) into its catalog entry, so that stowken dups, cluster
	// and outliers read the catalog instead of every conversation. StoreBatch computes them
	// from the tokens it has; GC, when it gathers the entries of conversations stored alone.
	// They cost no request, CPU at store time (StoreBatch stores 30 to 40% fewer
	// conversations a second) and 440 to 540 bytes per conversation kept, once compressed
	// (docs/design.md, "Sketches and the analyses"). Writers need not agree: an entry without
	// sketches is complete, an analysis computes the missing ones from the conversations, and
	// Sketch writes them in.
	Sketches bool
	// Migrate opens a store that holds conversations in the layout before batches, which is
	// otherwise refused with ErrOldLayout, so that Migrate can move them. Nothing but Migrate
	// should be called on such a vault.
	Migrate bool
}

// Vault stores and retrieves conversations. Use New, or open one at a location (package
// location).
type Vault struct {
	bucket    objstore.Bucket
	refs      refcount.Backend
	catalog   catalog.Backend // nil when opened without one
	log       *slog.Logger
	codec     *codec.Codec
	manifests *manifest.Encoder
	cache     *lru.Cache[decodedSegment] // decoded, verified segments, by segment id
	batches   *lru.Cache[*batchObject]   // decoded batch objects, by batch id
	tokens    *lru.Cache[[]int]          // message tokens, by tokenizer name and text (see tokenize)
	// flights are the segment reads in progress, by segment id (see readSegment).
	flightsMu   sync.Mutex
	flights     map[string]chan struct{}
	concurrency int
	storeTTL    time.Duration
	claimTTL    time.Duration
	now         func() time.Time
	readOnly    bool
	sketches    bool

	models *models
	// conditions is what the Vault knows of its bucket's conditional writes (condcheck.go).
	conditions conditionsState

	// meter is what the Vault's requests cost (Usage). reporter is the reference store when
	// it reports its own usage (a DynamoDB store), nil when Usage models DynamoDB's units.
	meter    cost.Meter
	reporter meter.Reporter
}

// New returns a Vault over the given bucket and reference store, loading the store's
// compression models. Close closes both.
func New(ctx context.Context, opts Options) (*Vault, error) {
	if opts.Bucket == nil || opts.Refs == nil {
		return nil, errors.New("vault: Options.Bucket and Options.Refs are required")
	}
	c, err := codec.New()
	if err != nil {
		return nil, err
	}
	me, err := manifest.NewEncoder()
	if err != nil {
		return nil, err
	}
	v := &Vault{
		log:         opts.Logger,
		codec:       c,
		manifests:   me,
		concurrency: opts.Concurrency,
		storeTTL:    opts.StoreTimeout,
		claimTTL:    opts.ClaimTTL,
		now:         opts.Now,
		readOnly:    opts.ReadOnly,
		sketches:    opts.Sketches,
		models:      newModels(),
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.concurrency <= 0 {
		v.concurrency = 4 * runtime.GOMAXPROCS(0)
	}
	if v.storeTTL <= 0 {
		v.storeTTL = DefaultStoreTimeout
	}
	if v.claimTTL <= 0 {
		v.claimTTL = DefaultClaimTTL
	}
	if v.now == nil {
		v.now = time.Now
	}
	cacheBytes := opts.CacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultCacheBytes
	}
	v.cache = lru.New(cacheBytes, func(_ string, s decodedSegment) int { return 8*len(s.tokens) + 64 })
	// A decoded batch object takes about ten times its compressed size.
	v.batches = lru.New(cacheBytes, func(_ string, b *batchObject) int { return 10 * int(b.size) })
	v.tokens = lru.New(cacheBytes, func(key string, tokens []int) int { return len(key) + 8*len(tokens) + 64 })
	v.flights = map[string]chan struct{}{}
	v.reporter, _ = opts.Refs.(meter.Reporter)
	v.bucket = meter.Bucket(opts.Bucket, &v.meter, partOf)
	v.refs = meter.Refs(opts.Refs, &v.meter)
	if opts.Catalog != nil {
		v.catalog = meter.Catalog(opts.Catalog, &v.meter)
	}
	if err := v.loadModels(ctx); err != nil {
		return nil, err
	}
	if !opts.Migrate {
		old, err := v.hasOldLayout(ctx)
		if err != nil {
			return nil, err
		}
		if old {
			return nil, ErrOldLayout
		}
	}
	return v, nil
}

// Close closes the bucket, the catalog and the reference store.
func (v *Vault) Close() error {
	var cerr error
	if v.catalog != nil {
		cerr = v.catalog.Close()
	}
	return errors.Join(v.bucket.Close(), cerr, v.refs.Close())
}

// Usage returns what the Vault's requests to its backends have cost since it was opened, in
// the units AWS bills (see internal/meter for how each backend is counted; on the local and
// in-memory stores the DynamoDB units are those the same calls would cost on DynamoDB).
func (v *Vault) Usage() cost.Usage { return v.meter.Usage() }

// TableClass returns the DynamoDB table class of the reference store, which prices its usage
// (cost.Prices.ForTableClass), or "" when the reference store is not on DynamoDB.
func (v *Vault) TableClass(ctx context.Context) (string, error) {
	if v.reporter == nil {
		return "", nil
	}
	return v.reporter.TableClass(ctx)
}

// PricesFor returns p priced in the reference store's DynamoDB table class when p names none
// (cost.Prices.ForTableClass), or in cost.DefaultTableClass, the class stowken creates tables
// in, when the reference store is not on DynamoDB (its usage is modelled). When the class cannot
// be read (DescribeTable is not in the writer policy) or is one cost does not know, it returns
// p, which prices the Standard class, and the error for the caller to warn about.
func (v *Vault) PricesFor(ctx context.Context, p cost.Prices) (cost.Prices, error) {
	if p.DDBTableClass != "" {
		return p, nil
	}
	class, err := v.TableClass(ctx)
	switch {
	case err != nil:
		return p, err
	case class == "":
		return p.OrDefaultClass(), nil
	}
	return p.ForTableClass(class)
}

// itemNamespace is the namespace the reference store's items carry ("" when modelled).
func (v *Vault) itemNamespace() string {
	if v.reporter == nil {
		return ""
	}
	return v.reporter.ItemNamespace()
}

// UsageModelled reports whether Usage's DynamoDB units are modelled (a local or in-memory
// reference store) rather than reported by the server.
func (v *Vault) UsageModelled() bool { return v.reporter == nil }

// UsageByPart is Usage by part of the store (cost.Segments, cost.Manifests, ...).
func (v *Vault) UsageByPart() map[cost.Part]cost.Usage { return v.meter.Parts() }

// partOf is the part of the store an object key (or a listing's prefix) belongs to.
func partOf(key string) cost.Part {
	switch {
	case strings.HasPrefix(key, segment.Prefix):
		return cost.Segments
	case strings.HasPrefix(key, manifest.BatchPrefix), strings.HasPrefix(key, manifest.Prefix):
		return cost.Manifests
	case strings.HasPrefix(key, codec.ModelPrefix):
		return cost.Models
	case strings.HasPrefix(key, catalog.FilePrefix), strings.HasPrefix(key, catalog.DeletedPrefix):
		return cost.Catalog
	}
	return cost.Other
}

// objectKey is the object key of an object the reference store protects: a segment, or a
// batch object.
func objectKey(id string) string {
	if manifest.IsBatchID(id) {
		return manifest.BatchKey(id)
	}
	return segment.Key(id)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// forEach runs fn(i) for i in [0, n) on at most limit goroutines and returns the first error;
// after an error, the ctx passed to the remaining calls is cancelled.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, limit))
	for i := range n {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}
