package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stowken/stowken/bench"
)

var benchCommand = &command{
	name:    "bench",
	args:    "[FILE...]",
	summary: "measure compression, requests and speed on a corpus, next to baselines",
	doc: `Stores a corpus (JSONL or JSONL.gz files in the normalized format, given with --corpus
FILE[,FILE...] and/or as arguments) into a fresh store, retrieves everything back and checks
it is identical, and reports: the bytes stored (segments, manifests, models) and per token,
the requests made, the S3 GETs one retrieval costs with a cold cache (p50, p99), and the
speed of the codec on one core; next to three baselines computed in the same run on the same
tokens: naive gzip JSON (one object per conversation), per-message zstd with message-level
dedup (one object per distinct message plus a JSON manifest per conversation), and a bulk
bound (all distinct messages compressed at once at the strongest zstd level).

The store is in memory unless --store is given on the command line (STOWKEN_STORE and
STOWKEN_REFS are not used for it). A directory must be absent or empty; an s3:// store gets
a fresh random sub-prefix, a store of its own (with its own namespace in the --refs table).
The data is left there. With a given store, end-to-end throughput and latency are measured
too (--clients concurrent clients), next to the naive baseline's PUTs and GETs of one gzip
JSON object per conversation in the same bucket.

Conversations are stored as "stowken import" stores them: in batches of --batch consecutive
ones, one StoreBatch call at a time (it packs their unique parts together and works in
parallel inside). --batch 1 stores each with its own Store call from --clients concurrent
clients, as services logging every call would. A conversation's store latency is that of the
call that stored it. Retrievals always come from --clients concurrent clients.

--via inbox|firehose|sqs stores through the ingest function's code (package ingest), as
producers that hand over one conversation at a time would: each batch of --batch
conversations becomes one gzip inbox object (a Writer's, or the delivery stream's with one
record per conversation), or one queue batch of one message per conversation (invocations of
at most 6 MB). The cost then counts the route: the stream's ingestion (records rounded up to
5 KB), the queue's requests (per 64 KB), the inbox objects' requests, and the function's
invocations and GB-seconds (its wall time here, at 1 GB).

--isolated measures every conversation alone in an empty in-memory store: compression
without cross-conversation dedup (sums over the conversations; the baselines then dedup
within a conversation only).

On a terminal, a table is printed; otherwise, or with --json, one JSON object. The exit
status is 1 when a conversation failed to round-trip or a line was invalid.`,
	run: runBench,
}

