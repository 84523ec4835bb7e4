// Package bench measures stowken on a corpus: it stores every conversation into a
// fresh store, retrieves everything back and checks it is identical, and reports what the
// store holds, the requests it took, the GETs a cold retrieval costs, and the speed of the
// codec, next to three baselines computed in the same run on the same tokens (naive gzip JSON,
// per-message zstd with message-level dedup, and a bulk compression bound). Against a real
// store it also measures end-to-end throughput and latency, next to the naive baseline's.
// "stowken bench" is a thin front end to Run.
//
// The run, in phases:
//
//  1. analyze: read the corpus (in parallel): counts, tokens (each message tokenized once), the
//     naive and per-message baselines;
//  2. store: read it again and store every conversation into the target, in batches of Batch
//     consecutive conversations, one vault.StoreBatch call at a time (as "stowken import"
//     does), or with Batch 1 one by one with vault.Store from Clients concurrent clients;
//     timed per call;
//  3. retrieve: Retrieve every conversation with Clients clients from the same vault (its
//     segment cache warming up) and compare conversation.Marshal of it with that of the input;
//  4. cold GETs: retrieve every conversation alone from fresh vaults with no segment cache
//     (CacheBytes -1), counting the S3 GETs of each;
//  5. vault.Stats; 6. the codec timing (one goroutine, codec only, no I/O); 7. the per-message
//     codec timing and the bulk bound; 8. end to end only: the naive baseline's PUTs and GETs.
//
// With Isolated, every conversation goes through phases 1-7 alone, in an empty in-memory
// store, and the sums are reported: compression without cross-conversation dedup (the
// baselines then dedup within a conversation only).
//
// Memory: the corpus is streamed twice, never held; what is kept is one hash and id per
// conversation and the per-message baseline's compressed distinct messages (plus, in memory,
// the store itself).
//
// The codec timing reads the stored objects back from the bucket, so it depends on the
// store's layout (segments/, batches/, models/ and the model object format of vault).
//
// docs/design.md ("Cost per conversation") says what the benchmark measures today.
package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/vault"
)

// Workloads a report may be labelled with.
var Workloads = []string{"chat", "api-replay"}

// DefaultClients is the number of concurrent clients of the store and retrieve phases.
const DefaultClients = 8

// DefaultBatch is the number of conversations per StoreBatch call: that of "stowken import".
const DefaultBatch = 256

// maxErrors is how many problems a report lists.
const maxErrors = 10

// Options configure Run.
type Options struct {
	// Corpus lists JSONL files (plain or gzip) of conversations in the normalized format.
	Corpus []string
	// Workload labels the report: "chat" or "api-replay".
	Workload string
	// Isolated measures every conversation alone in an empty in-memory store, with Store and
	// no collection: the catalog entries stay in the batch objects (no catalog file).
	Isolated bool
	// Target is the store to write into; nil means a fresh in-memory one. Run does not close it.
	Target *Target
	// Clients is the number of concurrent clients storing and retrieving (DefaultClients).
	Clients int
	// Batch is the number of consecutive conversations stored with one vault.StoreBatch
	// call, which packs their unique parts together (DefaultBatch, the batch of "stowken
	// import"). Batches are stored one call at a time, as import does (StoreBatch works in
	// parallel inside); concurrent calls would also start many batches before the first
	// compression models exist, and store them worse. With Batch 1, Clients clients store a
	// conversation each with vault.Store, as services logging every call would. Isolated runs
	// store each conversation alone with Store.
	Batch int
	// Via, when set, hands every batch to the ingest code by a route of Routes (as producers
	// that send one conversation at a time would, through lambda/ingest), instead of calling
	// StoreBatch: the batch becomes one inbox object (ViaInbox, ViaFirehose) or one event
	// source mapping batch (ViaSQS), and the report's cost counts the route (part
	// cost.Ingest). Not with Isolated.
	Via string
	// Sketches stores with vault.Options.Sketches: the catalog rows carry each conversation's
	// sketches, which the report's stored bytes and store rate include.
	Sketches bool
	// Limit stops after that many corpus lines (0: all).
	Limit int
	// Progress, when set, is called as each phase begins.
	Progress func(phase string)
	// Logger receives the vault's logs; nil discards them.
	Logger *slog.Logger
	// Prices price the report's cost (cost.DefaultPrices when Source is ""; without a table
	// class, that of the target's DynamoDB table), and Months is the months of storage its
	// total counts (DefaultMonths when 0).
	Prices cost.Prices
	Months int
}

