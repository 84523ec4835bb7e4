package neardup

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// randomTokens returns n token ids drawn uniformly from cl100k_base's ordinary ids.
func randomTokens(rng *rand.Rand, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(editVocab)
	}
	return out
}

func TestParams(t *testing.T) {
	p := DefaultParams()
	if err := p.Validate(); err != nil {
		t.Fatalf("DefaultParams: %v", err)
	}
	if p.Shingle != 5 || p.Threshold != 0.8 || p.Hashes != 128 || p.Bands != 16 || p.Rows() != 8 {
		t.Fatalf("DefaultParams = %+v", p)
	}
	// The S-curve's midpoint sits a bit below the threshold.
	if mid := math.Pow(1/float64(p.Bands), 1/float64(p.Rows())); mid < 0.65 || mid >= p.Threshold {
		t.Errorf("(1/b)^(1/r) = %.3f", mid)
	}
	for _, bad := range []func(*Params){
		func(p *Params) { p.Shingle = 0 },
		func(p *Params) { p.Shingle = MaxShingle + 1 },
		func(p *Params) { p.Hashes = 0 },
		func(p *Params) { p.Hashes = MaxHashes + 1 },
		func(p *Params) { p.Bands = 0 },
		func(p *Params) { p.Bands = 15 },
		func(p *Params) { p.Bands = 256 },
		func(p *Params) { p.Threshold = 0 },
		func(p *Params) { p.Threshold = 1.01 },
		func(p *Params) { p.Threshold = math.NaN() },
	} {
		q := DefaultParams()
		bad(&q)
		if err := q.Validate(); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: Validate = %v, want ErrInvalidParams", q, err)
		}
		if _, err := NewIndex(q); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: NewIndex = %v, want ErrInvalidParams", q, err)
		}
		if _, err := Evaluate(nil, q); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: Evaluate = %v, want ErrInvalidParams", q, err)
		}
		if s := NewSignature([]int{1, 2, 3}, q); !s.Empty() {
			t.Errorf("%+v: NewSignature is not empty", q)
		}
	}
}

// TestSignatureDeterministic pins signature values: signatures are stored, so the hashing
// must give the same values on every run, machine and version.
func TestSignatureDeterministic(t *testing.T) {
	tokens := make([]int, 1000)
	for i := range tokens {
		tokens[i] = (i * 7919) % 100000
	}
	s := NewSignature(tokens, DefaultParams())
	if s.Hashes() != 128 || s.Shingle() != 5 {
		t.Fatalf("Hashes %d, Shingle %d", s.Hashes(), s.Shingle())
	}
	if again := NewSignature(slices.Clone(tokens), DefaultParams()); !again.Equal(s) {
		t.Fatal("two signatures of the same tokens differ")
	}
	got := fmt.Sprintf("%08x", s.mins[:4])
	const want = "[00e05bca 001ca503 006c92ac 004377f9]"
	if got != want {
		t.Errorf("first values %s, want %s", got, want)
	}
	got = fmt.Sprintf("%08x", NewSignature([]int{100, 200}, DefaultParams()).mins[:2])
	const wantShort = "[8617021e 9329a8a3]"
	if got != wantShort {
		t.Errorf("short sequence: first values %s, want %s", got, wantShort)
	}
	// The first k hash functions do not depend on Hashes.
	p := DefaultParams()
	p.Hashes, p.Bands = 64, 8
	if small := NewSignature(tokens, p); !slices.Equal(small.mins, s.mins[:64]) {
		t.Error("the first 64 values depend on Hashes")
	}
}

// TestSignatureReference compares NewSignature with a plain implementation of its definition,
// on sequences with runs of one token and of every length around the chunk size.
func TestSignatureReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, p := range []Params{DefaultParams(), {Shingle: 1, Hashes: 7, Bands: 7, Threshold: 0.5}, {Shingle: 3, Hashes: 1024, Bands: 1, Threshold: 1}} {
		for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 100, 2047, 2048, 2049, 2051, 2052, 2053, 5000} {
			tokens := randomTokens(rng, n)
			for i := range tokens {
				if rng.IntN(3) == 0 {
					tokens[i] = 7 // runs of one token: repeated shingles
				}
			}
			if n > 10 {
				for i := n - 10; i < n; i++ {
					tokens[i] = 7 // end on repeated shingles
				}
			}
			want := make([]uint32, p.Hashes)
			for i := range want {
				m := uint64(math.MaxUint64)
				for s := 0; s == 0 || s+p.Shingle <= n; s++ {
					m = min(m, coefA[i]*shingleHash(tokens[s:min(s+p.Shingle, n)])+coefB[i])
				}
				want[i] = uint32(m >> 32)
			}
			if got := NewSignature(tokens, p); !slices.Equal(got.mins, want) || got.shingle != p.Shingle {
				t.Errorf("%+v, %d tokens: signature differs from the definition", p, n)
			}
		}
	}
}