func runBench(ctx context.Context, e *env, c *command, args []string) error {
	storeBefore := e.store
	fs := e.flagSet(c.name)
	corpusList := fs.String("corpus", "", "corpus `FILES`, comma-separated (JSONL, plain or gzip)")
	workload := fs.String("workload", "", "`NAME` of the workload: "+strings.Join(bench.Workloads, " or "))
	isolated := fs.Bool("isolated", false, "measure every conversation alone in an empty in-memory store")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	clients := fs.Int("clients", bench.DefaultClients, "`N` concurrent clients storing and retrieving")
	batch := fs.Int("batch", bench.DefaultBatch, "store `N` consecutive conversations per StoreBatch call, as import does (1: one Store call each)")
	limit := fs.Int("limit", 0, "read at most `N` lines of the corpus (0: all)")
	via := fs.String("via", "", "hand every batch to the ingest function's code by `ROUTE`: "+strings.Join(bench.Routes, ", ")+" (one inbox object, or one queue batch, per --batch conversations), and count the route's cost")
	var cf costFlags
	cf.register(fs)
	files, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	prices, months, err := cf.load()
	if err != nil {
		return err
	}
	for _, f := range strings.Split(*corpusList, ",") {
		if f = strings.TrimSpace(f); f != "" {
			files = append(files, f)
		}
	}
	switch {
	case len(files) == 0:
		return usageErrorf("bench wants corpus files (--corpus FILE[,FILE...])")
	case *workload == "":
		return usageErrorf("bench wants --workload (%s)", strings.Join(bench.Workloads, " or "))
	case !contains(bench.Workloads, *workload):
		return usageErrorf("--workload %q: want %s", *workload, strings.Join(bench.Workloads, " or "))
	case *clients < 1:
		return usageErrorf("--clients must be at least 1")
	case *batch < 1:
		return usageErrorf("--batch must be at least 1")
	case *limit < 0:
		return usageErrorf("--limit must not be negative")
	case *via != "" && !contains(bench.Routes, *via):
		return usageErrorf("--via %q: want %s", *via, strings.Join(bench.Routes, ", "))
	case *via != "" && *isolated:
		return usageErrorf("--via stores through the ingest function's code into one store; it takes no --isolated")
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}

	opts := bench.Options{Corpus: files, Workload: *workload, Isolated: *isolated, Clients: *clients,
		Batch: *batch, Via: *via, Limit: *limit, Logger: e.log, Prices: prices, Months: months, Sketches: e.sketches}
	if storeGiven(fs, storeBefore) {
		if *isolated {
			return usageErrorf("--isolated uses in-memory stores of its own; it takes no --store")
		}
		t, err := bench.OpenTarget(ctx, backends, e.store, e.refs, e.log)
		if err != nil {
			return err
		}
		defer t.Close()
		opts.Target = t
	}
	if e.progress {
		start := time.Now()
		opts.Progress = func(phase string) {
			fmt.Fprintf(e.stderr, "bench: %6.1fs  %s\n", time.Since(start).Seconds(), phase)
		}
	}

	rep, err := bench.Run(ctx, opts)
	if err != nil {
		return err
	}
	if *asJSON || !e.tables {
		err = writeJSON(e.stdout, rep)
	} else {
		err = printBench(e.stdout, rep)
	}
	if err != nil {
		return err
	}
	for _, msg := range rep.Errors {
		fmt.Fprintln(e.stderr, msg)
	}
	if rep.RoundtripFailed > 0 || rep.InvalidLines > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d conversations failed to round-trip, %d lines were invalid",
			rep.RoundtripFailed, rep.InvalidLines)}
	}
	return nil
}