// DefaultMonths is the storage a report's cost counts by default: a year.
const DefaultMonths = 12

// Run runs the benchmark. It returns an error when the run itself fails (an unreadable file,
// a store that cannot be written); conversations that fail to store or come back different
// are counted in Report.RoundtripFailed and listed in Report.Errors.
func Run(ctx context.Context, o Options) (*Report, error) {
	if !slices.Contains(Workloads, o.Workload) {
		return nil, fmt.Errorf("bench: workload %q: want one of %v", o.Workload, Workloads)
	}
	if len(o.Corpus) == 0 {
		return nil, errors.New("bench: no corpus files")
	}
	if o.Isolated && o.Target != nil {
		return nil, errors.New("bench: an isolated run uses its own in-memory stores; it takes no target")
	}
	if o.Via != "" && (o.Isolated || !slices.Contains(Routes, o.Via)) {
		return nil, fmt.Errorf("bench: route %q: want one of %v, and not an isolated run", o.Via, Routes)
	}
	if o.Clients <= 0 {
		o.Clients = DefaultClients
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Isolated {
		// Conversations alone, with Store, in as many stores at a time as there are cores.
		o.Batch, o.Clients = 1, runtime.GOMAXPROCS(0)
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Prices.Source == "" {
		o.Prices = cost.DefaultPrices()
	}
	if o.Months <= 0 {
		o.Months = DefaultMonths
	}
	start := time.Now()
	r := &runner{o: o, timing: &sync.Mutex{}}
	zenc, err := newPerMessageEncoder()
	if err != nil {
		return nil, err
	}
	defer zenc.Close()
	r.zenc = zenc

	var rep *Report
	if o.Isolated {
		rep, err = r.isolated(ctx)
	} else {
		t := o.Target
		if t == nil {
			t = MemoryTarget()
			defer t.Close()
		}
		rep, err = r.shared(ctx, t)
	}
	if err != nil {
		return nil, err
	}
	rep.ElapsedSeconds = time.Since(start).Seconds()
	return rep, nil
}

// runner holds what the phases share.
type runner struct {
	o      Options
	zenc   *zstd.Encoder // the per-message baseline's level-3 encoder
	timing *sync.Mutex   // held by timed code: one goroutine times at a time

	errMu  sync.Mutex
	errors []string
}

func (r *runner) fail(where string, err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.errors) < maxErrors {
		r.errors = append(r.errors, fmt.Sprintf("%s: %v", where, err))
	}
}

// record is one conversation stored in the store phase.
type record struct {
	seq       int
	where     string
	id        string
	sum       [32]byte // SHA-256 of conversation.Marshal of the input
	tokens    int64
	jsonBytes int64
}

// totals are the sums a report is made of.
type totals struct {
	base          baselineResult
	invalid       int64
	stats         vault.Stats
	stored        map[cost.Part]cost.Usage // requests of the store phase, by part
	retrieved     cost.Usage               // requests of the round-trip check
	modelled      bool                     // the DynamoDB units are modelled (vault.UsageModelled)
	delivery      cost.Usage               // the delivery-stream baseline
	codec         codecTiming
	ok, failed    int64
	coldGets      []float64
	store, naiveS phaseTimes
	retr, naiveR  phaseTimes
	endToEnd      bool
}

func (r *runner) report(t *totals, where string) *Report {
	b := &t.base
	rep := &Report{
		Workload: r.o.Workload, Corpus: r.o.Corpus, Store: where, Isolated: r.o.Isolated,
		Clients: r.o.Clients, StoreClients: r.storeClients(), Batch: r.o.Batch, Via: r.o.Via,
		Conversations: b.Conversations, Messages: b.Messages, Tokens: b.Tokens, TextBytes: b.TextBytes,
		StoredBytes: t.stats.StoredBytes, BytesPerToken: perToken(t.stats.StoredBytes, b.Tokens),
		SegmentBytes: t.stats.SegmentBytes, ManifestBytes: t.stats.ManifestBytes, ModelBytes: t.stats.ModelBytes,
		CatalogBytes: t.stats.CatalogBytes, RefBytes: t.stats.RefBytes,
		Segments: t.stats.Segments, Batches: t.stats.Batches, Models: t.stats.Models, CatalogFiles: t.stats.CatalogFiles,
		StoreUsage: cost.Total(t.stored), RetrieveUsage: t.retrieved,
		EncodeTokensPerS: rate(t.codec.Tokens, t.codec.Encode), DecodeTokensPerS: rate(t.codec.Tokens, t.codec.Decode),
		CodecTokens: t.codec.Tokens,
		RoundtripOK: t.ok, RoundtripFailed: t.failed, InvalidLines: t.invalid,
		ColdGets: distribution(t.coldGets),
	}
	naive := b.NaiveBytes
	perMsg := b.ObjectBytes + b.ManifestBytes
	rep.Baselines = Baselines{
		NaiveGzipJSON: NaiveBaseline{StoredBytes: naive, BytesPerToken: perToken(naive, b.Tokens), S3Puts: b.NaivePuts},
		PerMessageZstd: PerMessageBaseline{StoredBytes: perMsg, BytesPerToken: perToken(perMsg, b.Tokens),
			S3Puts:           b.UniqueMessages + b.Conversations,
			DecodeTokensPerS: rate(b.UniqueTokens, b.PerMessageDecode), EncodeTokensPerS: rate(b.UniqueTokens, b.PerMessageEncode),
			ObjectBytes: b.ObjectBytes, ManifestBytes: b.ManifestBytes, UniqueMessages: b.UniqueMessages, UniqueTokens: b.UniqueTokens},
		BulkBound: BulkBaseline{StoredBytes: b.BulkBytes, BytesPerToken: perToken(b.BulkBytes, b.Tokens), InputBytes: b.BulkInput},
	}
	rep.Ratios = Ratios{
		VsNaiveGzipJSON:  ratio(rep.StoredBytes, naive),
		VsPerMessageZstd: ratio(rep.StoredBytes, perMsg),
		VsBulkBound:      ratio(rep.StoredBytes, b.BulkBytes),

		ContentVsNaiveGzipJSON: ratio(rep.StoredBytes-rep.CatalogBytes-rep.RefBytes, naive),
	}
	rep.ContentBytesPerToken = perToken(rep.StoredBytes-rep.CatalogBytes-rep.RefBytes, b.Tokens)
	rep.Cost = cost.NewReport(r.o.Prices, r.o.Months, b.Conversations, storedParts(t.stored, t.stats),
		cost.NaiveGzipJSON(int(b.NaivePuts), b.NaiveBytes), t.delivery, t.modelled)
	if t.endToEnd {
		rep.EndToEnd = &EndToEnd{Clients: r.o.Clients, StoreClients: r.storeClients(),
			Stowken:       Phases{Store: t.store.throughput(), Retrieve: t.retr.throughput()},
			NaiveGzipJSON: Phases{Store: t.naiveS.throughput(), Retrieve: t.naiveR.throughput()},
		}
	}
	r.errMu.Lock()
	rep.Errors = slices.Clone(r.errors)
	r.errMu.Unlock()
	return rep
}

// shared runs the phases with every conversation in one store.
func (r *runner) shared(ctx context.Context, target *Target) (*Report, error) {
	t := &totals{endToEnd: target.EndToEnd}
	an := newAnalyzer(r.zenc)

	r.o.Progress("analyzing the corpus (tokens and baselines)")
	var mu sync.Mutex
	invalid := map[int]bool{}
	err := r.lines(ctx, runtime.GOMAXPROCS(0), func(ctx context.Context, l line) error {
		c, err := conversation.Parse(l.data)
		if err == nil {
			err = an.add(l.seq, c, l.data)
		}
		if err != nil {
			r.fail(l.where, err)
			mu.Lock()
			invalid[l.seq] = true
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.invalid = int64(len(invalid))

	r.o.Progress("storing")
	opts := shared(target.Bucket, target.Refs, target.Catalog)
	opts.Logger, opts.Sketches = r.o.Logger, r.o.Sketches
	v, err := vault.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	if r.o.Prices, err = v.PricesFor(ctx, r.o.Prices); err != nil { // the target table's class
		r.o.Logger.Warn("pricing DynamoDB as STANDARD: the table's class is unknown (set the prices' table class)", "err", err)
	}
	// The store's one-time check of conditional writes (what stowken init does) is a cost of
	// the store, not of its conversations: made before measuring.
	if err := v.CheckConditionalWrites(ctx); err != nil {
		return nil, err
	}
	t.modelled = v.UsageModelled()
	var rt *route
	if r.o.Via != "" {
		rt = newRoute(r.o.Via, target.Bucket)
	}
	before := v.UsageByPart()
	var records []record
	start := time.Now()
	err = r.batches(ctx, r.o.Batch, r.storeClients(), func(ctx context.Context, batch []line) error {
		var convs []*conversation.Conversation
		var from []line
		for _, l := range batch {
			if invalid[l.seq] {
				continue // reported by the analysis
			}
			c, err := conversation.Parse(l.data)
			if err != nil {
				return err // it parsed in the analysis
			}
			convs = append(convs, c)
			from = append(from, l)
		}
		if len(convs) == 0 {
			return nil
		}
		t0 := time.Now()
		var results []vault.StoreResult
		var errs []error
		switch {
		case rt != nil:
			var err error
			if results, errs, err = rt.store(ctx, v, convs); err != nil {
				return err
			}
		case r.o.Batch == 1:
			res, err := v.Store(ctx, convs[0])
			results, errs = []vault.StoreResult{res}, []error{err}
		default:
			results, errs = v.StoreBatch(ctx, convs)
		}
		lat := ms(time.Since(t0)) // every conversation of a batch is stored when the call returns
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for i, c := range convs {
			l, res := from[i], results[i]
			if err := errs[i]; err != nil {
				r.fail(l.where, fmt.Errorf("store: %w", err))
				mu.Lock()
				t.failed++
				t.store.failed++
				mu.Unlock()
				continue
			}
			js, err := conversation.Marshal(c)
			if err != nil {
				return err
			}
			mu.Lock()
			records = append(records, record{seq: l.seq, where: l.where, id: res.ID, sum: sha256.Sum256(js),
				tokens: int64(res.Tokens), jsonBytes: int64(len(l.data))})
			t.store.latencies = append(t.store.latencies, lat)
			t.store.tokens += int64(res.Tokens)
			t.store.jsonBytes += int64(len(l.data))
			mu.Unlock()
		}
		return nil
	})
	t.store.wall = time.Since(start)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(records, func(a, b record) int { return a.seq - b.seq })
	t.stored = subParts(v.UsageByPart(), before)
	if rt != nil {
		t.stored[cost.Ingest] = rt.m.Usage()
	}
	if r.o.Batch == 1 && rt == nil {
		r.o.Progress("gathering the catalog entries of the conversations stored alone (GC)")
		gathered, err := gather(ctx, opts)
		if err != nil {
			return nil, err
		}
		t.stored = addParts(t.stored, gathered)
	}
	afterStore := v.Usage()

	r.o.Progress("retrieving and comparing")
	start = time.Now()
	err = spread(ctx, len(records), r.o.Clients, func(ctx context.Context, _, i int) error {
		rec := &records[i]
		t0 := time.Now()
		c, err := v.Retrieve(ctx, rec.id)
		var js []byte
		if err == nil {
			js, err = conversation.Marshal(c)
		}
		lat := time.Since(t0)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && sha256.Sum256(js) != rec.sum {
			err = errors.New("retrieved conversation differs from the input")
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			r.fail(rec.where, fmt.Errorf("retrieve %q: %w", rec.id, err))
			t.failed++
			t.retr.failed++
			return nil
		}
		t.ok++
		t.retr.latencies = append(t.retr.latencies, ms(lat))
		t.retr.tokens += rec.tokens
		t.retr.jsonBytes += rec.jsonBytes
		return nil
	})
	t.retr.wall = time.Since(start)
	if err != nil {
		return nil, err
	}
	t.retrieved = v.Usage().Sub(afterStore)

	r.o.Progress("counting GETs of cold retrievals")
	if t.coldGets, err = r.coldGets(ctx, target, records); err != nil {
		return nil, err
	}

	r.o.Progress("reading store statistics")
	if t.stats, err = v.Stats(ctx, vault.StatsOptions{References: true}); err != nil {
		return nil, err
	}
	if t.stats.Tokens != an.counts.Tokens {
		r.o.Logger.Warn("the store counts other tokens than the analysis", "store", t.stats.Tokens, "analysis", an.counts.Tokens)
	}

	r.o.Progress("timing the codec")
	if t.codec, err = timeCodec(ctx, target.Bucket, r.o.Clients, r.timing); err != nil {
		return nil, err
	}

	r.o.Progress("timing the per-message baseline, computing the bulk bound and the delivery stream")
	if t.base, err = an.finish(r.timing, nil); err != nil {
		return nil, err
	}
	if t.delivery, err = r.deliveryStream(ctx, func(seq int) bool { return !invalid[seq] }); err != nil {
		return nil, err
	}

	if target.EndToEnd {
		r.o.Progress("naive baseline against the store")
		if err := r.naiveEndToEnd(ctx, target.Bucket, records, t); err != nil {
			return nil, err
		}
	}
	return r.report(t, target.Location), nil
}

// storeClients is the number of concurrent callers of the store phase: Clients for Store
// calls, one for StoreBatch calls (see Options.Batch).
func (r *runner) storeClients() int {
	if r.o.Batch > 1 {
		return 1
	}
	return r.o.Clients
}

// coldGets retrieves every conversation alone from fresh vaults without a segment cache and
// returns the S3 GETs each retrieval made. Each client has its own vault, so that its request
// counts are its own.
func (r *runner) coldGets(ctx context.Context, target *Target, records []record) ([]float64, error) {
	vaults := make([]*vault.Vault, r.o.Clients)
	for i := range vaults {
		opts := shared(target.Bucket, target.Refs, target.Catalog)
		opts.CacheBytes, opts.Logger = -1, r.o.Logger
		v, err := vault.New(ctx, opts)
		if err != nil {
			return nil, err
		}
		defer v.Close()
		vaults[i] = v
	}
	gets := make([]float64, len(records))
	ok := make([]bool, len(records))
	err := spread(ctx, len(records), r.o.Clients, func(ctx context.Context, w, i int) error {
		v := vaults[w]
		before := v.Usage()
		if _, err := v.Retrieve(ctx, records[i].id); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil // reported by the retrieve phase
		}
		gets[i], ok[i] = v.Usage().Sub(before).S3GetClass, true
		return nil
	})
	var out []float64
	for i, g := range gets {
		if ok[i] {
			out = append(out, g)
		}
	}
	return out, err
}

// naiveKey is where the naive baseline puts a conversation's gzip JSON in the target bucket.
func naiveKey(seq int) string { return fmt.Sprintf("bench-naive-gzip-json/%09d.json.gz", seq) }

// naiveEndToEnd PUTs every conversation's JSON line, gzip -6, as one object and GETs it back
// (and gunzips it), with Clients clients, timing each.
func (r *runner) naiveEndToEnd(ctx context.Context, b objstore.Bucket, records []record, t *totals) error {
	tokens := make(map[int]int64, len(records))
	for _, rec := range records {
		tokens[rec.seq] = rec.tokens
	}
	var mu sync.Mutex
	sizes := map[int]int{}
	start := time.Now()
	err := r.lines(ctx, r.o.Clients, func(ctx context.Context, l line) error {
		t0 := time.Now()
		var buf bytes.Buffer
		w := gzipPool.Get().(*gzip.Writer)
		w.Reset(&buf)
		w.Write(l.data)
		w.Close()
		gzipPool.Put(w)
		_, err := b.Put(ctx, naiveKey(l.seq), buf.Bytes(), objstore.PutOptions{ContentType: "application/gzip"})
		lat := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.fail(l.where, fmt.Errorf("naive baseline put: %w", err))
			t.naiveS.failed++
			return nil
		}
		sizes[l.seq] = len(l.data)
		t.naiveS.latencies = append(t.naiveS.latencies, ms(lat))
		t.naiveS.tokens += tokens[l.seq]
		t.naiveS.jsonBytes += int64(len(l.data))
		return nil
	})
	t.naiveS.wall = time.Since(start)
	if err != nil {
		return err
	}
	seqs := make([]int, 0, len(sizes))
	for s := range sizes {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	start = time.Now()
	err = spread(ctx, len(seqs), r.o.Clients, func(ctx context.Context, _, i int) error {
		seq := seqs[i]
		t0 := time.Now()
		data, _, err := b.Get(ctx, naiveKey(seq))
		n := 0
		if err == nil {
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(bytes.NewReader(data)); err == nil {
				var js []byte
				js, err = io.ReadAll(zr)
				n = len(js)
			}
		}
		lat := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && n != sizes[seq] {
			err = fmt.Errorf("%d bytes back, %d stored", n, sizes[seq])
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.fail(naiveKey(seq), fmt.Errorf("naive baseline get: %w", err))
			t.naiveR.failed++
			return nil
		}
		t.naiveR.latencies = append(t.naiveR.latencies, ms(lat))
		t.naiveR.tokens += tokens[seq]
		t.naiveR.jsonBytes += int64(n)
		return nil
	})
	t.naiveR.wall = time.Since(start)
	return err
}

// isolated runs every conversation alone in its own empty in-memory store.
func (r *runner) isolated(ctx context.Context) (*Report, error) {
	t := &totals{}
	bulk, err := newBulkEncoder(16 << 20)
	if err != nil {
		return nil, err
	}
	defer bulk.Close()
	var mu sync.Mutex
	invalid := map[int]bool{}
	r.o.Progress("storing and retrieving each conversation alone")
	err = r.lines(ctx, r.o.Clients, func(ctx context.Context, l line) error {
		res, err := r.one(ctx, l, bulk)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case res.invalid:
			t.invalid++
			invalid[l.seq] = true
		default:
			t.add(res)
		}
		if err != nil {
			r.fail(l.where, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t.delivery, err = r.deliveryStream(ctx, func(seq int) bool { return !invalid[seq] }); err != nil {
		return nil, err
	}
	t.modelled = true // in-memory stores, without a table
	r.o.Prices = r.o.Prices.OrDefaultClass()
	return r.report(t, "memory (one store per conversation)"), nil
}

// oneResult is one conversation measured alone.
type oneResult struct {
	invalid bool
	base    baselineResult
	stats   vault.Stats
	stored  map[cost.Part]cost.Usage
	codec   codecTiming
	ok      bool
	gets    int64
}

func (t *totals) add(o oneResult) {
	b := &t.base
	b.Conversations += o.base.Conversations
	b.Messages += o.base.Messages
	b.Tokens += o.base.Tokens
	b.TextBytes += o.base.TextBytes
	b.NaiveBytes += o.base.NaiveBytes
	b.NaivePuts += o.base.NaivePuts
	b.ManifestBytes += o.base.ManifestBytes
	b.UniqueMessages += o.base.UniqueMessages
	b.UniqueTokens += o.base.UniqueTokens
	b.ObjectBytes += o.base.ObjectBytes
	b.PerMessageEncode += o.base.PerMessageEncode
	b.PerMessageDecode += o.base.PerMessageDecode
	b.BulkBytes += o.base.BulkBytes
	b.BulkInput += o.base.BulkInput

	s := &t.stats
	s.Conversations += o.stats.Conversations
	s.Messages += o.stats.Messages
	s.Tokens += o.stats.Tokens
	s.StoredBytes += o.stats.StoredBytes
	s.SegmentBytes += o.stats.SegmentBytes
	s.ManifestBytes += o.stats.ManifestBytes
	s.ModelBytes += o.stats.ModelBytes
	s.CatalogBytes += o.stats.CatalogBytes
	s.RefBytes += o.stats.RefBytes
	s.Segments += o.stats.Segments
	s.Batches += o.stats.Batches
	s.Models += o.stats.Models
	s.CatalogFiles += o.stats.CatalogFiles

	if t.stored == nil {
		t.stored = map[cost.Part]cost.Usage{}
	}
	for p, u := range o.stored {
		t.stored[p] = t.stored[p].Add(u)
	}
	t.retrieved.S3GetClass += float64(o.gets)

	t.codec.add(o.codec)
	if o.ok {
		t.ok++
		t.coldGets = append(t.coldGets, float64(o.gets))
	} else {
		t.failed++
	}
}

// one measures one conversation in a store of its own: analysis and baselines, Store, Stats,
// a cold Retrieve (a second vault without cache over the same backends) and the codec timing.
// The error describes a failed round trip (res.ok is false) or an invalid line.
func (r *runner) one(ctx context.Context, l line, bulk *zstd.Encoder) (oneResult, error) {
	var res oneResult
	c, err := conversation.Parse(l.data)
	an := newAnalyzer(r.zenc)
	if err == nil {
		err = an.add(0, c, l.data)
	}
	if err != nil {
		res.invalid = true
		return res, err
	}
	if res.base, err = an.finish(r.timing, bulk); err != nil {
		return res, err
	}

	t := MemoryTarget()
	b, refs, cat := t.Bucket, t.Refs, t.Catalog
	v, err := vault.New(ctx, vault.Options{Bucket: b, Refs: refs, Catalog: cat, Logger: r.o.Logger, Sketches: r.o.Sketches})
	if err != nil {
		return res, err
	}
	defer v.Close()
	if err := v.CheckConditionalWrites(ctx); err != nil { // the store's, as in the shared run
		return res, err
	}
	before := v.UsageByPart()
	stored, err := v.Store(ctx, c)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	js, err := conversation.Marshal(c)
	if err != nil {
		return res, err
	}
	res.stored = subParts(v.UsageByPart(), before)
	if res.stats, err = v.Stats(ctx, vault.StatsOptions{References: true}); err != nil {
		return res, err
	}

	opts := shared(b, refs, cat)
	opts.CacheBytes, opts.Logger = -1, r.o.Logger
	cold, err := vault.New(ctx, opts)
	if err != nil {
		return res, err
	}
	defer cold.Close()
	coldBefore := cold.Usage()
	got, err := cold.Retrieve(ctx, stored.ID)
	var back []byte
	if err == nil {
		back, err = conversation.Marshal(got)
	}
	if err == nil && !bytes.Equal(back, js) {
		err = errors.New("retrieved conversation differs from the input")
	}
	if err != nil {
		return res, fmt.Errorf("retrieve %q: %w", stored.ID, err)
	}
	res.gets = int64(cold.Usage().Sub(coldBefore).S3GetClass)

	if res.codec, err = timeCodec(ctx, b, 1, r.timing); err != nil {
		return res, err
	}
	res.ok = true
	return res, nil
}

// gather runs the collection that writes the catalog entries of conversations stored alone
// into the catalog's files (Store leaves them in their batch objects for GC: vault/solo.go), on
// a vault over opts whose clock is past their writer deadline, and returns its requests by
// part: they are part of what storing those conversations costs.
func gather(ctx context.Context, opts vault.Options) (map[cost.Part]cost.Usage, error) {
	opts.Now = func() time.Time {
		return time.Now().Add(vault.DefaultStoreTimeout + vault.DefaultClaimTTL/2 + time.Second)
	}
	gv, err := vault.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer gv.Close()
	before := gv.UsageByPart()
	if _, err := gv.GC(ctx, vault.GCOptions{}); err != nil {
		return nil, fmt.Errorf("gather the catalog entries: %w", err)
	}
	return subParts(gv.UsageByPart(), before), nil
}

// line is one corpus line.
type line struct {
	seq   int    // 0-based position in the corpus (all files, in order)
	where string // FILE:LINE
	data  []byte
}

var errLimit = errors.New("limit reached")

// lines reads the corpus in order and calls fn for every line on `workers` goroutines. An
// error from fn stops the run and is returned.
func (r *runner) lines(ctx context.Context, workers int, fn func(ctx context.Context, l line) error) error {
	return r.batches(ctx, 1, workers, func(ctx context.Context, b []line) error { return fn(ctx, b[0]) })
}

// batches reads the corpus in order and calls fn on `workers` goroutines for every run of
// `size` consecutive lines (the last one may be shorter). An error from fn stops the run and
// is returned.
func (r *runner) batches(ctx context.Context, size, workers int, fn func(ctx context.Context, b []line) error) error {
	g, ctx := errgroup.WithContext(ctx)
	ch := make(chan []line, workers)
	g.Go(func() error {
		defer close(ch)
		seq := 0
		var batch []line
		send := func() error {
			select {
			case ch <- batch:
				batch = nil
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for _, f := range r.o.Corpus {
			err := corpus.Lines(f, func(data []byte, n int) error {
				if r.o.Limit > 0 && seq >= r.o.Limit {
					return errLimit
				}
				batch = append(batch, line{seq, fmt.Sprintf("%s:%d", f, n), bytes.Clone(data)})
				seq++
				if len(batch) == size {
					return send()
				}
				return nil
			})
			if errors.Is(err, errLimit) {
				break
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("bench: read corpus: %w", err)
			}
		}
		if len(batch) > 0 {
			return send()
		}
		return nil
	})
	for range max(1, workers) {
		g.Go(func() error {
			for b := range ch {
				if err := fn(ctx, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// spread calls fn(ctx, worker, i) for i in [0, n) on `workers` goroutines; worker is the
// goroutine's number in [0, workers). The first error stops it and is returned.
func spread(ctx context.Context, n, workers int, fn func(ctx context.Context, worker, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for w := range max(1, workers) {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return nil
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := fn(ctx, w, i); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
