package bench

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/vault"
)

// Report is the result of a benchmark run; its JSON form is what "stowken bench --json"
// prints.
type Report struct {
	Workload string   `json:"workload"`
	Corpus   []string `json:"corpus"`
	// Store is "memory" or where the data went (a directory, or an s3:// URL with the random
	// sub-prefix of this run).
	Store    string `json:"store"`
	Isolated bool   `json:"isolated"`
	// Clients retrieved concurrently; StoreClients stored concurrently, Batch conversations
	// per call (1: Store calls, else StoreBatch calls; see Options.Batch).
	Clients      int `json:"clients"`
	StoreClients int `json:"store_clients"`
	Batch        int `json:"batch"`
	// Via is the route conversations took to StoreBatch (Options.Via), "" for direct calls.
	Via string `json:"via,omitempty"`

	Conversations int64 `json:"conversations"`
	Messages      int64 `json:"messages"`
	// Tokens counts message content tokens: text tokenized with the conversation's tokenizer,
	// or the tokens given.
	Tokens int64 `json:"tokens"`
	// TextBytes is the bytes of content text (messages given as tokens have none).
	TextBytes int64 `json:"text_bytes"`

	// What the store holds at the end (vault.Stats): every byte billed, and its parts.
	// CatalogBytes is the catalog's files in the bucket, RefBytes the reference store's items
	// as DynamoDB bills them (vault.Stats).
	StoredBytes   int64   `json:"stored_bytes"`
	BytesPerToken float64 `json:"bytes_per_token"`
	SegmentBytes  int64   `json:"segment_bytes"`
	ManifestBytes int64   `json:"manifest_bytes"`
	ModelBytes    int64   `json:"model_bytes"`
	CatalogBytes  int64   `json:"catalog_bytes"`
	RefBytes      int64   `json:"reference_bytes"`
	// ContentBytesPerToken is the bucket's bytes (StoredBytes without CatalogBytes and
	// RefBytes) per token.
	ContentBytesPerToken float64 `json:"content_bytes_per_token"`
	Segments             int64   `json:"segments"`
	Batches              int64   `json:"batches"`
	Models               int64   `json:"models"`
	CatalogFiles         int64   `json:"catalog_files"`

	// StoreUsage is the requests of storing everything (vault.Usage), RetrieveUsage those of
	// retrieving everything back once.
	StoreUsage    cost.Usage `json:"store_usage"`
	RetrieveUsage cost.Usage `json:"retrieve_usage"`
	// Cost is what storing the corpus costs per million conversations, with the naive and
	// delivery-stream baselines.
	Cost cost.Report `json:"cost"`

	// stowken's codec alone (codec.Encode/Decode), one goroutine, over every stored segment
	// and every manifest's inline run (CodecTokens tokens).
	EncodeTokensPerS float64 `json:"encode_tokens_per_s"`
	DecodeTokensPerS float64 `json:"decode_tokens_per_s"`
	CodecTokens      int64   `json:"codec_tokens"`

	RoundtripOK     int64 `json:"roundtrip_ok"`
	RoundtripFailed int64 `json:"roundtrip_failed"`
	// InvalidLines counts corpus lines that are not a valid conversation (not measured).
	InvalidLines int64 `json:"invalid_lines"`

	// ColdGets is the S3 GETs one retrieval of one conversation costs with an empty segment
	// cache (a fresh vault with CacheBytes -1 over the same store).
	ColdGets Distribution `json:"cold_gets_per_retrieval"`

	Baselines Baselines `json:"baselines"`
	// Ratios are stowken's stored bytes divided by each baseline's.
	Ratios Ratios `json:"ratios"`

	// EndToEnd is measured against a store given with --store (omitted for the in-memory one).
	EndToEnd *EndToEnd `json:"end_to_end,omitempty"`

	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Errors lists the first problems met (bad lines, failed round trips).
	Errors []string `json:"errors,omitempty"`
}

// Baselines are the same corpus stored the simple ways, computed in the same run on the same
// tokens.
type Baselines struct {
	// NaiveGzipJSON: each conversation's JSON line, gzip -6, one object each.
	NaiveGzipJSON NaiveBaseline `json:"naive_gzip_json"`
	// PerMessageZstd: each distinct message (by SHA-256 of its tokens) as varints compressed
	// with zstd level 3, one object each, plus one JSON manifest per conversation listing one
	// reference (hex hash and token count) per message. StoredBytes counts both.
	PerMessageZstd PerMessageBaseline `json:"per_message_zstd"`
	// BulkBound: the varint tokens of all distinct messages concatenated and compressed at
	// once with the strongest zstd level available (klauspost SpeedBestCompression, the closest
	// to zstd -19), as one frame: a bound that no per-conversation store reaches.
	BulkBound BulkBaseline `json:"bulk_bound"`
}

type NaiveBaseline struct {
	StoredBytes   int64   `json:"stored_bytes"`
	BytesPerToken float64 `json:"bytes_per_token"`
	S3Puts        int64   `json:"s3_put_class"`
}

