package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/tokenizer"
)

// analyzer reads the corpus once for everything that is not stowken itself: the counts
// (messages, tokens, text bytes) and the three baselines. Each message is tokenized once with
// its conversation's tokenizer (text seen before is not tokenized again: a cache maps the
// text's hash to its token hash and count), and the tokens are shared by every baseline.
// add is safe for concurrent use; finish is called once, after the last add.
type analyzer struct {
	zenc *zstd.Encoder // per-message zstd, level 3

	mu       sync.Mutex
	texts    map[[32]byte]textRef  // sha256(tokenizer, NUL, text) → tokens' id and count
	messages map[string]*uniqueMsg // by token hash (segment.ID): one object each
	counts   analysis
}

// analysis is what analyzer.add counts.
type analysis struct {
	Conversations, Messages, Tokens, TextBytes int64

	// NaiveBytes is gzip -6 of each conversation's JSON line, one object per conversation.
	NaiveBytes, NaivePuts int64

	// ManifestBytes is the per-message baseline's JSON manifests, one per conversation.
	ManifestBytes int64
}

type textRef struct {
	id     string
	tokens int
}

// uniqueMsg is one distinct message (by tokens): its first occurrence in corpus order, and
// its per-message zstd object.
type uniqueMsg struct {
	conv, msg int // position of the first occurrence: (conversation sequence number, message index)
	tokens    int
	z         []byte // varint tokens, zstd level 3; nil while being compressed
}

// newAnalyzer returns an analyzer whose per-message objects are compressed with zenc: level
// 3 ("zstd -3", klauspost's SpeedDefault), no content checksum (the stowken frame's CRC is 4
// bytes, zstd's XXH64 would be 4 more) and a frame for empty input too (WithZeroFrames), so
// that every message is a decodable object.
func newAnalyzer(zenc *zstd.Encoder) *analyzer {
	return &analyzer{zenc: zenc, texts: map[[32]byte]textRef{}, messages: map[string]*uniqueMsg{}}
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, 6)
	return w
}}

// gzipSize returns the size of data compressed with gzip at level 6 (gzip -6).
func gzipSize(data []byte) int64 {
	var buf bytes.Buffer
	w := gzipPool.Get().(*gzip.Writer)
	w.Reset(&buf)
	w.Write(data)
	w.Close()
	gzipPool.Put(w)
	return int64(buf.Len())
}

// perMessageManifest is the per-message baseline's manifest: one reference per message, in
// order, as the hex SHA-256 of its tokens and its token count. It holds less than a stowken
// manifest (no roles, tool calls or metadata), which favours the baseline.
type perMessageManifest struct {
	ID       string          `json:"id"`
	Messages []perMessageRef `json:"messages"`
}

type perMessageRef struct {
	SHA256 string `json:"sha256"`
	Tokens int    `json:"tokens"`
}

// add analyzes conversation c, the seq-th of the corpus, whose JSON line is line.
func (a *analyzer) add(seq int, c *conversation.Conversation, line []byte) error {
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		return err
	}
	naive := gzipSize(line)
	man := perMessageManifest{ID: c.ID, Messages: make([]perMessageRef, len(c.Messages))}
	var tokens, textBytes int64
	for i := range c.Messages {
		m := &c.Messages[i]
		var ref textRef
		var toks []int
		if m.HasTokens() {
			toks = m.Tokens
			ref = textRef{segment.ID(c.Tokenizer, toks), len(toks)}
		} else {
			textBytes += int64(len(m.Content))
			key := textKey(c.Tokenizer, m.Content)
			a.mu.Lock()
			cached, ok := a.texts[key]
			a.mu.Unlock()
			if ok {
				ref = cached
			} else {
				toks = tok.Encode(m.Content)
				ref = textRef{segment.ID(c.Tokenizer, toks), len(toks)}
			}
		}
		tokens += int64(ref.tokens)
		man.Messages[i] = perMessageRef{ref.id, ref.tokens}

		a.mu.Lock()
		u, seen := a.messages[ref.id]
		if seen {
			if seq < u.conv || seq == u.conv && i < u.msg {
				u.conv, u.msg = seq, i
			}
		} else {
			u = &uniqueMsg{conv: seq, msg: i, tokens: ref.tokens}
			a.messages[ref.id] = u
		}
		a.mu.Unlock()
		if !seen {
			// Only the goroutine that created the entry compresses it; toks is set then, since
			// a cached text is always a message seen before.
			z := a.zenc.EncodeAll(codec.AppendVarints(nil, toks), nil)
			a.mu.Lock()
			u.z = z
			if !m.HasTokens() {
				a.texts[textKey(c.Tokenizer, m.Content)] = ref
			}
			a.mu.Unlock()
		}
	}
	mj, err := json.Marshal(&man)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.counts.Conversations++
	a.counts.Messages += int64(len(c.Messages))
	a.counts.Tokens += tokens
	a.counts.TextBytes += textBytes
	a.counts.NaiveBytes += naive
	a.counts.NaivePuts++
	a.counts.ManifestBytes += int64(len(mj))
	a.mu.Unlock()
	return nil
}

