package embed

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
)

func newHashed(t testing.TB, opts HashedOptions) *Hashed {
	t.Helper()
	h, err := NewHashed(opts)
	if err != nil {
		t.Fatalf("NewHashed: %v", err)
	}
	return h
}

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func norm(v []float32) float64 { return math.Sqrt(cosine(v, v)) }

// paraphrases: each group says one thing in different words; groups are about different things.
var paraphrases = [][]string{
	{"How do I reset my password? I forgot it.", "I forgot my password, how can I reset it?", "Password reset: I can't remember my password"},
	{"What is the capital city of France?", "Which city is the capital of France?", "France's capital city is which one?"},
	{"Write a Python function that sorts a list of numbers.", "Python code to sort a list of numbers, please", "sort a list of numbers in Python"},
	{"What's the weather forecast for Berlin tomorrow?", "Tomorrow's weather in Berlin: what is the forecast?", "Will it rain in Berlin tomorrow? weather forecast"},
	{"Recommend a good recipe for chocolate chip cookies.", "I'd like a chocolate chip cookie recipe.", "How do I bake chocolate chip cookies? recipe please"},
	{"Explain how photosynthesis works in plants.", "How does photosynthesis in plants work?", "photosynthesis in plants, explained"},
	{"東京の天気はどうですか", "東京の天気を教えてください", "今日の東京の天気"},
}

// TestParaphrases: every text is more similar to each of its paraphrases than to any text of
// another group, with the idf proxy and with an IDF learned from the fixture.
func TestParaphrases(t *testing.T) {
	var all []string
	for _, g := range paraphrases {
		all = append(all, g...)
	}
	for _, opts := range []HashedOptions{{}, {IDF: LearnIDF(all)}} {
		h := newHashed(t, opts)
		vecs, err := h.Embed(context.Background(), all)
		if err != nil {
			t.Fatal(err)
		}
		group := func(i int) int { return i / 3 }
		var minSame, maxOther = 1.0, -1.0
		for i := range all {
			for j := range all {
				if i == j {
					continue
				}
				c := cosine(vecs[i], vecs[j])
				if group(i) == group(j) {
					minSame = min(minSame, c)
				} else {
					maxOther = max(maxOther, c)
				}
			}
			worstSame, bestOther := 1.0, -1.0
			for j := range all {
				if j == i {
					continue
				}
				if c := cosine(vecs[i], vecs[j]); group(i) == group(j) {
					worstSame = min(worstSame, c)
				} else {
					bestOther = max(bestOther, c)
				}
			}
			if worstSame <= bestOther {
				t.Errorf("%s: %q: paraphrase similarity %.3f <= unrelated %.3f", h.Name(), all[i], worstSame, bestOther)
			}
		}
		t.Logf("%s: smallest paraphrase cosine %.3f, largest unrelated cosine %.3f", h.Name(), minSame, maxOther)
	}
}

// TestDeterministicUnit: the same text gives the same bits, alone or among others, from two
// embedders with the same options; vectors have unit length; textless texts the zero vector.
func TestDeterministicUnit(t *testing.T) {
	texts := []string{"Hello, World!", "hello world", "a", "Ünïcödé ΣΊΣΥΦΟΣ and émigré", "東京タワー", "x_y-z 42 3.14", strings.Repeat("spam ", 1000)}
	a := newHashed(t, HashedOptions{})
	b := newHashed(t, HashedOptions{})
	va, err := a.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		if n := norm(va[i]); math.Abs(n-1) > 1e-6 {
			t.Errorf("%q: norm %v", text, n)
		}
		if len(va[i]) != a.Dimensions() || a.Dimensions() != DefaultDimensions {
			t.Errorf("%q: %d dimensions", text, len(va[i]))
		}
		if !slices.Equal(va[i], b.EmbedText(text)) {
			t.Errorf("%q: vector differs between embedders or calls", text)
		}
	}
	if !slices.Equal(va[0], va[1]) {
		t.Error("case and punctuation change the vector")
	}
	for _, text := range []string{"", "  ", "?!… — ++", "\xff\xfe"} {
		v := a.EmbedText(text)
		if norm(v) != 0 || len(v) != a.Dimensions() {
			t.Errorf("%q: want the zero vector", text)
		}
	}
	if a.Name() != "hashed-v1-d256-proxy" {
		t.Errorf("Name = %q", a.Name())
	}
	c := newHashed(t, HashedOptions{Dimensions: 300, IDF: LearnIDF(texts)})
	d := newHashed(t, HashedOptions{Dimensions: 300, IDF: LearnIDF(texts[1:])})
	again := newHashed(t, HashedOptions{Dimensions: 300, IDF: LearnIDF(texts[1:])})
	if !strings.HasPrefix(c.Name(), "hashed-v1-d300-idf") || c.Name() == d.Name() || d.Name() != again.Name() {
		t.Errorf("names %q %q do not tell the IDFs apart", c.Name(), d.Name())
	}
	if v := c.EmbedText("hello"); len(v) != 300 || math.Abs(norm(v)-1) > 1e-6 {
		t.Errorf("300 dimensions: len %d norm %v", len(v), norm(v))
	}
}

