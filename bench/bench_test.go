package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/location/aws"
	"github.com/stowken/stowken/location/local"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/tokenizer"
)

// TestSampleSmoke runs the benchmark on the first conversations of the shared sample and
// checks that everything came back, that every field was measured, and that the counts agree
// with the corpus.
func TestSampleSmoke(t *testing.T) {
	path := corpus.Path(t, "sample.jsonl")
	const n = 60
	want := corpusCounts(t, path, n)

	for _, isolated := range []bool{false, true} {
		t.Run(fmt.Sprintf("isolated=%v", isolated), func(t *testing.T) {
			var phases []string
			rep, err := Run(context.Background(), Options{Corpus: []string{path}, Workload: "chat", Isolated: isolated,
				Limit: n, Clients: 1, Progress: func(p string) { phases = append(phases, p) }})
			if err != nil {
				t.Fatal(err)
			}
			if rep.RoundtripFailed != 0 || rep.RoundtripOK != n || rep.InvalidLines != 0 {
				t.Fatalf("round trip: %d ok, %d failed, %d invalid lines; errors %q", rep.RoundtripOK, rep.RoundtripFailed, rep.InvalidLines, rep.Errors)
			}
			if rep.Conversations != n || rep.Messages != want.messages || rep.Tokens != want.tokens || rep.TextBytes != want.textBytes {
				t.Errorf("counts: %d conversations, %d messages, %d tokens, %d text bytes; want %d, %d, %d, %d",
					rep.Conversations, rep.Messages, rep.Tokens, rep.TextBytes, n, want.messages, want.tokens, want.textBytes)
			}
			b := rep.Baselines
			nonZero := map[string]float64{
				"stored_bytes": float64(rep.StoredBytes), "bytes_per_token": rep.BytesPerToken,
				"segment_bytes": float64(rep.SegmentBytes), "manifest_bytes": float64(rep.ManifestBytes),
				"store s3_put_class": rep.StoreUsage.S3PutClass, "retrieve s3_get_class": rep.RetrieveUsage.S3GetClass,
				"store ddb_rru": rep.StoreUsage.DDBRRU, "store ddb_wru": rep.StoreUsage.DDBWRU,
				"catalog_bytes": float64(rep.CatalogBytes), "reference_bytes": float64(rep.RefBytes),
				"cost total": rep.Cost.USDPerMillion.Total, "naive cost total": rep.Cost.Baselines[cost.BaselineNaive].USDPerMillion.Total,
				"delivery cost total": rep.Cost.Baselines[cost.BaselineDelivery].USDPerMillion.Total,
				"encode_tokens_per_s": rep.EncodeTokensPerS, "decode_tokens_per_s": rep.DecodeTokensPerS,
				"codec_tokens": float64(rep.CodecTokens), "cold gets p50": rep.ColdGets.P50, "cold gets p99": rep.ColdGets.P99,
				"naive stored_bytes": float64(b.NaiveGzipJSON.StoredBytes), "naive bytes_per_token": b.NaiveGzipJSON.BytesPerToken,
				"per-message stored_bytes": float64(b.PerMessageZstd.StoredBytes), "per-message bytes_per_token": b.PerMessageZstd.BytesPerToken,
				"per-message decode_tokens_per_s": b.PerMessageZstd.DecodeTokensPerS, "per-message encode_tokens_per_s": b.PerMessageZstd.EncodeTokensPerS,
				"bulk stored_bytes": float64(b.BulkBound.StoredBytes), "bulk bytes_per_token": b.BulkBound.BytesPerToken,
				"ratio naive": rep.Ratios.VsNaiveGzipJSON, "ratio per-message": rep.Ratios.VsPerMessageZstd, "ratio bulk": rep.Ratios.VsBulkBound,
				"elapsed": rep.ElapsedSeconds,
			}
			if isolated {
				// Alone, the sample's conversations have no piece of 2,048 tokens: Store keeps
				// everything inline in their batch objects, reads no head, and leaves the
				// catalog entries in them, for a collection to gather.
				delete(nonZero, "segment_bytes")
				delete(nonZero, "store ddb_rru")
				delete(nonZero, "catalog_bytes")
			}
			for name, v := range nonZero {
				if !(v > 0) {
					t.Errorf("%s = %v, want > 0", name, v)
				}
			}
			if rep.StoredBytes != rep.SegmentBytes+rep.ManifestBytes+rep.ModelBytes+rep.CatalogBytes+rep.RefBytes {
				t.Errorf("stored %d != segments %d + manifests %d + models %d + catalog %d + references %d", rep.StoredBytes,
					rep.SegmentBytes, rep.ManifestBytes, rep.ModelBytes, rep.CatalogBytes, rep.RefBytes)
			}
			// The cost counts the store phase's requests and what the store keeps, per
			// conversation, and the naive baseline one PUT and its gzip bytes each.
			c, fn := rep.Cost, float64(n)
			if pc := c.PerConversation; math.Abs(pc.S3Bytes*fn-float64(rep.SegmentBytes+rep.ManifestBytes+rep.ModelBytes+rep.CatalogBytes)) > 1e-6*pc.S3Bytes*fn ||
				math.Abs(pc.DDBBytes*fn-float64(rep.RefBytes)) > 1e-6*pc.DDBBytes*fn ||
				math.Abs(pc.DDBWRU*fn-rep.StoreUsage.DDBWRU) > 1e-6*rep.StoreUsage.DDBWRU || !c.Modelled || c.Months != DefaultMonths {
				t.Errorf("cost per conversation %+v, modelled %v, months %d; the store: %+v", pc, c.Modelled, c.Months, rep.StoreUsage)
			}
			if c.TableClass != cost.DefaultTableClass { // a store without a table: the class stowken creates
				t.Errorf("the in-memory store priced in table class %q", c.TableClass)
			}
			naive := c.Baselines[cost.BaselineNaive].PerConversation
			if naive.S3PutClass != 1 || math.Abs(naive.S3Bytes*fn-float64(b.NaiveGzipJSON.StoredBytes)) > 1e-6*naive.S3Bytes*fn {
				t.Errorf("naive baseline per conversation %+v, want 1 PUT and %d bytes in all", naive, b.NaiveGzipJSON.StoredBytes)
			}
			// A fresh store and one client: every PUT wrote one object, and every object is a
			// segment, a batch object, a model or a catalog file. (Concurrent clients may both
			// PUT a new segment, and all but one find it exists.)
			if objects := rep.Segments + rep.Batches + rep.Models + rep.CatalogFiles; rep.StoreUsage.S3PutClass != float64(objects) {
				t.Errorf("store s3_put_class %v, but the store holds %d objects", rep.StoreUsage.S3PutClass, objects)
			}
			if b.NaiveGzipJSON.S3Puts != n || b.PerMessageZstd.S3Puts != b.PerMessageZstd.UniqueMessages+n {
				t.Errorf("baseline puts: naive %d, per-message %d (%d distinct messages)", b.NaiveGzipJSON.S3Puts,
					b.PerMessageZstd.S3Puts, b.PerMessageZstd.UniqueMessages)
			}
			if b.BulkBound.StoredBytes >= b.PerMessageZstd.ObjectBytes {
				t.Errorf("bulk bound %d bytes is not below the per-message objects' %d", b.BulkBound.StoredBytes, b.PerMessageZstd.ObjectBytes)
			}
			if rep.EndToEnd != nil {
				t.Error("end_to_end reported for the in-memory store")
			}
			if len(phases) == 0 {
				t.Error("no progress reported")
			}
			js, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			json.Unmarshal(js, &fields)
			for _, f := range []string{"workload", "conversations", "messages", "tokens", "text_bytes", "stored_bytes",
				"bytes_per_token", "segment_bytes", "manifest_bytes", "model_bytes", "catalog_bytes", "reference_bytes",
				"store_usage", "retrieve_usage", "encode_tokens_per_s", "decode_tokens_per_s", "roundtrip_ok", "roundtrip_failed",
				"baselines", "cost"} {
				if _, ok := fields[f]; !ok {
					t.Errorf("JSON lacks %q", f)
				}
			}
			// The names scripts depend on (issue 13's "cost" object).
			var named struct {
				Cost struct {
					Months          *int
					PerConversation map[string]float64 `json:"per_conversation"`
					USDPerMillion   map[string]float64 `json:"usd_per_million"`
					Baselines       map[string]struct {
						USDPerMillion map[string]float64 `json:"usd_per_million"`
					}
					Modelled *bool
					Prices   *string
				}
			}
			json.Unmarshal(js, &named)
			for _, k := range []string{"s3_put_class", "s3_get_class", "ddb_wru", "ddb_rru", "s3_bytes", "ddb_bytes", "sqs_requests"} {
				if _, ok := named.Cost.PerConversation[k]; !ok {
					t.Errorf("cost.per_conversation lacks %q", k)
				}
			}
			for _, d := range []map[string]float64{named.Cost.USDPerMillion, named.Cost.Baselines["naive"].USDPerMillion, named.Cost.Baselines["delivery_stream"].USDPerMillion} {
				for _, k := range []string{"writes", "storage_per_month", "total"} {
					if _, ok := d[k]; !ok {
						t.Errorf("a cost's usd_per_million lacks %q: %v", k, d)
					}
				}
			}
			if named.Cost.Months == nil || named.Cost.Modelled == nil || named.Cost.Prices == nil {
				t.Errorf("cost lacks months, modelled or prices: %s", js)
			}
		})
	}
}