// textKey is the cache key of a text: SHA-256 of tokenizer, NUL, text.
func textKey(tokenizerName, text string) [32]byte {
	h := sha256.New()
	h.Write([]byte(tokenizerName))
	h.Write([]byte{0})
	h.Write([]byte(text))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// baselineResult is what finish computes, in sums that add up over isolated runs.
type baselineResult struct {
	analysis
	// Per-message zstd: distinct messages (one object each) and their compressed bytes.
	UniqueMessages, UniqueTokens, ObjectBytes int64
	// Single-goroutine times of encoding (varints + zstd) and decoding (zstd + varints) every
	// distinct message.
	PerMessageEncode, PerMessageDecode time.Duration
	// Bulk bound: one zstd frame at the strongest level over all distinct messages.
	BulkBytes, BulkInput int64
}

// finish computes the per-message and bulk baselines over the distinct messages in order of
// first occurrence. timing is held while the per-message codec is timed, so that timed code
// runs on one goroutine at a time. bulk is the encoder of the bulk bound (see newBulkEncoder);
// nil makes one sized for the input.
func (a *analyzer) finish(timing *sync.Mutex, bulk *zstd.Encoder) (baselineResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res := baselineResult{analysis: a.counts}
	order := make([]*uniqueMsg, 0, len(a.messages))
	for _, u := range a.messages {
		order = append(order, u)
		res.UniqueMessages++
		res.UniqueTokens += int64(u.tokens)
		res.ObjectBytes += int64(len(u.z))
	}
	slices.SortFunc(order, func(x, y *uniqueMsg) int {
		if x.conv != y.conv {
			return x.conv - y.conv
		}
		return x.msg - y.msg
	})

	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return res, err
	}
	defer dec.Close()
	var all, raw, varints, z []byte
	var toks []int
	timing.Lock()
	for _, u := range order {
		start := time.Now()
		raw, err = dec.DecodeAll(u.z, raw[:0])
		if err == nil {
			toks, err = appendTokens(toks[:0], raw)
		}
		mid := time.Now()
		if err != nil {
			timing.Unlock()
			return res, fmt.Errorf("bench: per-message baseline: %w", err)
		}
		varints = codec.AppendVarints(varints[:0], toks)
		z = a.zenc.EncodeAll(varints, z[:0])
		end := time.Now()
		res.PerMessageDecode += mid.Sub(start)
		res.PerMessageEncode += end.Sub(mid)
		if len(z) != len(u.z) || len(toks) != u.tokens {
			timing.Unlock()
			return res, fmt.Errorf("bench: per-message baseline: re-encoding is not deterministic")
		}
		all = append(all, varints...)
	}
	timing.Unlock()

	res.BulkInput = int64(len(all))
	if bulk == nil {
		if bulk, err = newBulkEncoder(len(all)); err != nil {
			return res, err
		}
		defer bulk.Close()
	}
	res.BulkBytes = int64(len(bulk.EncodeAll(all, nil)))
	return res, nil
}

