package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/internal/lru"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
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
	// writes an entry after the manifest and Delete removes it after the manifest; it is
	// rebuilt from the manifests by Verify with Repair. The backends of package location always
	// include one; without it, List and Stats fail with ErrNoCatalog.
	Catalog catalog.Backend
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// CacheBytes bounds each of the vault's two caches (default 64 MiB each): the encoded
	// segments Retrieve reads, and the tokens of the message texts Store tokenized lately.
	// (An API log sends a conversation's whole history again with every request, and
	// tokenizing it again would be most of the CPU a Store takes.) Negative: no caching.
	CacheBytes int
	// Concurrency bounds parallel requests of one batch call (default 4 × GOMAXPROCS).
	Concurrency int
	// StoreTimeout is the writer deadline: a Store that has not published its manifest within
	// it gives up and leaves its references to be reclaimed (default 10 minutes). Verify's
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
	cache     *lru.Cache[[]byte] // encoded segment frames, by segment id
	tokens    *lru.Cache[[]int]  // message tokens, by tokenizer name and text (see tokenize)
	// flights are the segment reads in progress, by segment id (see readSegment).
	flightsMu   sync.Mutex
	flights     map[string]chan struct{}
	concurrency int
	storeTTL    time.Duration
	claimTTL    time.Duration
	now         func() time.Time
	readOnly    bool

	models *models
	// conditions is what the Vault knows of its bucket's conditional writes (condcheck.go).
	conditions conditionsState

	bucketCount objstore.Counter
	refsCount   refcount.Counter
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
		catalog:     opts.Catalog,
		log:         opts.Logger,
		codec:       c,
		manifests:   me,
		concurrency: opts.Concurrency,
		storeTTL:    opts.StoreTimeout,
		claimTTL:    opts.ClaimTTL,
		now:         opts.Now,
		readOnly:    opts.ReadOnly,
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
	v.cache = lru.New(cacheBytes, func(_ string, frame []byte) int { return len(frame) })
	v.tokens = lru.New(cacheBytes, func(key string, tokens []int) int { return len(key) + 8*len(tokens) + 64 })
	v.flights = map[string]chan struct{}{}
	v.bucket = objstore.Counting(opts.Bucket, &v.bucketCount)
	v.refs = refcount.Counting(opts.Refs, &v.refsCount)
	if err := v.loadModels(ctx); err != nil {
		return nil, err
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

// Requests counts the requests a Vault made to its backends.
type Requests struct {
	S3Puts, S3Gets, S3Heads, S3Lists, S3Deletes int64
	RefsReads, RefsWrites                       int64
}

// Sub returns r minus o: the requests made between two snapshots.
func (r Requests) Sub(o Requests) Requests {
	return Requests{r.S3Puts - o.S3Puts, r.S3Gets - o.S3Gets, r.S3Heads - o.S3Heads, r.S3Lists - o.S3Lists,
		r.S3Deletes - o.S3Deletes, r.RefsReads - o.RefsReads, r.RefsWrites - o.RefsWrites}
}

// Requests returns the requests made since the Vault was opened (S3's and DynamoDB's request
// model, whichever backend is in use; see objstore.Counter and refcount.Counter).
func (v *Vault) Requests() Requests {
	return requestsOf(v.bucketCount.Snapshot(), v.refsCount.Snapshot())
}

func requestsOf(b objstore.Counts, r refcount.Counts) Requests {
	return Requests{b.Puts, b.Gets, b.Heads, b.Lists, b.Deletes, r.Reads, r.Writes}
}

// opRequests counts the requests of one operation: the vault's counting backends also count in
// the counters of a context made by with.
type opRequests struct {
	bucket objstore.Counter
	refs   refcount.Counter
}

// with returns ctx with the operation's counters.
func (o *opRequests) with(ctx context.Context) context.Context {
	return refcount.WithCounter(objstore.WithCounter(ctx, &o.bucket), &o.refs)
}

func (o *opRequests) snapshot() Requests {
	return requestsOf(o.bucket.Snapshot(), o.refs.Snapshot())
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