func TestWords(t *testing.T) {
	got := appendWords(nil, "Hello, WORLD! it's snake_case x2 Émigré naïve 東京タワー हिन्दी")
	want := []string{"hello", "world", "it", "s", "snake", "case", "x2", "émigré", "naïve", "東", "京", "タ", "ワ", "ー", "हिन्दी"}
	if !slices.Equal(got, want) {
		t.Errorf("words = %q\nwant    %q", got, want)
	}
}

func TestOptionsAndContext(t *testing.T) {
	for _, opts := range []HashedOptions{{Dimensions: -1}, {Dimensions: MaxDimensions + 1}, {IDF: &IDF{}}, {IDF: &IDF{Docs: 2, DF: map[string]int{"x": 3}}}} {
		if _, err := NewHashed(opts); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewHashed(%+v) = %v, want ErrInvalid", opts, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newHashed(t, HashedOptions{}).Embed(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Embed = %v", err)
	}
	var _ Embedder = (*Hashed)(nil)
}

func TestLearnIDF(t *testing.T) {
	idf := LearnIDF([]string{"the cat sat", "the dog sat", "The end", "a unique word"})
	want := map[string]int{"the": 3, "sat": 2}
	if idf.Docs != 4 || len(idf.DF) != len(want) || idf.DF["the"] != 3 || idf.DF["sat"] != 2 {
		t.Errorf("LearnIDF = %+v, want Docs 4, DF %v", idf, want)
	}
	h := newHashed(t, HashedOptions{IDF: idf})
	the, sat, unseen := h.weight([]byte("the")), h.weight([]byte("sat")), h.weight([]byte("unseen"))
	if !(the < sat && sat < unseen && the >= 1) {
		t.Errorf("weights the %v, sat %v, unseen %v", the, sat, unseen)
	}
}

// TestQuantize: the round trip through bytes, the error bound of each component, Dot against
// the float dot product on random unit vectors, and the size.
func TestQuantize(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	h := newHashed(t, HashedOptions{})
	var worst float64
	for range 200 {
		a, b := randomUnit(rnd, 256), randomUnit(rnd, 256)
		qa, qb := Quantize(a), Quantize(b)
		data, err := qa.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != 4+256 {
			t.Fatalf("%d bytes, want 260", len(data))
		}
		back, err := ParseQuantized(data)
		if err != nil || back.Scale != qa.Scale || !slices.Equal(back.Values, qa.Values) {
			t.Fatalf("round trip: %v", err)
		}
		ra := qa.Vector()
		var ea float64
		for i := range a {
			d := math.Abs(float64(a[i] - ra[i]))
			if d > float64(qa.Scale)/2*1.0001 {
				t.Fatalf("component %d: error %v > scale/2 = %v", i, d, qa.Scale/2)
			}
			ea += d * d
		}
		eb := quantError(b, qb)
		ea = math.Sqrt(ea)
		// |a·b − a'·b'| <= |a|·|e_b| + |e_a|·|b| + |e_a|·|e_b| by Cauchy–Schwarz.
		got, exact := float64(Dot(qa, qb)), cosine(a, b)
		if bound := ea + eb + ea*eb; math.Abs(got-exact) > bound+1e-6 {
			t.Fatalf("Dot error %v > bound %v", math.Abs(got-exact), bound)
		}
		worst = max(worst, math.Abs(got-exact))
	}
	t.Logf("random unit vectors of 256 dimensions: largest Dot error %.5f", worst)
	if worst > 0.01 {
		t.Errorf("largest Dot error %v", worst)
	}
	zero := Quantize(make([]float32, 8))
	if zero.Scale != 0 || Dot(zero, zero) != 0 {
		t.Errorf("zero vector: %+v", zero)
	}
	if data, err := zero.AppendBinary(nil); err != nil || len(data) != 12 {
		t.Errorf("zero vector: %v, %d bytes", err, len(data))
	}
	odd := Quantize([]float32{float32(math.NaN()), float32(math.Inf(1)), 0.5, -1})
	if !slices.Equal(odd.Values, []int8{0, 0, 64, -127}) {
		t.Errorf("non-finite components: %v", odd.Values)
	}
	if Dot(Quantize([]float32{1}), Quantize([]float32{1, 0})) != 0 {
		t.Error("Dot of different lengths")
	}
	v := h.EmbedText("self similarity")
	if d := Dot(Quantize(v), Quantize(v)); math.Abs(float64(d)-1) > 0.01 {
		t.Errorf("self Dot %v", d)
	}
}

func quantError(v []float32, q Quantized) float64 {
	r := q.Vector()
	var e float64
	for i := range v {
		d := float64(v[i] - r[i])
		e += d * d
	}
	return math.Sqrt(e)
}

func randomUnit(rnd *rand.Rand, d int) []float32 {
	v := make([]float32, d)
	var n float64
	for i := range v {
		x := rnd.NormFloat64()
		v[i] = float32(x)
		n += x * x
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(n))
	}
	return v
}