type counts struct{ messages, tokens, textBytes int64 }

// corpusCounts counts the first n conversations of a corpus file independently of the
// benchmark's code.
func corpusCounts(t *testing.T, path string, n int) counts {
	t.Helper()
	var c counts
	i := 0
	err := corpus.Lines(path, func(line []byte, _ int) error {
		if i++; i > n {
			return nil
		}
		conv, err := conversation.Parse(line)
		if err != nil {
			return err
		}
		tok, err := tokenizer.Get(conv.Tokenizer)
		if err != nil {
			return err
		}
		for _, m := range conv.Messages {
			c.messages++
			if m.HasTokens() {
				c.tokens += int64(len(m.Tokens))
			} else {
				c.tokens += int64(len(tok.Encode(m.Content)))
				c.textBytes += int64(len(m.Content))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// synthetic conversations with known messages: given as tokens, except two text messages.
var (
	sysTokens  = []int{1, 2, 3}
	longTokens = seqTokens(1000, 2048) // one piece of lookupTokens (2,048): a segment of its own in a Store too
)

func seqTokens(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

type synthMsg struct {
	role   string
	tokens []int  // nil: text
	text   string // when tokens is nil
}

type synthConv struct {
	id   string
	msgs []synthMsg
}

var synthetic = []synthConv{
	{"a", []synthMsg{{"system", sysTokens, ""}, {"user", []int{4, 5}, ""}, {"assistant", []int{6}, ""}}},
	{"b", []synthMsg{{"system", sysTokens, ""}, {"user", []int{7, 8, 9, 10}, ""}, {"assistant", []int{6}, ""}}},
	{"c", []synthMsg{{"system", sysTokens, ""}, {"user", nil, "hello world"}, {"assistant", longTokens, ""}}},
	{"d", []synthMsg{{"user", nil, "hello world"}, {"assistant", longTokens, ""}, {"user", nil, ""}}},
}

func (c synthConv) line(t *testing.T) []byte {
	t.Helper()
	conv := &conversation.Conversation{ID: c.id, Application: "synthetic", Tokenizer: tokenizer.CL100KBase}
	for _, m := range c.msgs {
		msg := conversation.Message{Role: m.role, Content: m.text}
		if m.tokens != nil {
			msg = conversation.Message{Role: m.role, Tokens: m.tokens}
		}
		conv.Messages = append(conv.Messages, msg)
	}
	b, err := conversation.Marshal(conv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeSynthetic(t *testing.T) (path string, lines [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	for _, c := range synthetic {
		l := c.line(t)
		lines = append(lines, l)
		buf.Write(l)
		buf.WriteByte('\n')
	}
	path = filepath.Join(t.TempDir(), "synthetic.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, lines
}

// TestBaselinesSynthetic checks the baselines against numbers computed by hand (counts) or
// independently (compressed sizes) on a tiny corpus.
func TestBaselinesSynthetic(t *testing.T) {
	path, lines := writeSynthetic(t)
	tok, err := tokenizer.Get(tokenizer.CL100KBase)
	if err != nil {
		t.Fatal(err)
	}
	hello := tok.Encode("hello world")
	empty := []int{}

	// Distinct messages in order of first occurrence: sys, [4 5], [6], [7..10], hello, long, "".
	unique := [][]int{sysTokens, {4, 5}, {6}, {7, 8, 9, 10}, hello, longTokens, empty}
	var wantTokens, uniqueTokens int64
	for _, c := range synthetic {
		for _, m := range c.msgs {
			if m.tokens != nil {
				wantTokens += int64(len(m.tokens))
			} else {
				wantTokens += int64(len(tok.Encode(m.text)))
			}
		}
	}
	zenc, err := newPerMessageEncoder()
	if err != nil {
		t.Fatal(err)
	}
	var objectBytes int64
	var all []byte
	for _, u := range unique {
		uniqueTokens += int64(len(u))
		v := codec.AppendVarints(nil, u)
		objectBytes += int64(len(zenc.EncodeAll(v, nil)))
		all = append(all, v...)
	}
	bulk, err := newBulkEncoder(len(all))
	if err != nil {
		t.Fatal(err)
	}
	bulkBytes := int64(len(bulk.EncodeAll(all, nil)))

	var naive int64
	for _, l := range lines {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, 6)
		w.Write(l)
		w.Close()
		naive += int64(buf.Len())
	}
	var manifests int64
	for _, c := range synthetic {
		var refs []string
		for _, m := range c.msgs {
			toks := m.tokens
			if toks == nil {
				toks = tok.Encode(m.text)
			}
			refs = append(refs, fmt.Sprintf(`{"sha256":"%s","tokens":%d}`, segment.ID(tokenizer.CL100KBase, toks), len(toks)))
		}
		manifests += int64(len(fmt.Sprintf(`{"id":"%s","messages":[%s]}`, c.id, strings.Join(refs, ","))))
	}

	// One client and one Store call per conversation: no packs, so the store's objects are
	// known exactly.
	rep, err := Run(context.Background(), Options{Corpus: []string{path}, Workload: "chat", Clients: 1, Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := rep.Baselines
	checks := []struct {
		name      string
		got, want int64
	}{
		{"conversations", rep.Conversations, 4},
		{"messages", rep.Messages, 12},
		{"tokens", rep.Tokens, wantTokens},
		{"text_bytes", rep.TextBytes, 2 * int64(len("hello world"))},
		{"roundtrip_ok", rep.RoundtripOK, 4},
		{"naive stored_bytes", b.NaiveGzipJSON.StoredBytes, naive},
		{"naive s3_puts", b.NaiveGzipJSON.S3Puts, 4},
		{"unique_messages", b.PerMessageZstd.UniqueMessages, int64(len(unique))},
		{"unique_tokens", b.PerMessageZstd.UniqueTokens, uniqueTokens},
		{"per-message object_bytes", b.PerMessageZstd.ObjectBytes, objectBytes},
		{"per-message manifest_bytes", b.PerMessageZstd.ManifestBytes, manifests},
		{"per-message stored_bytes", b.PerMessageZstd.StoredBytes, objectBytes + manifests},
		{"per-message s3_puts (objects + manifests)", b.PerMessageZstd.S3Puts, int64(len(unique)) + 4},
		{"bulk input_bytes", b.BulkBound.InputBytes, int64(len(all))},
		{"bulk stored_bytes", b.BulkBound.StoredBytes, bulkBytes},
		// stowken: a fresh store whose only objects are the one long segment, 4 batch objects and
		// the catalog's file, into which the collection gathered their entries (with a LIST of
		// the batch objects and a PUT of its mark).
		{"segments", rep.Segments, 1},
		{"catalog_files", rep.CatalogFiles, 1},
		{"s3_put_class", int64(rep.StoreUsage.S3PutClass), 5 + rep.CatalogFiles + 2},
		{"codec_tokens", rep.CodecTokens, wantTokens - int64(len(longTokens))},
	}
	// The delivery stream: one PUT for the one batch, every line and its newline a record
	// billed in units of 5 KB, and the lines gzipped together.
	var billed int64
	var stream bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&stream, 6)
	for _, l := range lines {
		billed += (int64(len(l)) + 1 + 5119) / 5120 * 5120
		zw.Write(append(append([]byte{}, l...), '\n'))
	}
	zw.Close()
	want := cost.Usage{S3PutClass: 1, FirehoseBytes: float64(billed), S3Bytes: float64(stream.Len())}
	if got := rep.Cost.Baselines[cost.BaselineDelivery].PerConversation.Scale(4); math.Abs(got.S3PutClass-want.S3PutClass) > 1e-9 ||
		math.Abs(got.FirehoseBytes-want.FirehoseBytes) > 1e-6 || math.Abs(got.S3Bytes-want.S3Bytes) > 1e-6 {
		t.Errorf("delivery stream for 4 conversations %+v, want %+v", got, want)
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if want := float64(objectBytes+manifests) / float64(wantTokens); b.PerMessageZstd.BytesPerToken != want {
		t.Errorf("per-message bytes_per_token %v, want %v", b.PerMessageZstd.BytesPerToken, want)
	}
	if rep.ColdGets.Max != 2 || rep.ColdGets.P50 != 1 {
		t.Errorf("cold GETs %+v: want 1 (the batch object) for the short conversations, 2 with the segment", rep.ColdGets)
	}

	iso, err := Run(context.Background(), Options{Corpus: []string{path}, Workload: "chat", Isolated: true})
	if err != nil {
		t.Fatal(err)
	}
	// Alone, a conversation dedups only within itself: [6] and sys are stored twice or more.
	var isoUnique int64
	for _, c := range synthetic {
		seen := map[string]bool{}
		for _, m := range c.msgs {
			toks := m.tokens
			if toks == nil {
				toks = tok.Encode(m.text)
			}
			seen[segment.ID(tokenizer.CL100KBase, toks)] = true
		}
		isoUnique += int64(len(seen))
	}
	ib := iso.Baselines
	if ib.PerMessageZstd.UniqueMessages != isoUnique || ib.PerMessageZstd.S3Puts != isoUnique+4 || ib.NaiveGzipJSON.StoredBytes != naive {
		t.Errorf("isolated: %d distinct messages, %d puts, naive %d bytes; want %d, %d, %d",
			ib.PerMessageZstd.UniqueMessages, ib.PerMessageZstd.S3Puts, ib.NaiveGzipJSON.StoredBytes, isoUnique, isoUnique+4, naive)
	}
	// Alone, each is a Store of a batch object (and its long segment), whose catalog entry no
	// collection gathers into a file.
	if iso.Segments != 2 || iso.CatalogFiles != 0 || iso.StoreUsage.S3PutClass != 6 || iso.RoundtripOK != 4 || iso.Tokens != wantTokens {
		t.Errorf("isolated: %d segments, %d catalog files, %v puts, %d round trips, %d tokens; want 2, 0, 6, 4, %d",
			iso.Segments, iso.CatalogFiles, iso.StoreUsage.S3PutClass, iso.RoundtripOK, iso.Tokens, wantTokens)
	}
	if iso.StoredBytes <= rep.StoredBytes {
		t.Errorf("isolated stores %d bytes, not more than the shared store's %d", iso.StoredBytes, rep.StoredBytes)
	}
}

// TestAnalyzerOrder checks that the distinct messages are ordered by first occurrence in the
// corpus whatever the order in which concurrent workers see them, so the bulk bound is
// deterministic.
func TestAnalyzerOrder(t *testing.T) {
	_, lines := writeSynthetic(t)
	zenc, err := newPerMessageEncoder()
	if err != nil {
		t.Fatal(err)
	}
	run := func(order []int) baselineResult {
		a := newAnalyzer(zenc)
		var wg sync.WaitGroup
		for _, i := range order {
			c, err := conversation.Parse(lines[i])
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				if err := a.add(i, c, lines[i]); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		res, err := a.finish(&sync.Mutex{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := run([]int{0, 1, 2, 3})
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		order := r.Perm(len(lines))
		got := run(order)
		if got.BulkBytes != first.BulkBytes || got.UniqueMessages != first.UniqueMessages || got.ObjectBytes != first.ObjectBytes {
			t.Fatalf("order %v: bulk %d, %d distinct, %d object bytes; in corpus order %d, %d, %d", order,
				got.BulkBytes, got.UniqueMessages, got.ObjectBytes, first.BulkBytes, first.UniqueMessages, first.ObjectBytes)
		}
	}
}

func TestInvalidLines(t *testing.T) {
	path, lines := writeSynthetic(t)
	bad := append(bytes.Join(lines[:2], []byte("\n")), []byte("\n{\"messages\": 3}\n")...)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Options{Corpus: []string{path}, Workload: "api-replay"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.InvalidLines != 1 || rep.Conversations != 2 || rep.RoundtripOK != 2 || rep.RoundtripFailed != 0 {
		t.Errorf("%d invalid, %d conversations, %d ok, %d failed; want 1, 2, 2, 0", rep.InvalidLines, rep.Conversations, rep.RoundtripOK, rep.RoundtripFailed)
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "synthetic.jsonl:3") {
		t.Errorf("errors %q, want one naming synthetic.jsonl:3", rep.Errors)
	}
}

func TestRunRejects(t *testing.T) {
	ctx := context.Background()
	for name, o := range map[string]Options{
		"workload":          {Corpus: []string{"x"}, Workload: "batch"},
		"no corpus":         {Workload: "chat"},
		"isolated + target": {Corpus: []string{"x"}, Workload: "chat", Isolated: true, Target: MemoryTarget()},
		"missing file":      {Corpus: []string{filepath.Join(t.TempDir(), "absent.jsonl")}, Workload: "chat"},
		"unknown route":     {Corpus: []string{"x"}, Workload: "chat", Via: "carrier-pigeon"},
		"isolated + route":  {Corpus: []string{"x"}, Workload: "chat", Isolated: true, Via: ViaSQS},
	} {
		if _, err := Run(ctx, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestVia: each route stores every conversation exactly through the ingest code, and the
// cost counts what the route adds: the stream's ingestion, the queue's requests, the inbox
// object's requests and the function's invocations, none of which a direct StoreBatch pays.
func TestVia(t *testing.T) {
	path := corpus.Path(t, "sample.jsonl")
	const n, batch = 60, 25
	direct, err := Run(context.Background(), Options{Corpus: []string{path}, Workload: "chat", Limit: n, Batch: batch, Clients: 1})
	if err != nil {
		t.Fatal(err)
	}
	if u := direct.Cost.PerConversation; u.LambdaInvocations+u.SQSRequests+u.FirehoseBytes != 0 {
		t.Fatalf("a direct run counts a route: %+v", u)
	}
	for _, via := range Routes {
		t.Run(via, func(t *testing.T) {
			rep, err := Run(context.Background(), Options{Corpus: []string{path}, Workload: "chat", Limit: n, Batch: batch, Clients: 1, Via: via})
			if err != nil {
				t.Fatal(err)
			}
			if rep.RoundtripOK != n || rep.RoundtripFailed != 0 || rep.Via != via {
				t.Fatalf("round trip: %d ok, %d failed (%q); via %q", rep.RoundtripOK, rep.RoundtripFailed, rep.Errors, rep.Via)
			}
			u := rep.Cost.PerConversation
			invocations := 3.0 / n // three batches: 25, 25, 10 (each well under 6 MB)
			if math.Abs(u.LambdaInvocations-invocations) > 1e-9 || u.LambdaGBSeconds <= 0 {
				t.Errorf("%+v: want one invocation per batch, and its duration", u)
			}
			switch via {
			case ViaSQS:
				// A send per message (each under 64 KB), and per ten messages a receive (of at least one 64 KB chunk) and a delete.
				if u.SQSRequests < 1.2 || u.FirehoseBytes != 0 {
					t.Errorf("%+v: want at least 1.2 SQS requests per conversation", u)
				}
			case ViaFirehose:
				// Every record is billed in whole 5 KB units.
				units := u.FirehoseBytes * n / cost.FirehoseRecordBytes
				if units < n || math.Abs(units-math.Round(units)) > 1e-6 {
					t.Errorf("%+v: %.3f units of 5 KB for %d records; want whole units, at least one per record", u, units, n)
				}
			}
			if via != ViaSQS && u.S3GetClass-direct.Cost.PerConversation.S3GetClass < invocations-1e-9 {
				t.Errorf("%+v: want the inbox object's GET per batch", u)
			}
			if rep.Cost.ByPart[cost.Ingest].Total <= 0 || rep.Cost.USDPerMillion.Total <= direct.Cost.USDPerMillion.Total {
				t.Errorf("route %s costs $%.4f of $%.4f per million, direct $%.4f", via, rep.Cost.ByPart[cost.Ingest].Total,
					rep.Cost.USDPerMillion.Total, direct.Cost.USDPerMillion.Total)
			}
		})
	}
}

// TestEndToEndLocal runs against a directory store, which gets the end-to-end measurement.
func TestEndToEndLocal(t *testing.T) {
	path, _ := writeSynthetic(t)
	dir := filepath.Join(t.TempDir(), "store")
	target, err := OpenTarget(context.Background(), backends, dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	rep, err := Run(context.Background(), Options{Corpus: []string{path}, Workload: "chat", Target: target, Clients: 3})
	if err != nil {
		t.Fatal(err)
	}
	e := rep.EndToEnd
	if e == nil || e.Clients != 3 {
		t.Fatalf("end_to_end %+v", e)
	}
	for name, tp := range map[string]Throughput{"stowken store": e.Stowken.Store, "stowken retrieve": e.Stowken.Retrieve,
		"naive store": e.NaiveGzipJSON.Store, "naive retrieve": e.NaiveGzipJSON.Retrieve} {
		if tp.ConversationsPerS <= 0 || tp.TokensPerS <= 0 || tp.P50Ms <= 0 || tp.P99Ms < tp.P50Ms || tp.Failed != 0 {
			t.Errorf("%s: %+v", name, tp)
		}
	}
	if rep.RoundtripOK != 4 || rep.Store != dir {
		t.Errorf("%d round trips into %s", rep.RoundtripOK, rep.Store)
	}
	naive, err := listKeys(context.Background(), target.Bucket, "bench-naive-gzip-json/")
	if err != nil || len(naive) != 4 {
		t.Errorf("naive objects %q, %v", naive, err)
	}
}

// backends are the backends of the CLI.
var backends = location.NewRegistry(local.Backend{}, aws.Backend{})

func TestOpenTarget(t *testing.T) {
	ctx := context.Background()
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	if _, err := OpenTarget(ctx, backends, full, "", nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty directory: %v", err)
	}
	empty := t.TempDir()
	tg, err := OpenTarget(ctx, backends, "file://"+empty, "", nil)
	if err != nil {
		t.Fatalf("empty directory: %v", err)
	}
	if !tg.EndToEnd {
		t.Error("a directory store gets no end-to-end measurement")
	}
	tg.Close()
	if _, err := OpenTarget(ctx, backends, "s3://bucket/prefix", "", nil); err == nil {
		t.Error("s3 store without refs accepted")
	}

	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	seen := map[string]bool{}
	for range 2 {
		tg, err := OpenTarget(ctx, backends, "s3://bucket/some/prefix?path_style=true", "dynamodb://table", nil)
		if err != nil {
			t.Fatal(err) // opening sends no request
		}
		if !strings.HasPrefix(tg.Location, "s3://bucket/some/prefix/bench-") || seen[tg.Location] {
			t.Errorf("location %q: want a fresh sub-prefix of s3://bucket/some/prefix", tg.Location)
		}
		seen[tg.Location] = true
		tg.Close()
	}
}

func TestDistribution(t *testing.T) {
	xs := make([]float64, 200)
	for i := range xs {
		xs[i] = float64(200 - i) // 200 … 1
	}
	d := distribution(xs)
	if d.P50 != 100 || d.P99 != 198 || d.Max != 200 || d.Mean != 100.5 {
		t.Errorf("%+v", d)
	}
	if d := distribution([]float64{7}); d.P50 != 7 || d.P99 != 7 {
		t.Errorf("%+v", d)
	}
	if d := distribution(nil); d != (Distribution{}) {
		t.Errorf("%+v", d)
	}
}