type PerMessageBaseline struct {
	StoredBytes      int64   `json:"stored_bytes"`
	BytesPerToken    float64 `json:"bytes_per_token"`
	S3Puts           int64   `json:"s3_put_class"`
	DecodeTokensPerS float64 `json:"decode_tokens_per_s"`
	EncodeTokensPerS float64 `json:"encode_tokens_per_s"`
	ObjectBytes      int64   `json:"object_bytes"`
	ManifestBytes    int64   `json:"manifest_bytes"`
	UniqueMessages   int64   `json:"unique_messages"`
	UniqueTokens     int64   `json:"unique_tokens"`
}

type BulkBaseline struct {
	StoredBytes   int64   `json:"stored_bytes"`
	BytesPerToken float64 `json:"bytes_per_token"`
	// InputBytes is the varint tokens compressed.
	InputBytes int64 `json:"input_bytes"`
}

type Ratios struct {
	VsNaiveGzipJSON  float64 `json:"vs_naive_gzip_json"`
	VsPerMessageZstd float64 `json:"vs_per_message_zstd"`
	VsBulkBound      float64 `json:"vs_bulk_bound"`
	// ContentVsNaiveGzipJSON compares the bucket's bytes only (segments, manifests, models:
	// StoredBytes without DynamoDB's) with the naive baseline, which has no catalog.
	ContentVsNaiveGzipJSON float64 `json:"content_vs_naive_gzip_json"`
}

// Distribution summarises per-conversation counts.
type Distribution struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// EndToEnd is throughput and latency against the real store, for stowken and for the naive
// baseline (one gzip JSON object per conversation, PUT and GET in the same bucket): Clients
// concurrent clients, except for stowken's store phase, which has StoreClients (one
// StoreBatch call at a time, unless the batch is 1).
type EndToEnd struct {
	Clients       int    `json:"clients"`
	StoreClients  int    `json:"store_clients"`
	Stowken       Phases `json:"stowken"`
	NaiveGzipJSON Phases `json:"naive_gzip_json"`
}

// Phases: Store is stowken's Store or StoreBatch call (tokenizing and encoding included; a
// conversation's latency is that of the call that stored it) or gzip and PUT; Retrieve is
// Retrieve and conversation.Marshal, or GET and gunzip.
type Phases struct {
	Store    Throughput `json:"store"`
	Retrieve Throughput `json:"retrieve"`
}

type Throughput struct {
	Seconds           float64 `json:"seconds"`
	ConversationsPerS float64 `json:"conversations_per_s"`
	TokensPerS        float64 `json:"tokens_per_s"`
	// JSONBytesPerS is the conversations' JSON lines moved per second.
	JSONBytesPerS float64 `json:"json_bytes_per_s"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	Failed        int64   `json:"failed"`
}

// distribution returns p50, p99 (nearest rank), mean and max of xs.
func distribution(xs []float64) Distribution {
	if len(xs) == 0 {
		return Distribution{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Distribution{P50: percentile(s, 50), P99: percentile(s, 99), Mean: sum / float64(len(s)), Max: s[len(s)-1]}
}

// percentile returns the nearest-rank p-th percentile of sorted xs.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// phaseTimes collects one phase's per-conversation latencies.
type phaseTimes struct {
	wall      time.Duration
	latencies []float64 // milliseconds
	tokens    int64
	jsonBytes int64
	failed    int64
}

func (p *phaseTimes) throughput() Throughput {
	d := distribution(p.latencies)
	t := Throughput{Seconds: p.wall.Seconds(), P50Ms: d.P50, P99Ms: d.P99, Failed: p.failed}
	if s := p.wall.Seconds(); s > 0 {
		t.ConversationsPerS = float64(len(p.latencies)) / s
		t.TokensPerS = float64(p.tokens) / s
		t.JSONBytesPerS = float64(p.jsonBytes) / s
	}
	return t
}

func perToken(bytes, tokens int64) float64 {
	if tokens == 0 {
		return 0
	}
	return float64(bytes) / float64(tokens)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func rate(tokens int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(tokens) / d.Seconds()
}

// subParts is after minus before, by part.
func subParts(after, before map[cost.Part]cost.Usage) map[cost.Part]cost.Usage {
	out := maps.Clone(after)
	for p, u := range before {
		out[p] = out[p].Sub(u)
	}
	return out
}

// addParts returns the sums of a's and b's usage by part.
func addParts(a, b map[cost.Part]cost.Usage) map[cost.Part]cost.Usage {
	out := maps.Clone(a)
	for p, u := range b {
		out[p] = out[p].Add(u)
	}
	return out
}

// storedParts is the store phase's requests by part with the bytes each part keeps.
func storedParts(requests map[cost.Part]cost.Usage, st vault.Stats) map[cost.Part]cost.Usage {
	parts := st.StoredByPart()
	for p, u := range requests {
		parts[p] = parts[p].Add(u)
	}
	return parts
}
