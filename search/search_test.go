package search

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/tokenizer"
)

func cl100k(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Get(tokenizer.CL100KBase)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newIndex(t testing.TB) *Index {
	t.Helper()
	ix, err := NewIndex(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func encodeAll(tok *tokenizer.Tokenizer, texts ...string) [][]int {
	out := make([][]int, len(texts))
	for i, s := range texts {
		out[i] = tok.Encode(s)
	}
	return out
}

var fixture = []struct {
	key      string
	messages []string
}{
	{"bread", []string{"How do I bake sourdough bread at home?", "Feed the starter, then mix flour, water and salt; let the dough rise overnight."}},
	{"france", []string{"What is the capital of France?", "The capital of France is Paris.", "And of Germany?", "Berlin."}},
	{"plants", []string{"Explain photosynthesis to a child.", "Plants catch sunlight in their leaves and turn it into food; it happens in the chloroplasts.", "Thanks!"}},
	{"travel", []string{"I visited paris last summer and loved the museums.", "Which museums did you like?"}},
	{"code", []string{"Write a Go function that reverses a slice.", "func reverse[T any](s []T) { for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 { s[i], s[j] = s[j], s[i] } }"}},
	{"empty", nil},
}

func fixtureIndex(t testing.TB) *Index {
	tok := cl100k(t)
	ix := newIndex(t)
	for _, d := range fixture {
		ix.Add(d.key, encodeAll(tok, d.messages...))
	}
	return ix
}

// TestFixture: known queries rank their document first, with the right message.
func TestFixture(t *testing.T) {
	tok := cl100k(t)
	ix := fixtureIndex(t)
	cases := []struct {
		query   string
		key     string
		message int
	}{
		{"chloroplasts", "plants", 1},
		{"sourdough bread", "bread", 0},
		{"dough rise overnight", "bread", 1},
		{"capital of France", "france", 0}, // messages 0 and 1 tie: the first wins
		{"capital of France: Paris", "france", 1},
		{"Berlin", "france", 3},
		{"museums in Paris", "travel", 0},
		{"reverse a slice in Go", "code", 0},
	}
	for _, c := range cases {
		hits := ix.Search(tok.Encode(c.query), 3)
		if len(hits) == 0 || hits[0].Key != c.key || hits[0].Message != c.message {
			t.Errorf("%q: hits %+v, want %s message %d first", c.query, hits, c.key, c.message)
		}
		for i := 1; i < len(hits); i++ {
			if hits[i].Score > hits[i-1].Score || hits[i].Score <= 0 {
				t.Errorf("%q: hits not by score: %+v", c.query, hits)
			}
		}
	}
	if hits := ix.Search(tok.Encode("zebra quantum"), 10); hits != nil {
		t.Errorf("no match: %+v", hits)
	}
	if hits := ix.Search(nil, 10); hits != nil {
		t.Errorf("empty query: %+v", hits)
	}
	if hits := ix.Search(tok.Encode("the"), 0); len(hits) != 4 {
		t.Errorf("limit 0 gives all hits: %+v", hits)
	}
	if hits := ix.Search(tok.Encode("the"), 2); len(hits) != 2 {
		t.Errorf("limit 2: %+v", hits)
	}
	empty := newIndex(t)
	if hits := empty.Search(tok.Encode("the"), 2); hits != nil {
		t.Errorf("empty index: %+v", hits)
	}
	// Ties: equal scores are ordered by key, whatever the order of Add.
	a, b := newIndex(t), newIndex(t)
	for _, k := range []string{"z", "m", "a"} {
		a.Add(k, encodeAll(tok, "same text here"))
	}
	for _, k := range []string{"a", "z", "m"} {
		b.Add(k, encodeAll(tok, "same text here"))
	}
	ha, hb := a.Search(tok.Encode("text"), 0), b.Search(tok.Encode("text"), 0)
	if !reflect.DeepEqual(ha, hb) || len(ha) != 3 || ha[0].Key != "a" || ha[2].Key != "z" {
		t.Errorf("ties: %+v and %+v", ha, hb)
	}
	// A key added twice is one hit, its better document.
	d := newIndex(t)
	d.Add("k", encodeAll(tok, "alpha beta"))
	d.Add("k", encodeAll(tok, "nothing", "alpha alpha"))
	d.Add("other", encodeAll(tok, "gamma"))
	if hits := d.Search(tok.Encode("alpha"), 0); len(hits) != 1 || hits[0].Key != "k" {
		t.Errorf("duplicate key: %+v", hits)
	}
}

// TestWordPositions: a word matches at the start of a message, after a space, capitalized, in
// capitals, and next to punctuation, although tiktoken gives each a different token sequence.
func TestWordPositions(t *testing.T) {
	tok := cl100k(t)
	for _, word := range []string{"paris", "photosynthesis", "kubernetes", "sourdough"} {
		title := strings.ToUpper(word[:1]) + word[1:]
		variants := []string{word, " " + word, title, " " + title, strings.ToUpper(word), "(" + word + ")"}
		seqs := map[string]bool{}
		for _, v := range variants {
			seqs[fmt.Sprint(tok.Encode(v))] = true
		}
		if len(seqs) < 4 {
			t.Fatalf("%s: only %d distinct token sequences among %q; the test means nothing", word, len(seqs), variants)
		}
		ix := newIndex(t)
		ix.Add("start", encodeAll(tok, "Unrelated opening words.", title+" is the first word of this message."))
		ix.Add("middle", encodeAll(tok, "Here the word "+word+" sits in the middle of a sentence."))
		ix.Add("caps", encodeAll(tok, "SHOUTING "+strings.ToUpper(word)+" LOUDLY"))
		ix.Add("paren", encodeAll(tok, "a note ("+word+"), in parentheses"))
		ix.Add("none", encodeAll(tok, "nothing to see here"))
		for _, v := range variants {
			hits := ix.Search(tok.Encode(v), 0)
			var keys []string
			for _, h := range hits {
				keys = append(keys, h.Key)
				if h.Key == "start" && h.Message != 1 {
					t.Errorf("%q: start message %d", v, h.Message)
				}
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"caps", "middle", "paren", "start"}) {
				t.Errorf("query %q (tokens %v): hits %v", v, tok.Encode(v), keys)
			}
		}
	}
}

func TestTerms(t *testing.T) {
	got := appendTerms(nil, []byte("Hello, WORLD! snake_case x2 Émigré 東京 \xff हिन्दी"))
	want := appendTerms(nil, []byte("hello world snake case x2 émigré 東 京 हिन्दी"))
	if len(got) != 9 || !slices.Equal(got, want) {
		t.Errorf("terms %v, want %v", got, want)
	}
	if appendTerms(nil, []byte(" ,.;\xff ")) != nil {
		t.Error("terms of no word")
	}
	// Ids outside the vocabulary are skipped, not fatal.
	tok := cl100k(t)
	ix := newIndex(t)
	ix.Add("bad", [][]int{append(tok.Encode("valid words"), -1, 100256, 1<<40), {100256}})
	if hits := ix.Search(append(tok.Encode("words"), -5), 0); len(hits) != 1 || hits[0].Key != "bad" {
		t.Errorf("invalid ids: %+v", hits)
	}
}

func TestParams(t *testing.T) {
	for _, p := range []Params{{K1: -1, B: 0.5, Tokenizer: "cl100k_base"}, {K1: 1, B: 1.5, Tokenizer: "cl100k_base"}, {K1: 1, B: 0.5, Tokenizer: "nope"}, {K1: 1, B: -0.1, Tokenizer: "cl100k_base"}} {
		if _, err := NewIndex(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewIndex(%+v) = %v", p, err)
		}
		if _, err := SearchIndexes(p, nil, nil, 1); !errors.Is(err, ErrInvalid) {
			t.Errorf("SearchIndexes(%+v) = %v", p, err)
		}
		if _, err := ParseIndex(nil, p); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseIndex(%+v) = %v", p, err)
		}
	}
	if p := DefaultParams(); p.K1 != 1.2 || p.B != 0.75 || p.Tokenizer != "cl100k_base" {
		t.Errorf("DefaultParams = %+v", p)
	}
}

func marshal(t testing.TB, ix *Index) []byte {
	t.Helper()
	b, err := ix.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seal(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

// TestBinary: the round trip keeps every search result and the bytes; corrupt bytes are
// ErrCorrupt, however they are corrupt.
func TestBinary(t *testing.T) {
	tok := cl100k(t)
	ix := fixtureIndex(t)
	data := marshal(t, ix)
	back, err := ParseIndex(data, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if again := marshal(t, back); !bytes.Equal(again, data) {
		t.Error("AppendBinary(ParseIndex(b)) != b")
	}
	for _, q := range []string{"the capital", "paris", "of", "sourdough bread dough", "func reverse"} {
		if a, b := ix.Search(tok.Encode(q), 0), back.Search(tok.Encode(q), 0); !reflect.DeepEqual(a, b) {
			t.Errorf("%q: %+v after the round trip, %+v before", q, b, a)
		}
	}
	prefix := []byte("prefix")
	if withPrefix, _ := ix.AppendBinary(prefix); !bytes.Equal(withPrefix[len(prefix):], data) {
		t.Error("AppendBinary depends on what it appends to")
	}
	// Parsed indexes can be added to.
	back.Add("new", encodeAll(tok, "zeppelin"))
	if hits := back.Search(tok.Encode("zeppelin"), 0); len(hits) != 1 || hits[0].Key != "new" {
		t.Errorf("Add after ParseIndex: %+v", hits)
	}
	emptyData := marshal(t, newIndex(t))
	if e, err := ParseIndex(emptyData, DefaultParams()); err != nil || e.Len() != 0 {
		t.Errorf("empty index: %v", err)
	}

	corrupt := map[string][]byte{
		"flipped bit": append(append([]byte(nil), data[:20]...), append([]byte{data[20] ^ 4}, data[21:]...)...),
		"wrong magic": seal(append([]byte("SKBM\x02"), data[5:len(data)-4]...)),
		"trailing":    seal(append(append([]byte(nil), data[:len(data)-4]...), 0)),
		// One document "k" with one message of 3 tokens, and term 5 in message 0.
		"no docs, terms":     seal([]byte("SKBM\x01\x00\x01\x05\x01\x00\x00")),
		"doc out of range":   seal([]byte("SKBM\x01\x01\x01k\x01\x03\x01\x05\x01\x01\x00")),
		"msg out of range":   seal([]byte("SKBM\x01\x01\x01k\x01\x03\x01\x05\x01\x00\x02")),
		"no postings":        seal([]byte("SKBM\x01\x01\x01k\x01\x03\x01\x05\x00")),
		"terms unordered":    seal([]byte("SKBM\x01\x01\x01k\x01\x03\x02\x05\x01\x00\x00\x00\x01\x00\x00")),
		"huge count":         seal([]byte("SKBM\x01\xff\xff\xff\xff\x0f")),
		"long key":           seal([]byte("SKBM\x01\x01\x09k\x01\x03\x00")),
		"overlong varint":    seal([]byte("SKBM\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01")),
		"tf overflow":        seal([]byte("SKBM\x01\x01\x01k\x01\x03\x01\x05\x01\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")),
		"postings unordered": seal([]byte("SKBM\x01\x01\x01k\x02\x03\x03\x01\x05\x02\x00\x02\x00\x00")),
		"term too large":     seal([]byte("SKBM\x01\x01\x01k\x01\x03\x01\x80\x80\x80\x80\x10\x01\x00\x00")),
	}
	for name, body := range map[string]string{
		"base":      "SKBM\x01\x01\x01k\x01\x03\x01\x05\x01\x00\x00",
		"tf 3":      "SKBM\x01\x01\x01k\x01\x03\x01\x05\x01\x00\x01\x01",
		"two terms": "SKBM\x01\x01\x01k\x02\x03\x03\x02\x05\x01\x00\x00\x07\x02\x00\x00\x00\x02",
	} {
		if _, err := ParseIndex(seal([]byte(body)), DefaultParams()); err != nil {
			t.Fatalf("hand-made valid index %s: %v", name, err)
		}
	}
	for n := range len(data) {
		corrupt[fmt.Sprintf("truncated to %d bytes", n)] = data[:n]
	}
	for name, b := range corrupt {
		if _, err := ParseIndex(b, DefaultParams()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: ParseIndex = %v, want ErrCorrupt", name, err)
		}
	}
	// Random bytes with a valid checksum: an error or an index, never a panic.
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		body := append([]byte("SKBM\x01"), make([]byte, rnd.IntN(40))...)
		for i := 5; i < len(body); i++ {
			body[i] = byte(rnd.IntN(8))
		}
		if ix, err := ParseIndex(seal(body), DefaultParams()); err == nil {
			ix.Search(tok.Encode("x"), 0)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("random bytes: %v", err)
		}
	}
}

// doc is a conversation of the sample: its id, and the text and tokens of each message.
type doc struct {
	id     string
	texts  []string
	tokens [][]int
}

// sample reads ../shared/corpus/sample.jsonl: a message's text is its content, then each tool
// call's name and arguments on lines of their own.
func sample(t testing.TB) []doc {
	t.Helper()
	tok := cl100k(t)
	var docs []doc
	err := corpus.Lines(corpus.Path(t, "sample.jsonl"), func(line []byte, n int) error {
		c, err := conversation.Parse(line)
		if err != nil {
			return err
		}
		d := doc{id: c.ID}
		for _, m := range c.Messages {
			text := m.Content
			for _, tc := range m.ToolCalls {
				text += "\n" + tc.Name + "\n" + tc.Arguments
			}
			d.texts = append(d.texts, text)
			d.tokens = append(d.tokens, tok.Encode(text))
		}
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// phrase is a query taken from a message of the sample.
type phrase struct {
	text    string
	doc     int
	message int
}

var wordRE = regexp.MustCompile(`[\p{L}\p{N}\p{M}]+`)

// phrases picks n phrases of 6 words, each from another conversation, starting after the first
// word of a message (so, in the middle of a sentence), and distinctive: the phrase, lowercased,
// occurs in no other message of the sample.
func phrases(docs []doc, n int) []phrase {
	lower := make([][]string, len(docs))
	for i, d := range docs {
		for _, s := range d.texts {
			lower[i] = append(lower[i], strings.ToLower(s))
		}
	}
	occurrences := func(s string) int {
		k := 0
		for _, ms := range lower {
			for _, m := range ms {
				k += strings.Count(m, s)
			}
		}
		return k
	}
	rnd := rand.New(rand.NewPCG(16, 3))
	var out []phrase
	for _, i := range rnd.Perm(len(docs)) {
		if len(out) == n {
			break
		}
		d := docs[i]
		m := rnd.IntN(len(d.texts) + 1)
		if m == len(d.texts) {
			continue
		}
		words := wordRE.FindAllStringIndex(d.texts[m], -1)
		if len(words) < 12 {
			continue
		}
		start := 1 + rnd.IntN(len(words)-7)
		p := d.texts[m][words[start][0]:words[start+5][1]]
		if !utf8.ValidString(p) || occurrences(strings.ToLower(p)) != 1 {
			continue
		}
		out = append(out, phrase{text: p, doc: i, message: m})
	}
	return out
}

// TestCorpusSearch: on the sample, a distinctive phrase from a message finds its conversation
// first, with that message; and the size of the binary form.
func TestCorpusSearch(t *testing.T) {
	tok := cl100k(t)
	docs := sample(t)
	ix := newIndex(t)
	var tokens, texts int
	for _, d := range docs {
		ix.Add(d.id, d.tokens)
		for i := range d.tokens {
			tokens += len(d.tokens[i])
			texts += len(d.texts[i])
		}
	}
	ps := phrases(docs, 20)
	if len(ps) != 20 {
		t.Fatalf("only %d phrases", len(ps))
	}
	var first, message int
	for _, p := range ps {
		hits := ix.Search(tok.Encode(p.text), 5)
		switch {
		case len(hits) == 0 || hits[0].Key != docs[p.doc].id:
			t.Logf("%q (%s, message %d): hits %+v", p.text, docs[p.doc].id, p.message, hits)
		case hits[0].Message != p.message:
			first++
			t.Logf("%q (%s): message %d, want %d", p.text, docs[p.doc].id, hits[0].Message, p.message)
		default:
			first++
			message++
		}
	}
	t.Logf("20 distinctive 6-word phrases from the middle of messages: conversation first %d/20, with the right message %d/20", first, message)
	if first < 18 || message < 18 {
		t.Errorf("conversation first %d/20, right message %d/20; want at least 18", first, message)
	}
	// Every phrase the picker finds (one try per conversation), for the record.
	all := phrases(docs, len(docs))
	first, message = 0, 0
	for _, p := range all {
		if hits := ix.Search(tok.Encode(p.text), 1); len(hits) > 0 && hits[0].Key == docs[p.doc].id {
			first++
			if hits[0].Message == p.message {
				message++
			}
		}
	}
	t.Logf("all %d phrases found: conversation first %d, with the right message %d", len(all), first, message)
	data := marshal(t, ix)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(data)
	w.Close()
	t.Logf("%d conversations, %d messages, %d tokens, %d bytes of text: index %d bytes, %d per conversation, %.2f per token; gzip %d bytes, %d per conversation",
		len(docs), len(ix.msgLen), tokens, texts, len(data), len(data)/len(docs), float64(len(data))/float64(tokens), gz.Len(), gz.Len()/len(docs))
	t.Logf("%d distinct terms, %d postings", len(ix.terms), countPostings(ix))
}

func countPostings(ix *Index) int {
	n := 0
	for _, ps := range ix.terms {
		n += len(ps.list)
	}
	return n
}

// TestMergedEqualsSingle: the sample split into 4 batches, each written and read back, searched
// together, gives exactly the hits (keys, scores to the bit, messages) of one index of all.
func TestMergedEqualsSingle(t *testing.T) {
	tok := cl100k(t)
	docs := sample(t)
	single := newIndex(t)
	batches := make([]*Index, 4)
	for i := range batches {
		batches[i] = newIndex(t)
	}
	for i, d := range docs {
		single.Add(d.id, d.tokens)
		batches[(i*7)%4].Add(d.id, d.tokens) // uneven batches, not in order
	}
	parsed := make([]*Index, len(batches))
	for i, b := range batches {
		var err error
		if parsed[i], err = ParseIndex(marshal(t, b), DefaultParams()); err != nil {
			t.Fatal(err)
		}
	}
	queries := []string{"the", "What is the capital", "flight reservation cancel", "python function", "I", "zebra", "東京"}
	for _, p := range phrases(docs, 20) {
		queries = append(queries, p.text)
	}
	var compared int
	for _, q := range queries {
		want := single.Search(tok.Encode(q), 0)
		got, err := SearchIndexes(DefaultParams(), parsed, tok.Encode(q), 0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %d hits from the batches differ from the %d of one index", q, len(got), len(want))
		}
		// The batches in another order.
		rev := slices.Clone(parsed)
		slices.Reverse(rev)
		if got, _ := SearchIndexes(DefaultParams(), rev, tok.Encode(q), 10); !reflect.DeepEqual(got, want[:min(10, len(want))]) {
			t.Errorf("%q: batches in reverse order differ", q)
		}
		compared += len(want)
	}
	t.Logf("%d queries, %d hits compared", len(queries), compared)
}

// TestTokenVariants measures why terms are words: for the distinct lowercase words of the
// sample, how often the tokens of the word at the start of a message differ from those after
// a space, even when each token is lowercased and its leading space trimmed.
func TestTokenVariants(t *testing.T) {
	tok := cl100k(t)
	docs := sample(t)
	words := map[string]bool{}
	for _, d := range docs {
		for _, s := range d.texts {
			for _, w := range wordRE.FindAllString(s, -1) {
				if isLowerASCII(w) && len(w) > 1 {
					words[w] = true
				}
			}
		}
	}
	norm := func(ids []int) string {
		var parts []string
		for _, id := range ids {
			b, _ := tok.DecodeBytes([]int{id})
			parts = append(parts, strings.ToLower(strings.TrimPrefix(string(b), " ")))
		}
		return strings.Join(parts, "|")
	}
	var raw, lower, title int
	for w := range words {
		spaced := tok.Encode(" " + w)
		if !slices.Equal(tok.Encode(w), spaced) {
			raw++
		}
		if norm(tok.Encode(w)) != norm(spaced) {
			lower++
		}
		if norm(tok.Encode(strings.ToUpper(w[:1])+w[1:])) != norm(spaced) {
			title++
		}
	}
	t.Logf("%d distinct lowercase words: token ids differ at the start of a message for %d (%.0f%%); after normalizing each token, still for %d (%.0f%%), and for %d (%.0f%%) capitalized",
		len(words), raw, pct(raw, len(words)), lower, pct(lower, len(words)), title, pct(title, len(words)))
}

func pct(a, b int) float64 { return 100 * float64(a) / float64(b) }

func isLowerASCII(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsLower(r) {
			return false
		}
	}
	return true
}

func BenchmarkAdd(b *testing.B) {
	docs := sample(b)
	var size int64
	for _, d := range docs {
		for _, s := range d.texts {
			size += int64(len(s))
		}
	}
	b.SetBytes(size)
	for b.Loop() {
		ix := newIndex(b)
		for _, d := range docs {
			ix.Add(d.id, d.tokens)
		}
	}
}

func BenchmarkSearch(b *testing.B) {
	tok := cl100k(b)
	docs := sample(b)
	ix := newIndex(b)
	for _, d := range docs {
		ix.Add(d.id, d.tokens)
	}
	var queries [][]int
	for _, p := range phrases(docs, 20) {
		queries = append(queries, tok.Encode(p.text))
	}
	i := 0
	for b.Loop() {
		ix.Search(queries[i%len(queries)], 10)
		i++
	}
}

func BenchmarkParse(b *testing.B) {
	docs := sample(b)
	ix := newIndex(b)
	for _, d := range docs {
		ix.Add(d.id, d.tokens)
	}
	data := marshal(b, ix)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseIndex(data, DefaultParams()); err != nil {
			b.Fatal(err)
		}
	}
}
