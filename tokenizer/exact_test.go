package tokenizer_test

// Exactness against the reference: the npm package tiktoken 1.0.22 (the Rust core of tiktoken
// compiled to WebAssembly), driven through scripts/tiktoken-ref.mjs by the machine's Node.js.
//
// Environment:
//   STOWKEN_CORPUS      corpus directory (default: the first shared/corpus found walking up from
//                       the working directory, i.e. ../shared/corpus next to the repository)
//   TIKTOKEN_NODE_PATH  node_modules directory holding tiktoken (default: the scripts/tools.sh
//                       cache, $STOWKEN_TOOLS or ~/.cache/stowken/tools, npm/tiktoken-1.0.22/node_modules)
//   CI=true             a missing node, npm package or corpus fails instead of skipping

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stowken/stowken/internal/testenv"
	"github.com/stowken/stowken/tokenizer"
)

const referenceVersion = "1.0.22" // npm tiktoken, as pinned by scripts/tools.sh

// corpusDir returns the corpus directory ($STOWKEN_CORPUS, else the first shared/corpus found
// walking up from the working directory), or "" when there is none.
func corpusDir() string {
	if dir := os.Getenv("STOWKEN_CORPUS"); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		c := filepath.Join(dir, "shared", "corpus")
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// reference runs scripts/tiktoken-ref.mjs.
type reference struct{ testenv.NodeScript }

// findReference returns the reference runner, or skips (fails under CI=true) when node or the
// npm package is missing.
func findReference(t testing.TB) reference {
	t.Helper()
	return reference{testenv.FindNodeScript(t, "tiktoken-ref.mjs", "tiktoken", "tiktoken", referenceVersion, "TIKTOKEN_NODE_PATH")}
}

// refReply is one output line of the reference script.
type refReply struct {
	Tokens  []int    `json:"tokens"`  // a text request
	Error   string   `json:"error"`   // any request that failed
	NVocab  int      `json:"n_vocab"` // a vocab request: one past the largest id,
	Ranks   [][2]any `json:"ranks"`   // [id, base64 bytes] of every mergeable token,
	Special [][2]any `json:"special"` // [id, text] of every special token
}

// run starts the reference script, feeds it requests (one JSON object per line) from a goroutine
// and calls reply for each answer, in order. It returns after the script has exited.
func (r reference) run(t testing.TB, requests func(yield func(req any) bool), reply func(i int, rep *refReply) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := r.Command(ctx)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s %s: %v", r.Node, r.Script, err)
	}
	sent := make(chan int, 1)
	writeErr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(stdin, 1<<16)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		n := 0
		var err error
		requests(func(req any) bool {
			if err = enc.Encode(req); err != nil {
				return false
			}
			n++
			return true
		})
		if err == nil {
			err = w.Flush()
		}
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		sent <- n
		writeErr <- err
	}()
	dec := json.NewDecoder(bufio.NewReaderSize(stdout, 1<<16))
	got := 0
	var fail error
	for {
		var rep refReply
		if err := dec.Decode(&rep); err != nil {
			if !errors.Is(err, io.EOF) {
				fail = fmt.Errorf("reading reply %d: %w", got, err)
			}
			break
		}
		if rep.Error != "" {
			fail = fmt.Errorf("reference error for request %d: %s", got, rep.Error)
			break
		}
		if err := reply(got, &rep); err != nil {
			fail = err
			break
		}
		got++
	}
	if fail != nil {
		cancel()
	}
	werr := <-writeErr
	n := <-sent
	if err := cmd.Wait(); err != nil && fail == nil {
		fail = fmt.Errorf("reference script: %w", err)
	}
	if fail == nil && werr != nil {
		fail = fmt.Errorf("writing requests: %w", werr)
	}
	if fail == nil && got != n {
		fail = fmt.Errorf("reference answered %d of %d requests", got, n)
	}
	if fail != nil {
		t.Fatalf("%v\nstderr of %s:\n%s", fail, filepath.Base(r.Script), stderr.String())
	}
}

// corpusTexts returns the deduplicated texts of the corpus, in a deterministic order: every
// message content and tool-call name and arguments of chat/*.jsonl.gz and sample.jsonl, and the
// text of every system prompt. It skips (fails under CI=true) when the corpus is absent.
func corpusTexts(t testing.TB) (texts []string, dir string) {
	t.Helper()
	dir = corpusDir()
	if dir == "" {
		testenv.SkipOrFatal(t, "corpus not found: no shared/corpus above the working directory and STOWKEN_CORPUS unset")
	}
	chats, err := filepath.Glob(filepath.Join(dir, "chat", "*.jsonl.gz"))
	if err != nil || len(chats) == 0 {
		testenv.SkipOrFatal(t, "corpus not found: no chat/*.jsonl.gz in %s (err %v)", dir, err)
	}
	files := append(chats, filepath.Join(dir, "sample.jsonl"), filepath.Join(dir, "system-prompts.jsonl.gz"))
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			texts = append(texts, s)
		}
	}
	for _, file := range files {
		err := readJSONLines(file, func(line []byte) error {
			texts, err := lineTexts(line)
			for _, s := range texts {
				add(s)
			}
			return err
		})
		if err != nil {
			t.Fatalf("reading corpus %s: %v", file, err)
		}
	}
	return texts, dir
}

