package embed

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/stowken/stowken/internal/words"
)

// DefaultDimensions is the number of dimensions of a Hashed embedder when HashedOptions leaves
// it zero.
const DefaultDimensions = 256

// MaxDimensions is the largest number of dimensions NewHashed accepts.
const MaxDimensions = 1 << 16

// bigramWeight scales the weight of a word pair against that of its words: pairs carry word
// order and phrases ("new york"), but they are rarer and noisier than the words themselves.
const bigramWeight = 0.5

// proxyStopWeight is the weight of a built-in stop word under the idf proxy, and proxyWeight
// that of every other word. They are not zero so that a text made of stop words only ("what is
// it?") still gets a vector.
const (
	proxyStopWeight = 0.1
	proxyWeight     = 1.0
)

// HashedOptions configures NewHashed. The zero value gives the defaults.
type HashedOptions struct {
	// Dimensions is the length of the vectors, 1 to MaxDimensions; zero means
	// DefaultDimensions (256). More dimensions mean fewer hash collisions and larger vectors.
	Dimensions int
	// IDF weights words by their inverse document frequency in a sample (see LearnIDF). When
	// nil, a proxy stands in for it: a built-in list of 158 frequent English function
	// words ("the", "is", "how", ...) weighs 0.1 and every other word 1. That is all the proxy
	// is: it knows no other language's function words and no word's real frequency.
	IDF *IDF
}

// IDF holds document frequencies of words, learned from a sample of texts by LearnIDF. Its
// fields are exported so that it can be stored (as JSON, for example) and given to NewHashed
// again: vectors made with one IDF are only comparable to vectors made with the same one, and
// the Name of the embedder says which (a fingerprint of Docs and DF).
type IDF struct {
	// Docs is the number of texts of the sample.
	Docs int
	// DF maps a lowercase word to the number of texts it occurs in. LearnIDF keeps words seen in
	// at least two texts; a word that is absent weighs as one seen in none.
	DF map[string]int
}

// LearnIDF counts in how many of texts each word occurs. The weight of a word is then
// ln((Docs+1)/(df+1)) + 1, the smoothed idf: 1 for a word in every text, ln(Docs+1)+1 for a word
// in none. Words found in a single text are dropped from DF (they weigh almost as much as
// unseen words, and they are most of the vocabulary of any sample). Cost: linear in the texts;
// DF holds the sample's words that occur more than once.
func LearnIDF(texts []string) *IDF {
	df := make(map[string]int)
	seen := make(map[string]bool)
	var words []string
	for _, t := range texts {
		words = appendWords(words[:0], t)
		clear(seen)
		for _, w := range words {
			if !seen[w] {
				seen[w] = true
				df[w]++
			}
		}
	}
	for w, n := range df {
		if n < 2 {
			delete(df, w)
		}
	}
	return &IDF{Docs: len(texts), DF: df}
}

// Hashed is the built-in Embedder: feature hashing of word unigrams and bigrams (see the package
// documentation). It is deterministic: the same text gives the same vector, bit for bit, on every
// run, and the vector does not depend on the other texts of the call. Safe for concurrent use.
type Hashed struct {
	dims   int
	idf    map[string]float32
	unseen float32 // weight of a word absent from idf
	name   string
}

// NewHashed returns a Hashed embedder. Its errors wrap ErrInvalid: Dimensions below zero or
// above MaxDimensions, an IDF with Docs < 1 or a negative or too large df.
func NewHashed(opts HashedOptions) (*Hashed, error) {
	d := opts.Dimensions
	if d == 0 {
		d = DefaultDimensions
	}
	if d < 1 || d > MaxDimensions {
		return nil, fmt.Errorf("%w: dimensions %d not in [1, %d]", ErrInvalid, opts.Dimensions, MaxDimensions)
	}
	h := &Hashed{dims: d}
	if opts.IDF == nil {
		h.name = fmt.Sprintf("hashed-v1-d%d-proxy", d)
		return h, nil
	}
	idf := opts.IDF
	if idf.Docs < 1 {
		return nil, fmt.Errorf("%w: IDF learned from %d texts", ErrInvalid, idf.Docs)
	}
	words := make([]string, 0, len(idf.DF))
	for w, n := range idf.DF {
		if n < 0 || n > idf.Docs {
			return nil, fmt.Errorf("%w: IDF: df of %q is %d, with %d texts", ErrInvalid, w, n, idf.Docs)
		}
		words = append(words, w)
	}
	slices.Sort(words)
	fp := fnvOffset
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(idf.Docs))
	fp = fnvBytes(fp, buf[:])
	h.idf = make(map[string]float32, len(words))
	n := float64(idf.Docs)
	for _, w := range words {
		df := idf.DF[w]
		h.idf[w] = float32(math.Log((n+1)/float64(df+1)) + 1)
		fp = fnvString(fp, w)
		binary.LittleEndian.PutUint64(buf[:], uint64(df))
		fp = fnvBytes(fp, buf[:])
	}
	h.unseen = float32(math.Log(n+1) + 1)
	h.name = fmt.Sprintf("hashed-v1-d%d-idf%016x", d, fp)
	return h, nil
}

