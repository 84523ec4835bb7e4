package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	catmem "github.com/stowken/stowken/catalog/mem"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
	objmem "github.com/stowken/stowken/objstore/mem"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/tokenizer"
	"github.com/stowken/stowken/vault"
)

// modelConversations returns conversations of one application with enough token data that the
// vault builds a compression model: a shared system message and a unique user message each.
func modelConversations(n int) []*conversation.Conversation {
	r := rand.New(rand.NewPCG(3, 4))
	system := make([]int, 300)
	for i := range system {
		system[i] = r.IntN(50_000)
	}
	var out []*conversation.Conversation
	for i := range n {
		user := make([]int, 2500+r.IntN(3000)) // pieces of 2,048 tokens or more among them: segments
		for j := range user {
			user[j] = r.IntN(2_000) // a small alphabet, so a dictionary helps
		}
		out = append(out, &conversation.Conversation{ID: fmt.Sprintf("conv-%d", i), Application: "app", Tokenizer: tokenizer.CL100KBase,
			Messages: []conversation.Message{{Role: "system", Tokens: system}, {Role: "user", Tokens: user}, {Role: "assistant", Content: "ok"}}})
	}
	return out
}

// TestTimeCodec stores conversations (a model gets built), then checks that the codec timing
// covered every stored segment and every inline run, with the dictionaries they were written
// with.
func TestTimeCodec(t *testing.T) {
	ctx := context.Background()
	b, refs := objmem.New(), refmem.New()
	v, err := vault.New(ctx, vault.Options{Bucket: b, Refs: refs, Catalog: catmem.New(), Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	convs := modelConversations(80)
	for _, c := range convs {
		if _, err := v.Store(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	st, err := v.Stats(ctx, vault.StatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Models == 0 {
		t.Fatal("no model was built; the test needs one")
	}

	// What the timing must cover: every segment frame (by its header) and every inline run.
	var wantTokens, withDict int64
	keys, err := listKeys(ctx, b, segment.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		frame, _, err := b.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		h, err := codec.ReadHeader(frame)
		if err != nil {
			t.Fatal(err)
		}
		wantTokens += int64(h.Tokens)
		if h.Dict != 0 {
			withDict++
		}
	}
	var inlineRuns int64
	for _, c := range convs {
		m, err := v.Manifest(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Inline) > 0 {
			inlineRuns++
			wantTokens += int64(len(m.Inline))
		}
	}
	if withDict == 0 {
		t.Fatal("no segment frame names a model")
	}

	got, err := timeCodec(ctx, b, 3, &sync.Mutex{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Segments != int64(len(keys)) || got.Inline != inlineRuns || got.Tokens != wantTokens {
		t.Errorf("timed %d segments, %d inline runs, %d tokens; want %d, %d, %d", got.Segments, got.Inline, got.Tokens, len(keys), inlineRuns, wantTokens)
	}
	if got.Encode <= 0 || got.Decode <= 0 {
		t.Errorf("times: encode %v, decode %v", got.Encode, got.Decode)
	}
}

// sampleRuns returns the token streams of the shared sample's messages.
func sampleRuns(b *testing.B) [][]int {
	b.Helper()
	var runs [][]int
	err := corpus.Lines(corpus.Path(b, "sample.jsonl"), func(line []byte, _ int) error {
		c, err := conversation.Parse(line)
		if err != nil {
			return err
		}
		tok, err := tokenizer.Get(c.Tokenizer)
		if err != nil {
			return err
		}
		for _, m := range c.Messages {
			if m.HasTokens() {
				runs = append(runs, m.Tokens)
			} else if toks := tok.Encode(m.Content); len(toks) > 0 {
				runs = append(runs, toks)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return runs
}

// BenchmarkSampleMessages times stowken's codec and the per-message baseline's zstd level 3
// on the messages of the shared sample, one frame per message (no dictionary). b.SetBytes
// counts tokens, so "MB/s" reads as millions of tokens per second.
func BenchmarkSampleMessages(b *testing.B) {
	runs := sampleRuns(b)
	var tokens int64
	for _, r := range runs {
		tokens += int64(len(r))
	}
	c, err := codec.New()
	if err != nil {
		b.Fatal(err)
	}
	frames := make([][]byte, len(runs))
	for i, r := range runs {
		if frames[i], err = c.Encode(r, 0); err != nil {
			b.Fatal(err)
		}
	}
	zenc, err := newPerMessageEncoder()
	if err != nil {
		b.Fatal(err)
	}
	zdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	zs := make([][]byte, len(runs))
	for i, r := range runs {
		zs[i] = zenc.EncodeAll(codec.AppendVarints(nil, r), nil)
	}

	b.Run("codec/encode", func(b *testing.B) {
		b.SetBytes(tokens)
		for b.Loop() {
			for _, r := range runs {
				c.Encode(r, 0)
			}
		}
	})
	b.Run("codec/decode", func(b *testing.B) {
		b.SetBytes(tokens)
		for b.Loop() {
			for _, f := range frames {
				c.Decode(f)
			}
		}
	})
	b.Run("zstd3/encode", func(b *testing.B) {
		b.SetBytes(tokens)
		var v, z []byte
		for b.Loop() {
			for _, r := range runs {
				v = codec.AppendVarints(v[:0], r)
				z = zenc.EncodeAll(v, z[:0])
			}
		}
	})
	b.Run("zstd3/decode", func(b *testing.B) {
		b.SetBytes(tokens)
		var raw []byte
		var toks []int
		for b.Loop() {
			for _, z := range zs {
				raw, _ = zdec.DecodeAll(z, raw[:0])
				toks, _ = appendTokens(toks[:0], raw)
			}
		}
	})
}
