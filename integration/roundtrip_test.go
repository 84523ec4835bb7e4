package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/vault"
)

// TestRoundTripSample stores the whole sample corpus and reads every conversation back, through
// a second vault (a fresh process: models loaded from the store, empty cache).
func TestRoundTripSample(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	convs, lines := readCorpus(t, "sample.jsonl", 0)

	v := st.open(t, vault.Options{})
	results, errs := v.StoreBatch(ctx, convs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %q: %v", convs[i].ID, err)
		}
		if results[i].Existed {
			t.Errorf("store %q: reported Existed on a fresh store", convs[i].ID)
		}
	}

	reader := st.open(t, vault.Options{})
	got, errs := reader.RetrieveBatch(ctx, ids(convs))
	identical := 0
	for i, c := range convs {
		if errs[i] != nil {
			t.Fatalf("retrieve %q: %v", c.ID, errs[i])
		}
		if checkRetrieved(t, c.ID, got[i], lines[i]) {
			identical++
		}
	}
	t.Logf("%d conversations round-tripped equal as JSON, %d of them byte-identical to the input line", len(convs), identical)

	stats, err := reader.Stats(ctx, vault.StatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Conversations != int64(len(convs)) {
		t.Errorf("Stats().Conversations = %d, want %d", stats.Conversations, len(convs))
	}
	if n := int64(len(st.segmentObjects(t))); stats.Segments != n {
		t.Errorf("Stats().Segments = %d, but the bucket holds %d segment objects", stats.Segments, n)
	}
	t.Logf("stats: %d conversations, %d tokens, %d segments, %d models, %d bytes stored (%.3f bytes/token)",
		stats.Conversations, stats.Tokens, stats.Segments, stats.Models, stats.StoredBytes, stats.BytesPerToken)

	// List pages through every stored id exactly once, from the catalog's files: all of
	// them, and one application's, newest first. The batch stored them all in the same
	// millisecond and the sample has no created times, so the order is by id, descending.
	app := convs[0].Application
	var all, wantApp []string
	for _, c := range convs {
		all = append(all, c.ID)
		if c.Application == app {
			wantApp = append(wantApp, c.ID)
		}
	}
	slices.Sort(all)
	slices.Reverse(all)
	slices.Sort(wantApp)
	slices.Reverse(wantApp)
	for _, tc := range []struct {
		q    catalog.Query
		want []string
	}{{catalog.Query{Limit: 64}, all}, {catalog.Query{Application: app, Limit: 7}, wantApp}} {
		var listed []string
		for {
			page, err := reader.List(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Entries {
				listed = append(listed, e.ID)
			}
			if tc.q.Cursor = page.Next; tc.q.Cursor == "" {
				break
			}
		}
		if !slices.Equal(listed, tc.want) {
			t.Errorf("List(application %q) returned %d ids, want the %d stored, newest (highest id) first", tc.q.Application, len(listed), len(tc.want))
		}
	}
}

// apiReplayRequests is how many api-replay requests TestRoundTripAPIReplay stores.
const apiReplayRequests = 2000

// TestRoundTripAPIReplay stores the first apiReplayRequests requests of the API replay log (each
// request repeats its conversation's history) one at a time, measuring each Store's requests,
// then retrieves each one through a fresh vault, measuring each Retrieve's GETs.
func TestRoundTripAPIReplay(t *testing.T) {
	t.Parallel()
	n := apiReplayRequests
	if testing.Short() {
		n = 300
	}
	st := newStore(t)
	ctx := context.Background()
	convs, lines := readCorpus(t, "api-replay.jsonl.gz", n)
	n = len(convs)

	v := st.open(t, vault.Options{})
	// The vault's one check of the bucket's conditional writes, which its first Store would
	// otherwise pay (vault/condcheck.go), made first as stowken init does.
	if err := v.CheckConditionalWrites(ctx); err != nil {
		t.Fatal(err)
	}
	puts := make([]float64, n)
	writes := make([]float64, n)
	results := make([]vault.StoreResult, n)
	var totalTokens, newSegments, segments int64
	var extraPuts int64 // PUTs beyond the batch object and the new segments
	start := time.Now()
	before := v.Usage()
	for i, c := range convs {
		b := v.Usage()
		res, err := v.Store(ctx, c)
		if err != nil {
			t.Fatalf("store %q: %v", c.ID, err)
		}
		d := v.Usage().Sub(b)
		// One store per scope (tokenizer, application) uploads the compression model it just
		// built: one PUT more. That the extra PUTs are exactly the models is checked below.
		built := 0
		if d.S3PutClass == float64(2+res.NewSegments) {
			built = 1
		}
		checkStoreBudget(t, c, res, d, built)
		extraPuts += int64(built)
		puts[i], writes[i], results[i] = d.S3PutClass, d.DDBWRU, res
		totalTokens += int64(res.Tokens)
		newSegments += int64(res.NewSegments)
		segments += int64(res.Segments)
	}
	storeTime := time.Since(start)
	total := v.Usage().Sub(before)
	models := int64(len(st.keys(t, codec.ModelPrefix)))
	if extraPuts != models {
		t.Errorf("%d stores made one PUT beyond the batch object and their new segments, but the store holds %d models", extraPuts, models)
	}
	if objs := int64(len(st.segmentObjects(t))); objs != newSegments {
		t.Errorf("the stores report %d new segments, but the bucket holds %d segment objects", newSegments, objs)
	}
	fn := float64(n)
	t.Logf("stored %d api-replay requests (%d tokens) in %s, one at a time", n, totalTokens, storeTime.Round(time.Millisecond))
	t.Logf("per stored conversation: S3 PUTs mean %.3f (p50 %v, p99 %v, max %v); DynamoDB write units mean %.3f (p50 %v, p99 %v, max %v); read units mean %.3f; S3 GET-class %.3f",
		total.S3PutClass/fn, percentile(puts, 50), percentile(puts, 99), slices.Max(puts),
		total.DDBWRU/fn, percentile(writes, 50), percentile(writes, 99), slices.Max(writes),
		total.DDBRRU/fn, total.S3GetClass/fn)
	t.Logf("segments: %d referenced (%.2f per conversation), %d new objects (%.3f per conversation), %d models (%d model PUTs)",
		segments, float64(segments)/fn, newSegments, float64(newSegments)/fn, models, extraPuts)

	// Retrieve through a fresh vault, one at a time, in corpus order (its cache warms as it goes).
	reader := st.open(t, vault.Options{})
	gets := make([]float64, n)
	var identical int
	start = time.Now()
	for i, c := range convs {
		b := reader.Usage()
		got, err := reader.Retrieve(ctx, c.ID)
		if err != nil {
			t.Fatalf("retrieve %q: %v", c.ID, err)
		}
		d := reader.Usage().Sub(b)
		gets[i] = d.S3GetClass
		if d.S3PutClass != 0 || d.S3Delete != 0 || d.DDBRRU > 1 || d.DDBWRU != 0 {
			t.Errorf("retrieve %q made requests other than GETs and the pointer's read: %+v", c.ID, d)
		}
		// One GET for the batch object, at most one per distinct segment (New loaded the models).
		if maxGets := float64(1 + results[i].Segments); d.S3GetClass < 1 || d.S3GetClass > maxGets {
			t.Errorf("retrieve %q: %v GETs for %d segments, want 1..%v", c.ID, d.S3GetClass, results[i].Segments, maxGets)
		}
		if checkRetrieved(t, c.ID, got, lines[i]) {
			identical++
		}
	}
	retrieveTime := time.Since(start)
	cold := make([]int64, n)
	for i, r := range results {
		cold[i] = int64(1 + r.Segments)
	}
	t.Logf("retrieved %d conversations in %s: %d byte-identical to the input line, the rest equal as JSON", n, retrieveTime.Round(time.Millisecond), identical)
	t.Logf("S3 GETs per retrieval (segment cache warming in corpus order): mean %.3f, p50 %v, p99 %v, max %v; "+
		"without any cache it would be 1 (the batch object) + segments: p50 %d, p99 %d, max %d",
		sum(gets)/fn, percentile(gets, 50), percentile(gets, 99), slices.Max(gets),
		percentile(cold, 50), percentile(cold, 99), slices.Max(cold))
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}
