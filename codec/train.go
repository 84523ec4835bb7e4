package codec

import (
	"math/rand/v2"
	"slices"
)

// Training sizes: what a model holds and how much of the data it is trained from.
const (
	// Dictionary sizes: token data and manifests.
	tokenDictBytes    = 32 << 10
	manifestDictBytes = 32 << 10
	// rankedTokens is the length of a model's rank table.
	rankedTokens = 4096
	// The sample kept for training: token runs (in tokens) and manifests (in bytes).
	sampleTokens        = 512 << 10
	sampleManifestBytes = 1 << 20
)

// Sample is what a trainer has seen of one tokenizer's data: exact token frequencies and a
// uniform random reservoir of token runs and of manifests, within fixed budgets. Train builds a
// Model from it. Its random choices are seeded from the tokenizer's name, so the same data
// yields the same model. A Sample is not safe for concurrent use.
type Sample struct {
	seen      int // varint bytes of token data
	freq      map[int]int
	tokens    reservoir[[]int]
	manifests reservoir[[]byte]
	rand      *rand.Rand
}

// NewSample returns an empty sample of the tokenizer's data.
func NewSample(tokenizer string) *Sample {
	return &Sample{freq: map[int]int{}, rand: rand.New(rand.NewPCG(uint64(len(tokenizer)), 0x5eed))}
}

// Add adds what one conversation wrote: its token runs and its manifest's uncompressed payload.
func (s *Sample) Add(runs [][]int, manifestPayload []byte) {
	for _, run := range runs {
		for _, t := range run {
			s.freq[t]++
			s.seen += varintLen(t)
		}
		s.tokens.add(s.rand, run, sampleTokens)
	}
	s.manifests.add(s.rand, manifestPayload, sampleManifestBytes)
}

// Seen returns the amount of token data added so far, in varint bytes.
func (s *Sample) Seen() int { return s.seen }

// Train builds a model of the given generation from the sample: the rankedTokens most frequent
// tokens (ties by id), a raw zstd dictionary of rank-coded token runs and one of manifests,
// each a random selection of the sample. Its ID is left 0 (ModelID derives it from the
// encoding).
func (s *Sample) Train(tokenizer string, generation int) *Model {
	ranks := make([]int, 0, len(s.freq))
	for t := range s.freq {
		ranks = append(ranks, t)
	}
	slices.SortFunc(ranks, func(a, b int) int {
		if s.freq[a] != s.freq[b] {
			return s.freq[b] - s.freq[a]
		}
		return a - b
	})
	ranks = ranks[:min(len(ranks), rankedTokens)]
	m := &Model{Tokenizer: tokenizer, Generation: generation, Ranks: ranks,
		ManifestDict: pick(s.rand, s.manifests.items, manifestDictBytes)}
	// The token dictionary holds token data as frames will hold it: rank-coded.
	coder := m.Coder()
	coded := make([][]byte, len(s.tokens.items))
	for i, run := range s.tokens.items {
		coded[i] = coder(nil, run)
	}
	m.TokenDict = pick(s.rand, coded, tokenDictBytes)
	return m
}

// reservoir keeps a uniform random sample of the items added, within a size budget.
type reservoir[T []int | []byte] struct {
	items []T
	size  int // sum of len(items[i])
	added int
}

func (r *reservoir[T]) add(rnd *rand.Rand, item T, limit int) {
	r.added++
	if r.size+len(item) <= limit {
		r.items = append(r.items, item)
		r.size += len(item)
		return
	}
	if j := rnd.IntN(r.added); j < len(r.items) && r.size-len(r.items[j])+len(item) <= limit {
		r.size += len(item) - len(r.items[j])
		r.items[j] = item
	}
}

// varintLen is the length of t as an unsigned varint.
func varintLen(t int) int {
	n := 1
	for u := uint32(t); u >= 0x80; u >>= 7 {
		n++
	}
	return n
}

// pick returns a random selection of the items, concatenated, of at most size bytes. A raw
// zstd dictionary is plain content: what it holds is what matches can refer to.
func pick(r *rand.Rand, items [][]byte, size int) []byte {
	var out []byte
	for _, i := range r.Perm(len(items)) {
		if len(out)+len(items[i]) > size {
			continue
		}
		out = append(out, items[i]...)
	}
	return out
}