// lineTexts returns the texts of one corpus line: the text of a system prompt, or the content of
// every message and the name and arguments of every tool call of a conversation.
func lineTexts(line []byte) ([]string, error) {
	var rec struct {
		Text     string `json:"text"`
		Messages []struct {
			Content   string `json:"content"`
			ToolCalls []struct {
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		return nil, err
	}
	texts := []string{rec.Text}
	for _, m := range rec.Messages {
		texts = append(texts, m.Content)
		for _, c := range m.ToolCalls {
			texts = append(texts, c.Function.Name, c.Function.Arguments)
		}
	}
	return texts, nil
}

// readJSONLines calls fn for every non-empty line of a .jsonl or .jsonl.gz file.
func readJSONLines(file string, fn func(line []byte) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(file, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<28)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

// edgeTexts are hand-written inputs for the corners of the pre-tokenisation patterns and of
// BPE: contractions (including the long s, which case-folds to s), Unicode whitespace, marks,
// scripts without case, digits of other scripts, emoji sequences, long runs.
var edgeTexts = []string{
	"hello world", "<|endoftext|>", "<|endoftext|> hi", "a<|endofprompt|>b<|fim_prefix|><|fim_middle|><|fim_suffix|>",
	"I'm you're we've she'll he'd it's can't", "I'M YOU'RE WE'VE SHE'LL HE'D IT'S CAN'T", "'s 'S 'ſ 'ſt 'T 'Re 'rE 'LL 'lL 'D",
	"x'ſ", "don'ſ", "''s", "'", "'s", " 's", "\n's", "o'clock", "rock'n'roll",
	"   leading", "trailing   ", "a  b   c    d", "\t\ttabs\t", "x\r\ny\rz\n\n\nw", " \n \n ", "\n", "\r\n", " ", "  ", "\u00a0nbsp\u00a0\u00a0x",
	"\u0085nel\u0085", "\u2028ls\u2029ps", "\u200bzwsp\u200b", "\ufeffbom", "\u180emvs", "\u3000ideographic\u3000space", "\v\f\x1c\x1d\x1e\x1f",
	"e\u0301te\u0301", "\u0301leading mark", "  \u0301x", "Straße ǅungla ǈ ǋ Ǆ", "ΑΒΓ αβγ ΣΊΣΥΦΟΣ", "HelloWorld HTTPServer iPhone", "ABCdef abcDEF",
	"日本語のテキストです。", "中文文本，标点符号。", "한국어 텍스트", "العربية النص", "עברית", "हिन्दी पाठ", "ภาษาไทย", "ᏣᎳᎩ",
	"0123456789 1234567 ١٢٣٤٥ ۱۲۳ १२३ ①②③ ½ Ⅻ", "3.14159 1,000,000 -42 +7e10 0x1F",
	"👋🏽 👨‍👩‍👧‍👦 🇺🇸 ❤️ ✨🎉", "\U0002EBF0\U0002EBF1 \U00031350 \U0001E4D0 \U0001F6DC \U000105C0\U000105C1 \U0001CC00 \U00011F00", "\U000F0000 \uE000 private",
	"==================== ---------- ********** ..........", "////a//b\n//c", "a/\n/b", ":\n\n\n", "!!!\r\n\r\n",
	strings.Repeat("a", 2000), strings.Repeat(" ", 1000) + "x", strings.Repeat("ab1", 700), strings.Repeat("\n", 300),
	strings.Repeat("🎉", 300), strings.Repeat("\t \n", 200), strings.Repeat("é", 500),
	"func main() {\n\tfmt.Println(\"hi\")\n}\n", `{"key": "value", "n": [1, 2, 3], "nested": {"a": null}}`,
	"https://example.com/path?q=1&r=2#frag", "user@example.com", "C:\\Windows\\System32", "$HOME/.cache ~/x",
}

// reference encodings of a set of texts, compared with Encode.
type exactResult struct {
	name                        string
	texts, chars, refTokens     int
	mismatches, roundTripErrors int
	first                       []string
	elapsed                     time.Duration
}

func TestExactAgainstReference(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the corpus-wide comparison with the reference tokenizer")
	}
	ref := findReference(t)
	corpus, dir := corpusTexts(t)
	texts := append(slices.Clone(edgeTexts), corpus...)
	chars := 0
	for _, s := range corpus {
		chars += utf8.RuneCountInString(s)
	}
	t.Logf("corpus %s: %d distinct texts, %d characters; plus %d edge-case texts", dir, len(corpus), chars, len(edgeTexts))

	// One reference process per encoding; at most GOMAXPROCS of them at a time (each also
	// keeps a goroutine of this process busy encoding).
	names := tokenizer.Names()
	results := make([]exactResult, len(names))
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	start := time.Now()
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(name, func(t *testing.T) { results[i] = compareWithReference(t, ref, name, texts) })
		}()
	}
	wg.Wait()
	t.Logf("compared %d encodings in %v", len(names), time.Since(start).Round(time.Millisecond))
	for _, r := range results {
		t.Logf("%-12s %6d texts, %8d characters, %8d reference tokens: %d mismatches, %d round-trip failures (%v)",
			r.name, r.texts, r.chars, r.refTokens, r.mismatches, r.roundTripErrors, r.elapsed.Round(time.Millisecond))
	}
}

