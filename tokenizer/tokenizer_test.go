package tokenizer_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stowken/stowken/tokenizer"
)

func mustGet(t testing.TB, name string) *tokenizer.Tokenizer {
	t.Helper()
	tk, err := tokenizer.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return tk
}

func TestNames(t *testing.T) {
	want := []string{"cl100k_base", "o200k_base", "p50k_base", "r50k_base"}
	got := tokenizer.Names()
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if tokenizer.Names()[0] != "cl100k_base" {
		t.Fatal("Names() returned shared state")
	}
	for _, name := range want {
		tk := mustGet(t, name)
		if tk.Name() != name {
			t.Errorf("Get(%q).Name() = %q", name, tk.Name())
		}
		if again := mustGet(t, name); again != tk {
			t.Errorf("Get(%q) is not cached", name)
		}
	}
}

func TestGetUnknown(t *testing.T) {
	for _, name := range []string{"", "gpt2", "p50k_edit", "CL100K_BASE", "cl100k_base "} {
		tk, err := tokenizer.Get(name)
		if tk != nil || !errors.Is(err, tokenizer.ErrUnknown) {
			t.Errorf("Get(%q) = %v, %v; want ErrUnknown", name, tk, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("Get(%q): error %q does not name the tokenizer", name, err)
		}
	}
}

// Expected ids were produced by the reference, npm tiktoken 1.0.22 (get_encoding(enc).encode_ordinary)
// run through scripts/tiktoken-ref.mjs:
//
//	printf '{"enc":"cl100k_base","text":"hello world"}\n' | NODE_PATH=~/.cache/stowken/tools/npm/tiktoken-1.0.22/node_modules node scripts/tiktoken-ref.mjs
var knownIDs = []struct {
	enc, text string
	want      []int
}{
	{"cl100k_base", "hello world", []int{15339, 1917}},
	{"o200k_base", "hello world", []int{24912, 2375}},
	{"p50k_base", "hello world", []int{31373, 995}},
	{"r50k_base", "hello world", []int{31373, 995}},
	{"cl100k_base", "<|endoftext|> hi", []int{27, 91, 8862, 728, 428, 91, 29, 15960}},
	{"o200k_base", "<|endoftext|> hi", []int{27, 91, 419, 1440, 919, 91, 29, 5911}},
	{"p50k_base", "<|endoftext|> hi", []int{27, 91, 437, 1659, 5239, 91, 29, 23105}},
	{"r50k_base", "<|endoftext|> hi", []int{27, 91, 437, 1659, 5239, 91, 29, 23105}},
}

func TestKnownIDs(t *testing.T) {
	for _, c := range knownIDs {
		tk := mustGet(t, c.enc)
		if got := tk.Encode(c.text); !slices.Equal(got, c.want) {
			t.Errorf("%s Encode(%q) = %v, want %v", c.enc, c.text, got, c.want)
		}
		if got, err := tk.Decode(c.want); err != nil || got != c.text {
			t.Errorf("%s Decode(%v) = %q, %v; want %q", c.enc, c.want, got, err, c.text)
		}
	}
}

func TestVocabSize(t *testing.T) {
	want := map[string]int{"cl100k_base": 100277, "o200k_base": 200019, "p50k_base": 50281, "r50k_base": 50257}
	for name, size := range want {
		if got := mustGet(t, name).VocabSize(); got != size {
			t.Errorf("%s VocabSize() = %d, want %d", name, got, size)
		}
	}
}

// specialTokens are the special tokens of each encoding (tiktoken's openai_public.py).
var specialTokens = map[string]map[string]int{
	"cl100k_base": {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
	"o200k_base":  {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
	"p50k_base":   {"<|endoftext|>": 50256},
	"r50k_base":   {"<|endoftext|>": 50256},
}

// Special-token text in user content is ordinary text: it never becomes the special token and
// it round-trips. The special ids themselves are valid and decode to their text.
func TestSpecialTokenTextIsOrdinary(t *testing.T) {
	for name, specials := range specialTokens {
		tk := mustGet(t, name)
		for text, id := range specials {
			for _, s := range []string{text, "user says " + text + " twice " + text, text + text} {
				tokens := tk.Encode(s)
				if slices.Contains(tokens, id) {
					t.Errorf("%s Encode(%q) = %v contains the special token %d", name, s, tokens, id)
				}
				if back, err := tk.Decode(tokens); err != nil || back != s {
					t.Errorf("%s Decode(Encode(%q)) = %q, %v", name, s, back, err)
				}
			}
			if err := tk.Validate([]int{id}); err != nil {
				t.Errorf("%s Validate(special %d): %v", name, id, err)
			}
			if got, err := tk.Decode([]int{id}); err != nil || got != text {
				t.Errorf("%s Decode(special %d) = %q, %v; want %q", name, id, got, err, text)
			}
		}
	}
}

// IsSpecial is true for exactly the special ids of each encoding: not for ordinary ids, the
// ids around the special ones, gaps of the vocabulary or ids out of range.
func TestIsSpecial(t *testing.T) {
	for name, specials := range specialTokens {
		tk := mustGet(t, name)
		n := 0
		for id := -1; id <= tk.VocabSize(); id++ {
			if tk.IsSpecial(id) {
				n++
				if text, _ := tk.Decode([]int{id}); specials[text] != id {
					t.Errorf("%s IsSpecial(%d) is true, but it decodes to %q", name, id, text)
				}
			}
		}
		if n != len(specials) {
			t.Errorf("%s: %d ids are special, want %d", name, n, len(specials))
		}
		for text, id := range specials {
			if !tk.IsSpecial(id) {
				t.Errorf("%s IsSpecial(%d) (%s) is false", name, id, text)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	gaps := map[string]int{"cl100k_base": 100256, "o200k_base": 199998}
	for _, name := range tokenizer.Names() {
		tk := mustGet(t, name)
		ok := tk.Encode("Validate me, please: 42 ✓")
		if err := tk.Validate(ok); err != nil {
			t.Errorf("%s Validate(%v): %v", name, ok, err)
		}
		if err := tk.Validate(nil); err != nil {
			t.Errorf("%s Validate(nil): %v", name, err)
		}
		cases := []struct {
			bad  int
			want error
		}{
			{tk.VocabSize(), tokenizer.ErrTokenRange},
			{tk.VocabSize() + 1000, tokenizer.ErrTokenRange},
			{-1, tokenizer.ErrTokenRange},
		}
		if gap, ok := gaps[name]; ok {
			cases = append(cases, struct {
				bad  int
				want error
			}{gap, tokenizer.ErrInvalidToken})
		}
		for _, c := range cases {
			tokens := append(slices.Clone(ok), c.bad, 0)
			idx := len(ok)
			for _, f := range []struct {
				fn  string
				err error
			}{
				{"Validate", tk.Validate(tokens)},
				{"Decode", second(tk.Decode(tokens))},
				{"DecodeBytes", second(tk.DecodeBytes(tokens))},
			} {
				var te *tokenizer.TokenError
				if !errors.Is(f.err, c.want) || !errors.As(f.err, &te) {
					t.Errorf("%s %s(..., %d, ...) = %v, want a *TokenError wrapping %v", name, f.fn, c.bad, f.err, c.want)
					continue
				}
				if te.Index != idx || te.Token != c.bad || te.Encoding != name {
					t.Errorf("%s %s: %+v, want index %d token %d", name, f.fn, te, idx, c.bad)
				}
				msg := f.err.Error()
				if !strings.Contains(msg, fmt.Sprintf("token %d at index %d", c.bad, idx)) {
					t.Errorf("%s %s: error %q does not name the index and id", name, f.fn, msg)
				}
			}
		}
	}
}

func second[T any](_ T, err error) error { return err }

// A caller's tokens may stop inside a multi-byte character: DecodeBytes returns the raw bytes,
// Decode reports ErrInvalidUTF8.
func TestDecodePartialCharacter(t *testing.T) {
	for _, name := range tokenizer.Names() {
		tk := mustGet(t, name)
		text := "🎉"
		tokens := tk.Encode(text)
		if len(tokens) < 2 {
			t.Fatalf("%s: %q encodes to %v; the test needs a character split over tokens", name, text, tokens)
		}
		raw, err := tk.DecodeBytes(tokens[:1])
		if err != nil || len(raw) == 0 || !strings.HasPrefix(text, string(raw)) || utf8.Valid(raw) {
			t.Errorf("%s DecodeBytes(%v) = %q, %v; want an invalid UTF-8 prefix of %q", name, tokens[:1], raw, err, text)
		}
		if s, err := tk.Decode(tokens[:1]); !errors.Is(err, tokenizer.ErrInvalidUTF8) || s != "" {
			t.Errorf("%s Decode(%v) = %q, %v; want ErrInvalidUTF8", name, tokens[:1], s, err)
		}
		if b, err := tk.DecodeBytes(tokens); err != nil || string(b) != text {
			t.Errorf("%s DecodeBytes(%v) = %q, %v", name, tokens, b, err)
		}
	}
}

// roundTripTexts are valid UTF-8 strings for the round trip (the corpus-wide check is in
// TestExactAgainstReference).
var roundTripTexts = []string{
	"", " ", "\n", "\x00", "\x00\x01\x7f", "\t\r\n \u00a0\u2028\u3000", "<|endoftext|>", "<|endoftext", "|>",
	"Hello, World! It's 2026.", "e\u0301", "\U0010FFFF\uFFFD\uFEFF", "日本語 한국어 العربية", "👨‍👩‍👧‍👦🇺🇸",
	strings.Repeat("x", 10000), strings.Repeat(" \n", 5000), strings.Repeat("🙂", 1000),
}

func TestRoundTrip(t *testing.T) {
	for _, name := range tokenizer.Names() {
		tk := mustGet(t, name)
		for _, s := range append(roundTripTexts, edgeTexts...) {
			tokens := tk.Encode(s)
			if err := tk.Validate(tokens); err != nil {
				t.Errorf("%s Validate(Encode(%q)): %v", name, prefix(s, 40), err)
			}
			if got, err := tk.Decode(tokens); err != nil || got != s {
				t.Errorf("%s Decode(Encode(%q)) = %q, %v", name, prefix(s, 40), prefix(got, 40), err)
			}
			if got, err := tk.DecodeBytes(tokens); err != nil || string(got) != s {
				t.Errorf("%s DecodeBytes(Encode(%q)) = %q, %v", name, prefix(s, 40), got, err)
			}
		}
		if got := tk.Encode(""); got == nil || len(got) != 0 {
			t.Errorf("%s Encode(\"\") = %#v, want an empty slice", name, got)
		}
	}
}

// Invalid UTF-8 is encoded as if each invalid byte were U+FFFD (documented on Encode).
func TestEncodeInvalidUTF8(t *testing.T) {
	for _, name := range tokenizer.Names() {
		tk := mustGet(t, name)
		for in, same := range map[string]string{
			"a\xffb":           "a\uFFFDb",
			"\xe2\x82":         "\uFFFD\uFFFD",
			"x\xc3(y":          "x\uFFFD(y",
			"ok \xed\xa0\x80!": "ok \uFFFD\uFFFD\uFFFD!",
		} {
			if got, want := tk.Encode(in), tk.Encode(same); !slices.Equal(got, want) {
				t.Errorf("%s Encode(%q) = %v, want Encode(%q) = %v", name, in, got, same, want)
			}
		}
	}
}

// Encode is used from many goroutines at once: results must equal the sequential ones (run
// with -race to check the data accesses too).
func TestConcurrentEncode(t *testing.T) {
	var texts []string
	for _, s := range append(slices.Clone(roundTripTexts), edgeTexts...) {
		if len(s) <= 3000 { // the long runs are slow (BPE is quadratic in a piece's length) and add nothing here
			texts = append(texts, s)
		}
	}
	for _, name := range tokenizer.Names() {
		tk := mustGet(t, name)
		want := make([][]int, len(texts))
		for i, s := range texts {
			want[i] = tk.Encode(s)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range 2 {
					for i := range texts {
						j := (i + g*7 + r) % len(texts)
						if got := tk.Encode(texts[j]); !slices.Equal(got, want[j]) {
							t.Errorf("%s: concurrent Encode(%q) differs", name, prefix(texts[j], 40))
							return
						}
					}
				}
			}()
		}
		wg.Wait()
	}
}

// Concurrent first use of Get builds one instance.
func TestConcurrentGet(t *testing.T) {
	var wg sync.WaitGroup
	got := make([]*tokenizer.Tokenizer, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = tokenizer.Get("r50k_base")
		}()
	}
	wg.Wait()
	for _, tk := range got {
		if tk == nil || tk != got[0] {
			t.Fatal("concurrent Get returned different instances")
		}
	}
}

// benchText is realistic text for the benchmarks: the contents of the corpus's sample.jsonl
// (chat messages: English and other prose, code, JSON tool calls), or a built-in text of the
// same kinds when the corpus is absent.
func benchText(b *testing.B) (text, source string) {
	b.Helper()
	if dir := corpusDir(); dir != "" {
		var sb strings.Builder
		err := readJSONLines(filepath.Join(dir, "sample.jsonl"), func(line []byte) error {
			return appendContents(&sb, line)
		})
		if err == nil && sb.Len() > 0 {
			return sb.String(), "corpus sample.jsonl"
		}
	}
	return strings.Repeat(builtinBenchText, 200), "built-in text"
}

const builtinBenchText = `The quarterly report is due on Friday, so let's review the numbers before the meeting. Revenue grew 12.5% year over year, while operating costs rose only 3%; most of the improvement came from the new subscription tier.

Here's a quick function that sums the values:

` + "```go" + `
func sum(xs []float64) (total float64) {
	for _, x := range xs {
		total += x
	}
	return total
}
` + "```" + `

{"name": "get_weather", "arguments": {"location": "San Francisco, CA", "unit": "celsius", "days": 3}}

Können Sie mir bitte helfen? Je voudrais réserver une table pour deux personnes. ¿Dónde está la estación? 東京の天気はどうですか？ 我想预订一张桌子。
`

func appendContents(sb *strings.Builder, line []byte) error {
	texts, err := lineTexts(line)
	for _, s := range texts {
		sb.WriteString(s)
		sb.WriteString("\n\n")
	}
	return err
}

func BenchmarkEncode(b *testing.B) {
	text, source := benchText(b)
	b.Logf("%s: %d bytes", source, len(text))
	for _, name := range tokenizer.Names() {
		tk := mustGet(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			tokens := 0
			for b.Loop() {
				tokens += len(tk.Encode(text))
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkEncodeParallel encodes from GOMAXPROCS goroutines at once.
func BenchmarkEncodeParallel(b *testing.B) {
	text, _ := benchText(b)
	for _, name := range tokenizer.Names() {
		tk := mustGet(b, name)
		n := len(tk.Encode(text))
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tk.Encode(text)
				}
			})
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	text, _ := benchText(b)
	for _, name := range tokenizer.Names() {
		tk := mustGet(b, name)
		tokens := tk.Encode(text)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, err := tk.Decode(tokens); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(tokens)*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