// Dimensions returns the length of the vectors.
func (h *Hashed) Dimensions() int { return h.dims }

// Name returns "hashed-v1-d<Dimensions>-proxy", or "hashed-v1-d<Dimensions>-idf<fingerprint>"
// with a learned IDF.
func (h *Hashed) Name() string { return h.name }

// Embed returns the vector of each text; it fails only when ctx is done (checked between texts).
func (h *Hashed) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	var st state
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i] = h.embed(&st, t)
	}
	return out, nil
}

// EmbedText returns the vector of one text (Embed without a context).
func (h *Hashed) EmbedText(text string) []float32 {
	st := states.Get().(*state)
	defer states.Put(st)
	return h.embed(st, text)
}

// states are scratch spaces for EmbedText.
var states = sync.Pool{New: func() any { return new(state) }}

// state is the scratch space of one embedding.
type state struct {
	feats map[uint64]feature
	keys  []uint64
}

type feature struct {
	tf     int
	weight float32
}

// weight is the weight of the word w (its bytes: a map index with string(w) does not copy).
func (h *Hashed) weight(w []byte) float32 {
	if h.idf == nil {
		if stopWords[string(w)] {
			return proxyStopWeight
		}
		return proxyWeight
	}
	if v, ok := h.idf[string(w)]; ok {
		return v
	}
	return h.unseen
}

func (h *Hashed) embed(st *state, text string) []float32 {
	v := make([]float32, h.dims)
	if st.feats == nil {
		st.feats = make(map[uint64]feature, len(text)/4)
	}
	clear(st.feats)
	var prevHash uint64
	var prevWeight float32
	n := 0
	words.Each([]byte(text), func(w []byte) {
		wh := fnvBytes(fnvOffset, w)
		ww := h.weight(w)
		add(st.feats, mix(wh), ww)
		if n > 0 {
			add(st.feats, mix(prevHash*0x9E3779B97F4A7C15^wh), bigramWeight*(prevWeight+ww)/2)
		}
		prevHash, prevWeight = wh, ww
		n++
	})
	if n == 0 {
		return v
	}
	// Sum in the order of the feature keys, so that the bits of the vector do not depend on
	// the map's iteration order.
	st.keys = st.keys[:0]
	for k := range st.feats {
		st.keys = append(st.keys, k)
	}
	slices.Sort(st.keys)
	acc := make([]float64, h.dims)
	for _, k := range st.keys {
		f := st.feats[k]
		x := (1 + math.Log(float64(f.tf))) * float64(f.weight)
		idx := (k & 0xFFFFFFFF) * uint64(h.dims) >> 32
		if k>>63 != 0 {
			x = -x
		}
		acc[idx] += x
	}
	var norm float64
	for _, x := range acc {
		norm += x * x
	}
	if norm == 0 {
		return v
	}
	inv := 1 / math.Sqrt(norm)
	for i, x := range acc {
		v[i] = float32(x * inv)
	}
	return v
}

func add(feats map[uint64]feature, key uint64, weight float32) {
	f := feats[key]
	f.tf++
	f.weight = weight
	feats[key] = f
}

// FNV-1a, 64 bits.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// mix is the finalizer of SplitMix64: it spreads the bits of a hash so that its low bits (the
// coordinate) and its top bit (the sign) are independent.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

// appendWords appends the words of text to dst (package internal/words).
func appendWords(dst []string, text string) []string {
	words.Each([]byte(text), func(w []byte) { dst = append(dst, string(w)) })
	return dst
}

// stopWords are frequent English function words, the idf proxy's words of little weight.
var stopWords = func() map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(`
		a about above after again against all am an and any are as at be because been before
		being below between both but by can could did do does doing down during each few for
		from further had has have having he her here hers herself him himself his how i if in
		into is it its itself just let me more most my myself no nor not now of off on once only
		or other our ours ourselves out over own same she should so some such than that the
		their theirs them themselves then there these they this those through to too under until
		up very was we were what when where which while who whom why will with would you your
		yours yourself yourselves s t d ll m re ve don doesn didn isn aren wasn weren won
		cannot shall may might must also please tell give get make know want need like use`) {
		m[w] = true
	}
	return m
}()