func TestParseQuantizedCorrupt(t *testing.T) {
	good, err := Quantize([]float32{0.6, -0.8, 0}).AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	with := func(scale float32, values ...int8) []byte {
		q := Quantized{Scale: scale, Values: values}
		b := []byte{0, 0, 0, 0}
		bits := math.Float32bits(q.Scale)
		b[0], b[1], b[2], b[3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
		for _, v := range values {
			b = append(b, byte(v))
		}
		return b
	}
	cases := map[string][]byte{
		"empty":          nil,
		"scale only":     good[:4],
		"short":          good[:3],
		"negative scale": with(-0.01, 127),
		"NaN scale":      with(float32(math.NaN()), 127),
		"infinite scale": with(float32(math.Inf(1)), 127),
		"-128":           with(0.01, 127, -128),
		"no peak":        with(0.01, 100, -3),
		"zero scale":     with(0, 1),
		"lost value":     append(good[:5:5], good[6:]...),
	}
	for name, data := range cases {
		if _, err := ParseQuantized(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: ParseQuantized = %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := (Quantized{Scale: -1, Values: []int8{1}}).AppendBinary(nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("AppendBinary of a bad vector: %v", err)
	}
	if q, err := ParseQuantized(good); err != nil || !slices.Equal(q.Values, []int8{95, -127, 0}) {
		t.Errorf("good: %v, %v", q, err)
	}
}

// sampleTexts returns the ids and texts (messages' content and tool calls, one per line) of
// the conversations of the sample corpus, and the first user message of each.
func sampleTexts(t testing.TB) (ids, texts, firsts []string) {
	t.Helper()
	path := corpus.Path(t, "sample.jsonl")
	err := corpus.Lines(path, func(line []byte, n int) error {
		c, err := conversation.Parse(line)
		if err != nil {
			return err
		}
		var b strings.Builder
		first := ""
		for _, m := range c.Messages {
			b.WriteString(m.Content)
			b.WriteByte('\n')
			for _, tc := range m.ToolCalls {
				b.WriteString(tc.Name + " " + tc.Arguments + "\n")
			}
			if first == "" && m.Role == conversation.RoleUser {
				first = m.Content
			}
		}
		ids = append(ids, c.ID)
		texts = append(texts, b.String())
		firsts = append(firsts, first)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, texts, firsts
}

// TestCorpusNeighbours: in the sample corpus, conversations that start with the same user
// message (threads of one oasst tree, the chosen and rejected answers of hh-rlhf) are each
// other's nearest neighbours.
func TestCorpusNeighbours(t *testing.T) {
	ids, texts, firsts := sampleTexts(t)
	for _, opts := range []HashedOptions{{}, {Dimensions: 1024}, {IDF: LearnIDF(texts)}} {
		h := newHashed(t, opts)
		vecs, err := h.Embed(context.Background(), texts)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, f := range firsts {
			count[f]++
		}
		var total, good int
		for i := range vecs {
			if firsts[i] == "" || count[firsts[i]] < 2 {
				continue
			}
			best, bestCos := -1, -2.0
			for j := range vecs {
				if j != i {
					if c := cosine(vecs[i], vecs[j]); c > bestCos {
						best, bestCos = j, c
					}
				}
			}
			total++
			if firsts[best] == firsts[i] {
				good++
			} else {
				t.Logf("%s: %s: nearest is %s (%.3f)", h.Name(), ids[i], ids[best], bestCos)
			}
		}
		t.Logf("%s: %d of %d conversations sharing their first message have such a conversation as nearest neighbour", h.Name(), good, total)
		if total < 40 || good*100 < total*80 {
			t.Errorf("%s: %d of %d", h.Name(), good, total)
		}
	}
}

// TestQuantizeCorpus measures the error of Dot on the conversation vectors of the sample: every
// pair of conversations.
func TestQuantizeCorpus(t *testing.T) {
	_, texts, _ := sampleTexts(t)
	h := newHashed(t, HashedOptions{})
	vecs, err := h.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	qs := make([]Quantized, len(vecs))
	for i, v := range vecs {
		qs[i] = Quantize(v)
	}
	var worst, sum float64
	var pairs int
	for i := range vecs {
		for j := i + 1; j < len(vecs); j++ {
			e := math.Abs(float64(Dot(qs[i], qs[j])) - cosine(vecs[i], vecs[j]))
			worst = max(worst, e)
			sum += e
			pairs++
		}
	}
	t.Logf("%d pairs of conversation vectors: Dot error largest %.5f, mean %.5f", pairs, worst, sum/float64(pairs))
	if worst > 0.01 {
		t.Errorf("largest Dot error %v > 0.01", worst)
	}
}

func BenchmarkHashed(b *testing.B) {
	_, texts, _ := sampleTexts(b)
	h := newHashed(b, HashedOptions{})
	var size int64
	for _, t := range texts {
		size += int64(len(t))
	}
	b.SetBytes(size)
	for b.Loop() {
		if _, err := h.Embed(context.Background(), texts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDot(b *testing.B) {
	rnd := rand.New(rand.NewPCG(1, 2))
	qa, qb := Quantize(randomUnit(rnd, 256)), Quantize(randomUnit(rnd, 256))
	for b.Loop() {
		Dot(qa, qb)
	}
}