// storeGiven reports whether --store was given on the command line, after the command name
// (seen by fs) or before it (e.store then differs from its environment default). The
// benchmark never writes into STOWKEN_STORE or the default store by itself.
func storeGiven(fs *flag.FlagSet, before string) bool {
	given := flagGiven(fs, "store") != ""
	envDefault := os.Getenv(envStore)
	if envDefault == "" {
		envDefault = defaultStore
	}
	return given || before != envDefault
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// printBench prints the report for people.
func printBench(w io.Writer, r *bench.Report) error {
	mode := fmt.Sprintf("batches of %d, %d clients retrieving", r.Batch, r.Clients)
	switch {
	case r.Isolated:
		mode = "each conversation alone"
	case r.Via != "":
		mode = fmt.Sprintf("via %s to the ingest function, batches of %d, %d clients retrieving", r.Via, r.Batch, r.Clients)
	case r.Batch == 1:
		mode = fmt.Sprintf("%d clients, one Store call per conversation", r.Clients)
	}
	fmt.Fprintf(w, "stowken bench · workload %s · %d corpus files · store %s · %s\n\n", r.Workload, len(r.Corpus), r.Store, mode)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "conversations\t%s\tmessages %s · invalid lines %d\n", formatCount(r.Conversations), formatCount(r.Messages), r.InvalidLines)
	fmt.Fprintf(tw, "tokens\t%s\ttext %s\n", formatCount(r.Tokens), formatBytes(r.TextBytes))
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	b := r.Baselines
	// Names are padded by hand: the table aligns every column to the right.
	fmt.Fprintf(tw, "%-18s\tstored bytes\t\tbytes/token\tstowken ÷ it\tS3 PUTs\t\n", "")
	row := func(name string, bytes int64, bpt, ratio float64, puts string) {
		fmt.Fprintf(tw, "%-18s\t%s\t%s\t%.3f\t%.3f\t%s\t\n", name, formatCount(bytes), formatBytes(bytes), bpt, ratio, puts)
	}
	row("stowken", r.StoredBytes, r.BytesPerToken, 1, formatUnits(r.StoreUsage.S3PutClass))
	row("naive gzip JSON", b.NaiveGzipJSON.StoredBytes, b.NaiveGzipJSON.BytesPerToken, r.Ratios.VsNaiveGzipJSON, formatCount(b.NaiveGzipJSON.S3Puts))
	row("per-message zstd", b.PerMessageZstd.StoredBytes, b.PerMessageZstd.BytesPerToken, r.Ratios.VsPerMessageZstd, formatCount(b.PerMessageZstd.S3Puts))
	row("bulk bound", b.BulkBound.StoredBytes, b.BulkBound.BytesPerToken, r.Ratios.VsBulkBound, "-")
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "stowken store\tsegments %s (%s) · manifests %s · models %s (%s) · DynamoDB: catalog %s, references %s (as billed)\n",
		formatBytes(r.SegmentBytes), formatCount(r.Segments), formatBytes(r.ManifestBytes), formatBytes(r.ModelBytes), formatCount(r.Models),
		formatBytes(r.CatalogBytes), formatBytes(r.RefBytes))
	fmt.Fprintf(tw, "the bucket alone\t%.3f bytes/token, %.3f × naive gzip JSON\n", r.ContentBytesPerToken, r.Ratios.ContentVsNaiveGzipJSON)
	fmt.Fprintf(tw, "per-message zstd\t%s distinct messages (%s tokens): objects %s · manifests %s\n",
		formatCount(b.PerMessageZstd.UniqueMessages), formatCount(b.PerMessageZstd.UniqueTokens),
		formatBytes(b.PerMessageZstd.ObjectBytes), formatBytes(b.PerMessageZstd.ManifestBytes))
	fmt.Fprintf(tw, "storing everything\t%s\n", formatUsage(r.StoreUsage))
	fmt.Fprintf(tw, "retrieving it once\t%s\n", formatUsage(r.RetrieveUsage))
	fmt.Fprintf(tw, "GETs per cold retrieval\tp50 %g · p99 %g · mean %.2f · max %g\n", r.ColdGets.P50, r.ColdGets.P99, r.ColdGets.Mean, r.ColdGets.Max)
	fmt.Fprintf(tw, "codec, one goroutine\tstowken: encode %s, decode %s tokens/s · per-message zstd: encode %s, decode %s tokens/s\n",
		formatSI(r.EncodeTokensPerS), formatSI(r.DecodeTokensPerS),
		formatSI(b.PerMessageZstd.EncodeTokensPerS), formatSI(b.PerMessageZstd.DecodeTokensPerS))
	fmt.Fprintf(tw, "round trip\t%s identical · %s failed\n", formatCount(r.RoundtripOK), formatCount(r.RoundtripFailed))
	fmt.Fprintf(tw, "elapsed\t%s\n", (time.Duration(r.ElapsedSeconds * float64(time.Second))).Round(100*time.Millisecond))
	tw.Flush()

	fmt.Fprintln(w)
	printCost(w, r.Cost)

	if e2e := r.EndToEnd; e2e != nil {
		fmt.Fprintf(w, "\nend to end: %d clients (stowken store: %d, batches of %d)\n", e2e.Clients, e2e.StoreClients, r.Batch)
		tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%-18s\tconversations/s\ttokens/s\tJSON/s\tp50 ms\tp99 ms\tfailed\t\n", "")
		line := func(name string, t bench.Throughput) {
			fmt.Fprintf(tw, "%-18s\t%.1f\t%s\t%s\t%.1f\t%.1f\t%d\t\n", name, t.ConversationsPerS, formatSI(t.TokensPerS),
				formatBytes(int64(t.JSONBytesPerS)), t.P50Ms, t.P99Ms, t.Failed)
		}
		line("stowken store", e2e.Stowken.Store)
		line("naive store", e2e.NaiveGzipJSON.Store)
		line("stowken retrieve", e2e.Stowken.Retrieve)
		line("naive retrieve", e2e.NaiveGzipJSON.Retrieve)
		tw.Flush()
	}
	return nil
}