// compareWithReference encodes texts with the reference and with Encode and compares them.
func compareWithReference(t *testing.T, ref reference, name string, texts []string) exactResult {
	tk, err := tokenizer.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	res := exactResult{name: name}
	start := time.Now()
	type request struct {
		Enc  string `json:"enc"`
		Text string `json:"text"`
	}
	ref.run(t, func(yield func(any) bool) {
		for _, s := range texts {
			if !yield(request{name, s}) {
				return
			}
		}
	}, func(i int, rep *refReply) error {
		text := texts[i]
		got := tk.Encode(text)
		res.texts++
		res.chars += utf8.RuneCountInString(text)
		res.refTokens += len(rep.Tokens)
		if !slices.Equal(got, rep.Tokens) {
			res.mismatches++
			if len(res.first) < 5 {
				at := 0
				for at < len(got) && at < len(rep.Tokens) && got[at] == rep.Tokens[at] {
					at++
				}
				res.first = append(res.first, fmt.Sprintf("%s: text %d %q: first difference at token %d: got %v, reference %v",
					name, i, prefix(text, 80), at, window(got, at), window(rep.Tokens, at)))
			}
		}
		if back, err := tk.Decode(got); err != nil || back != text {
			res.roundTripErrors++
			if len(res.first) < 5 {
				res.first = append(res.first, fmt.Sprintf("%s: text %d %q: Decode(Encode(text)) = %q, %v",
					name, i, prefix(text, 80), prefix(back, 80), err))
			}
		}
		return nil
	})
	res.elapsed = time.Since(start)
	t.Logf("%d texts, %d characters, %d reference tokens: %d mismatches, %d round-trip failures (%v)",
		res.texts, res.chars, res.refTokens, res.mismatches, res.roundTripErrors, res.elapsed.Round(time.Millisecond))
	if res.texts != len(texts) {
		t.Errorf("compared %d of %d texts", res.texts, len(texts))
	}
	if res.mismatches > 0 || res.roundTripErrors > 0 {
		t.Errorf("%d of %d texts differ from the reference, %d fail the round trip; first:\n%s",
			res.mismatches, res.texts, res.roundTripErrors, strings.Join(res.first, "\n"))
	}
	return res
}

// TestVocabularyAgainstReference compares every token id of every encoding with the reference:
// the bytes of each mergeable token, the special tokens, the gaps and VocabSize.
func TestVocabularyAgainstReference(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the comparison with the reference tokenizer")
	}
	ref := findReference(t)
	names := tokenizer.Names()
	type request struct {
		Enc string `json:"enc"`
		Op  string `json:"op"`
	}
	ref.run(t, func(yield func(any) bool) {
		for _, name := range names {
			if !yield(request{name, "vocab"}) {
				return
			}
		}
	}, func(i int, rep *refReply) error {
		name := names[i]
		tk, err := tokenizer.Get(name)
		if err != nil {
			return err
		}
		if tk.VocabSize() != rep.NVocab {
			t.Errorf("%s: VocabSize() = %d, reference n_vocab %d", name, tk.VocabSize(), rep.NVocab)
		}
		want := make(map[int][]byte, len(rep.Ranks)+len(rep.Special))
		for _, r := range rep.Ranks {
			b, err := base64.StdEncoding.DecodeString(r[1].(string))
			if err != nil {
				return fmt.Errorf("%s: rank %v: %w", name, r, err)
			}
			want[int(r[0].(float64))] = b
		}
		for _, s := range rep.Special {
			want[int(s[0].(float64))] = []byte(s[1].(string))
		}
		bad := 0
		for id := -1; id <= max(tk.VocabSize(), rep.NVocab); id++ {
			got, err := tk.DecodeBytes([]int{id})
			w, ok := want[id]
			switch {
			case ok && (err != nil || !bytes.Equal(got, w)):
				t.Errorf("%s: token %d: DecodeBytes = %q, %v; reference %q", name, id, got, err, w)
				bad++
			case !ok && err == nil:
				t.Errorf("%s: token %d: DecodeBytes = %q, reference has no such token", name, id, got)
				bad++
			case !ok && id >= 0 && id < tk.VocabSize() && !errors.Is(err, tokenizer.ErrInvalidToken):
				t.Errorf("%s: gap token %d: error %v, want ErrInvalidToken", name, id, err)
				bad++
			}
			if bad > 10 {
				return fmt.Errorf("%s: too many differences", name)
			}
		}
		t.Logf("%s: %d tokens (%d special), VocabSize %d, %d gaps: identical to the reference",
			name, len(want), len(rep.Special), tk.VocabSize(), tk.VocabSize()-len(want))
		return nil
	})
}

func prefix(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// window returns the tokens around index at.
func window(tokens []int, at int) []int {
	return tokens[max(0, at-2):min(len(tokens), at+3)]
}