// newBulkEncoder returns the encoder of the bulk bound for inputs of up to size bytes.
//
// The bound is meant as "zstd -19 over everything at once". klauspost/compress has no level
// 19: SpeedBestCompression (roughly zstd -11) is its strongest and the closest. The window
// covers the whole input (the smallest power of two at least as large, as "zstd -19 --long"
// would), so that every repeat anywhere in the input can be found.
func newBulkEncoder(size int) (*zstd.Encoder, error) {
	window := max(zstd.MinWindowSize, 1<<bits.Len(uint(max(size-1, 1))))
	window = min(window, zstd.MaxWindowSize)
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false),
		zstd.WithZeroFrames(true))
}

// appendTokens decodes unsigned LEB128 varints into tokens.
func appendTokens(dst []int, varints []byte) ([]int, error) {
	for len(varints) > 0 {
		v, n := binary.Uvarint(varints)
		if n <= 0 || v > 1<<32-1 {
			return dst, fmt.Errorf("bad varint at token %d", len(dst))
		}
		dst = append(dst, int(v))
		varints = varints[n:]
	}
	return dst, nil
}

// newPerMessageEncoder returns the per-message baseline's encoder (see newAnalyzer).
func newPerMessageEncoder() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true))
}

// deliveryStream is the usage of the delivery-stream baseline (cost.DeliveryStream) over the
// corpus's lines that valid accepts (those the analysis found to be conversations), in order.
func (r *runner) deliveryStream(ctx context.Context, valid func(seq int) bool) (cost.Usage, error) {
	var d deliveryMeter
	err := r.lines(ctx, 1, func(_ context.Context, l line) error {
		if valid(l.seq) {
			d.add(l.data)
		}
		return nil
	})
	return d.usage(), err
}

// BaselineMeter measures the two cost baselines over conversations' JSON lines, added in
// order: naive (cost.NaiveGzipJSON: each line gzip -6, one object each) and delivery stream
// (deliveryMeter). The zero value is ready.
type BaselineMeter struct {
	n, naive int64
	delivery deliveryMeter
}

// Add adds one conversation's JSON line (without its newline).
func (m *BaselineMeter) Add(line []byte) {
	m.n++
	m.naive += gzipSize(line)
	m.delivery.add(line)
}

// Usage returns the usage of both baselines for the lines added so far; it ends the current
// delivery batch.
func (m *BaselineMeter) Usage() (naive, delivery cost.Usage) {
	return cost.NaiveGzipJSON(int(m.n), m.naive), m.delivery.usage()
}

// deliveryMeter measures the delivery-stream baseline (cost.DeliveryStream): each line and its
// newline one record, the records gzipped -6 in order, in batches of cost.DeliveryBatchBytes.
// The zero value is ready.
type deliveryMeter struct {
	gz, batch int64
	records   []int
	buf       bytes.Buffer
	w         *gzip.Writer
}

// add adds one line (without its newline).
func (d *deliveryMeter) add(line []byte) {
	if d.w == nil {
		d.w, _ = gzip.NewWriterLevel(&d.buf, 6)
	}
	rec := len(line) + 1
	if d.batch > 0 && d.batch+int64(rec) > cost.DeliveryBatchBytes {
		d.flush()
	}
	d.records = append(d.records, rec)
	d.batch += int64(rec)
	d.w.Write(line)
	d.w.Write([]byte{'\n'})
	if d.buf.Len() > 1<<20 { // only the batch's compressed size counts, not its bytes
		d.gz += int64(d.buf.Len())
		d.buf.Reset()
	}
}

// flush ends the current batch.
func (d *deliveryMeter) flush() {
	d.w.Close()
	d.gz += int64(d.buf.Len())
	d.buf.Reset()
	d.w.Reset(&d.buf)
	d.batch = 0
}

// usage returns the baseline's usage for the lines added so far; it ends the current batch.
func (d *deliveryMeter) usage() cost.Usage {
	if d.batch > 0 {
		d.flush()
	}
	return cost.DeliveryStream(d.records, d.gz)
}