func TestSignatureShortAndEmpty(t *testing.T) {
	p := DefaultParams()
	empty := NewSignature(nil, p)
	if !empty.Empty() || empty.Hashes() != 0 {
		t.Fatal("the signature of no tokens is not empty")
	}
	if Similarity(empty, empty) != 0 || Exact(nil, nil, 5) != 0 {
		t.Error("empty signatures match")
	}
	short := []int{1, 2, 3}
	if got := Similarity(NewSignature(short, p), NewSignature(slices.Clone(short), p)); got != 1 {
		t.Errorf("same short sequence: Similarity %v", got)
	}
	if got := Exact(short, short, 5); got != 1 {
		t.Errorf("same short sequence: Exact %v", got)
	}
	// A short sequence is one shingle: it shares none with a longer sequence containing it.
	long := []int{1, 2, 3, 4, 5, 6}
	if got := Exact(short, long, 5); got != 0 {
		t.Errorf("Exact(short, long) = %v", got)
	}
	if got := Similarity(NewSignature(short, p), NewSignature(long, p)); got > 0.05 {
		t.Errorf("Similarity(short, long) = %v", got)
	}
	// Signatures of other parameters are not comparable.
	q := p
	q.Shingle = 4
	if got := Similarity(NewSignature(long, p), NewSignature(long, q)); got != 0 {
		t.Errorf("Similarity across shingle lengths = %v", got)
	}
	// Exact counts sets: repeats do not matter; shingle < 1 is 1.
	if got := Exact([]int{1, 2, 1, 2, 1, 2}, []int{1, 2, 1}, 2); got != 1 {
		t.Errorf("Exact of repeats = %v", got)
	}
	if got := Exact([]int{1, 2}, []int{2, 3}, 0); got != 1.0/3 {
		t.Errorf("Exact with shingle 0 = %v", got)
	}
}

func TestBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := DefaultParams()
	s := NewSignature(randomTokens(rng, 500), p)
	b := s.AppendBinary([]byte("x"))
	if len(b) != 1+516 || s.EncodedLen() != 516 {
		t.Fatalf("%d bytes, EncodedLen %d, want 516", len(b)-1, s.EncodedLen())
	}
	back, err := ParseSignature(b[1:])
	if err != nil || !back.Equal(s) || Similarity(back, s) != 1 {
		t.Fatalf("round trip: %v", err)
	}
	for _, e := range []Signature{{}, NewSignature(nil, p)} {
		b := e.AppendBinary(nil)
		if len(b) != e.EncodedLen() {
			t.Errorf("empty signature: %d bytes, EncodedLen %d", len(b), e.EncodedLen())
		}
		back, err := ParseSignature(b)
		if err != nil || !back.Equal(e) || !back.Empty() {
			t.Errorf("empty signature round trip: %v", err)
		}
	}

	good := s.AppendBinary(nil)
	corrupt := map[string][]byte{
		"nothing":        nil,
		"version":        append([]byte{2}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing":       append(slices.Clone(good), 0),
		"header only":    good[:4],
		"shingle 0":      {1, 0, 1, 0, 0, 0, 0},
		"shingle 65":     append([]byte{1, 65}, good[2:]...),
		"too many":       {1, 5, 0x81, 0x08}, // 1025 hashes
		"varint":         {1, 5, 0x80},
		"non-canonical":  append([]byte{1, 0x85, 0x00}, good[2:]...),
		"huge count":     {1, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"short of count": append([]byte{1, 5, 0x81, 0x01}, good[4:]...),
	}
	for name, b := range corrupt {
		if _, err := ParseSignature(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: ParseSignature = %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzParseSignature(f *testing.F) {
	f.Add(NewSignature([]int{1, 2, 3, 4, 5, 6, 7}, DefaultParams()).AppendBinary(nil))
	f.Add([]byte{1, 5, 0})
	f.Add([]byte{1, 5, 1, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSignature(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if again := s.AppendBinary(nil); !slices.Equal(again, b) {
			t.Fatalf("parsed %x, wrote back %x", b, again)
		}
	})
}

// TestSimilarityEstimatesExact compares the estimate with exact Jaccard on pairs of random
// sequences that share a known part. With 128 hashes the estimate's standard deviation is
// sqrt(J(1-J)/128), at most 0.044.
func TestSimilarityEstimatesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := DefaultParams()
	var sumAbs, sumSigned, maxAbs float64
	const pairs = 300
	for k := range pairs {
		n := 300 + rng.IntN(1700)
		a := randomTokens(rng, n)
		// b shares a's first `shared` tokens, then goes its own way.
		shared := n * (k%20 + 1) / 20
		b := append(slices.Clone(a[:shared]), randomTokens(rng, n-shared)...)
		exact := Exact(a, b, p.Shingle)
		est := Similarity(NewSignature(a, p), NewSignature(b, p))
		d := est - exact
		sumSigned += d
		sumAbs += math.Abs(d)
		maxAbs = max(maxAbs, math.Abs(d))
	}
	meanAbs, bias := sumAbs/pairs, sumSigned/pairs
	t.Logf("%d pairs: mean |error| %.4f, mean error %+.4f, max |error| %.4f", pairs, meanAbs, bias, maxAbs)
	if meanAbs > 0.03 || math.Abs(bias) > 0.01 || maxAbs > 0.15 {
		t.Errorf("estimate too far from exact: mean |error| %.4f, bias %+.4f, max %.4f", meanAbs, bias, maxAbs)
	}
}

func TestIndexErrors(t *testing.T) {
	p := DefaultParams()
	x, err := NewIndex(p)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := x.Groups(0.8); err != nil || len(g) != 0 {
		t.Errorf("Groups of an empty index = %v, %v", g, err)
	}
	s := NewSignature([]int{1, 2, 3, 4, 5, 6}, p)
	if err := x.Add("a", s); err != nil {
		t.Fatal(err)
	}
	if err := x.Add("a", s); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("second Add of a key: %v", err)
	}
	q := p
	q.Hashes, q.Bands = 64, 8
	if err := x.Add("b", NewSignature([]int{1, 2, 3, 4, 5, 6}, q)); !errors.Is(err, ErrMismatch) {
		t.Errorf("Add of a 64-hash signature: %v", err)
	}
	q = p
	q.Shingle = 3
	if err := x.Add("c", NewSignature([]int{1, 2, 3, 4, 5, 6}, q)); !errors.Is(err, ErrMismatch) {
		t.Errorf("Add of a 3-shingle signature: %v", err)
	}
	if err := x.Add("empty", Signature{}); err != nil {
		t.Errorf("Add of the empty signature: %v", err)
	}
	if err := x.Add("empty2", NewSignature(nil, p)); err != nil {
		t.Errorf("Add of the empty signature: %v", err)
	}
	if err := x.Add("d", s); err != nil {
		t.Fatal(err)
	}
	if x.Len() != 2 {
		t.Errorf("Len = %d, want 2", x.Len())
	}
	for _, th := range []float64{0, -1, 1.5, math.NaN()} {
		if _, err := x.Groups(th); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("Groups(%v) = %v", th, err)
		}
	}
	g, err := x.Groups(1)
	if err != nil || len(g) != 1 || !slices.Equal(g[0], []string{"a", "d"}) {
		t.Errorf("Groups = %v, %v", g, err)
	}
}

// TestGroups checks grouping and its order on a small hand-made set.
func TestGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := DefaultParams()
	x, _ := NewIndex(p)
	add := func(key string, tokens []int) {
		if err := x.Add(key, NewSignature(tokens, p)); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := randomTokens(rng, 1000), randomTokens(rng, 1000), randomTokens(rng, 1000)
	add("z-a0", a)
	add("b1", b)
	add("unrelated", randomTokens(rng, 1000))
	add("a1", NearDuplicate(a, 3, rng))
	add("c0", c)
	add("a2", NearDuplicate(a, 3, rng))
	add("b0", NearDuplicate(b, 3, rng))
	add("c1", NearDuplicate(c, 3, rng))
	add("empty", nil)
	g, err := x.Groups(0.8)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a1", "a2", "z-a0"}, {"b0", "b1"}, {"c0", "c1"}}
	if !slices.EqualFunc(g, want, slices.Equal) {
		t.Errorf("Groups = %v, want %v", g, want)
	}
}

// TestGroupsHugeBuckets: 10,000 identical conversations and 10,000 that share a long system
// prompt (and differ in a short user message) must not cost pairwise comparisons.
func TestGroupsHugeBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := DefaultParams()
	x, _ := NewIndex(p)
	system := randomTokens(rng, 500)
	same := NewSignature(system, p)
	for i := range 10000 {
		if err := x.Add("same-"+strconv.Itoa(i), same); err != nil {
			t.Fatal(err)
		}
	}
	// Shared prompt + 10 own tokens: Jaccard about 0.96 for every pair, one group.
	prompt, other := randomTokens(rng, 400), randomTokens(rng, 300)
	for i := range 10000 {
		tokens := append(slices.Clone(prompt), randomTokens(rng, 10)...)
		if err := x.Add("prompt-"+strconv.Itoa(i), NewSignature(tokens, p)); err != nil {
			t.Fatal(err)
		}
	}
	// Shared prompt + 100 own tokens: Jaccard about 0.6 for every pair, no group; but 3/4 of
	// their shingles are the prompt's, so each band puts about 0.75^8 = 10% of them in one
	// bucket: 500 members, whose pairwise comparisons would be 125,000 per band.
	for i := range 5000 {
		tokens := append(slices.Clone(other), randomTokens(rng, 100)...)
		if err := x.Add("apart-"+strconv.Itoa(i), NewSignature(tokens, p)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	comps, st := x.groups(0.8, false)
	elapsed := time.Since(start)
	t.Logf("%d signatures: %d groups, %d comparisons, %v", x.Len(), len(comps), st.comparisons, elapsed)
	if len(comps) != 2 || len(comps[0]) != 10000 || len(comps[1]) != 10000 {
		sizes := []int{}
		for _, c := range comps {
			sizes = append(sizes, len(c))
		}
		t.Errorf("group sizes %v, want [10000 10000]", sizes)
	}
	if limit := 400_000; st.comparisons > limit { // measured 172,558; pairwise: millions
		t.Errorf("%d comparisons, more than %d", st.comparisons, limit)
	}
}

// TestTruePairs checks the prefix-filtered exact pairs against all pairs by brute force, and
// the exact shingle sets against Exact.
func TestTruePairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var docs [][]int
	for range 100 {
		base := randomTokens(rng, 5+rng.IntN(200))
		docs = append(docs, base)
		for range rng.IntN(4) {
			docs = append(docs, NearDuplicate(base, rng.IntN(12), rng))
		}
	}
	docs = append(docs, nil, []int{1}, []int{1}, []int{1, 2, 3, 4, 5, 6})
	for _, shingle := range []int{1, 3, 5} {
		sets := exactSets(docs, shingle)
		for k := range 200 {
			i, j := k, rng.IntN(len(docs))
			if k%2 == 0 {
				j = min(i+1, len(docs)-1)
			}
			if len(docs[i]) == 0 || len(docs[j]) == 0 {
				continue
			}
			if got, want := jaccard(sets[i], sets[j]), Exact(docs[i], docs[j], shingle); got != want {
				t.Fatalf("shingle %d: docs %d and %d: Jaccard of the sets %v, Exact %v", shingle, i, j, got, want)
			}
		}
		for _, th := range []float64{0.5, 0.8, 0.9, 1} {
			got := truePairs(sets, th)
			n := 0
			for i := range docs {
				for j := i + 1; j < len(docs); j++ {
					if len(docs[i]) == 0 || len(docs[j]) == 0 {
						continue
					}
					e := jaccard(sets[i], sets[j])
					if e < th {
						continue
					}
					n++
					if g, ok := got[pairOf(int32(i), int32(j))]; !ok || g != e {
						t.Errorf("shingle %d, threshold %v: pair %d,%d of Jaccard %v: got %v, %v", shingle, th, i, j, e, g, ok)
					}
				}
			}
			if n != len(got) || n == 0 {
				t.Errorf("shingle %d, threshold %v: %d true pairs, truePairs found %d", shingle, th, n, len(got))
			}
		}
	}
}

func TestNearDuplicate(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	base := randomTokens(rng, 100)
	orig := slices.Clone(base)
	for edits := range 10 {
		d := NearDuplicate(base, edits, rng)
		if diff := len(d) - len(base); diff < -edits || diff > edits {
			t.Errorf("%d edits changed the length by %d", edits, diff)
		}
		if edits == 0 && !slices.Equal(d, base) {
			t.Error("0 edits changed the tokens")
		}
		if edits == 1 && slices.Equal(d, base) {
			t.Error("1 edit changed nothing")
		}
		// One edit changes at most 5 shingles of each side.
		if j := Exact(base, d, 5); edits > 0 && j < float64(96-5*edits)/float64(96+5*edits) {
			t.Errorf("%d edits: Jaccard %v", edits, j)
		}
	}
	if !slices.Equal(base, orig) {
		t.Error("NearDuplicate modified its input")
	}
	if d := NearDuplicate(nil, 3, rng); len(d) < 1 {
		t.Error("edits of an empty sequence")
	}
}

// TestGenerated: 200 random base sequences of 300-2000 tokens, each with 3 copies of 1-5 single-
// token edits, among 400 unrelated sequences. Copies of a base are near-duplicates (most pairs
// have Jaccard >= 0.8), nothing else is.
func TestGenerated(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	var docs [][]int
	for range 200 {
		base := randomTokens(rng, 300+rng.IntN(1701))
		docs = append(docs, base)
		for range 3 {
			docs = append(docs, NearDuplicate(base, 1+rng.IntN(5), rng))
		}
	}
	for range 400 {
		docs = append(docs, randomTokens(rng, 300+rng.IntN(1701)))
	}
	r, err := Evaluate(docs, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	logReport(t, "generated", r)
	if r.Precision < 0.95 || r.Recall < 0.95 {
		t.Errorf("precision %.4f, recall %.4f", r.Precision, r.Recall)
	}
}

// TestGeneratedEdits measures recall and precision as near-duplicates approach the threshold:
// 100 random bases of 1,000 tokens, each with 2 copies of a fixed number of single-token edits,
// among 200 unrelated sequences. The test logs the mean Jaccard similarity of a copy to its base
// and of the two copies to each other (which took twice the edits); where the latter fall below
// the threshold, the base joins them in a group and group precision drops (see Index.Groups),
// while the precision of verified pairs stays high.
func TestGeneratedEdits(t *testing.T) {
	for _, tc := range []struct {
		edits                                int
		minPrecision, minRecall, minVerified float64
	}{
		{10, 0.99, 0.99, 0.99},
		{15, 0.6, 0.95, 0.95},
		{20, 0.6, 0.75, 0.95},
		{30, 0, 1, 0},
	} {
		rng := rand.New(rand.NewPCG(17, uint64(tc.edits)))
		var docs [][]int
		var baseCopy, copyCopy float64
		for range 100 {
			base := randomTokens(rng, 1000)
			c1, c2 := NearDuplicate(base, tc.edits, rng), NearDuplicate(base, tc.edits, rng)
			docs = append(docs, base, c1, c2)
			baseCopy += (Exact(base, c1, 5) + Exact(base, c2, 5)) / 200
			copyCopy += Exact(c1, c2, 5) / 100
		}
		for range 200 {
			docs = append(docs, randomTokens(rng, 1000))
		}
		r, err := Evaluate(docs, DefaultParams())
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%d edits", tc.edits)
		t.Logf("%s: mean Jaccard base-copy %.3f, copy-copy %.3f", name, baseCopy, copyCopy)
		logReport(t, name, r)
		verified := 1.0
		if r.Verified > 0 {
			verified = float64(r.VerifiedCorrect) / float64(r.Verified)
		}
		if r.Precision < tc.minPrecision || r.Recall < tc.minRecall || verified < tc.minVerified {
			t.Errorf("%s: precision %.4f, recall %.4f, precision of verified pairs %.4f", name, r.Precision, r.Recall, verified)
		}
	}
}

func logReport(t *testing.T, name string, r Report) {
	t.Helper()
	t.Logf("%s: %d docs (%d empty), shingle %d, %d hashes in %d bands, threshold %v",
		name, r.Docs, r.Empty, r.Params.Shingle, r.Params.Hashes, r.Params.Bands, r.Params.Threshold)
	t.Logf("%s: %d true pairs, %d found (same group), %d correct: precision %.4f, recall %.4f; recall of the %d pairs >= threshold+%v: %.4f",
		name, r.TruePairs, r.FoundPairs, r.Correct, r.Precision, r.Recall, r.FirmPairs, FirmMargin, r.FirmRecall)
	verified := 1.0
	if r.Verified > 0 {
		verified = float64(r.VerifiedCorrect) / float64(r.Verified)
	}
	t.Logf("%s: %d verified pairs (signatures matched), %d true: precision %.4f; lowest Jaccard found %.3f, highest missed %.3f",
		name, r.Verified, r.VerifiedCorrect, verified, r.LowestFound, r.HighestMissed)
	t.Logf("%s: %d groups of %d docs; %d comparisons (all pairs: %d)",
		name, r.Groups, r.Grouped, r.Comparisons, r.Docs*(r.Docs-1)/2)
}
