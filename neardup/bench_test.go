package neardup

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkSignature measures NewSignature with DefaultParams on 1,000 random tokens (about a
// short conversation); the tokens/s metric is the throughput.
func BenchmarkSignature(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	tokens := randomTokens(rng, 1000)
	p := DefaultParams()
	b.ReportAllocs()
	for b.Loop() {
		NewSignature(tokens, p)
	}
	b.ReportMetric(float64(len(tokens))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkGroups measures Index.Groups over 100,000 random signatures (no near-duplicates:
// the banding and bucketing cost alone, plus 1,000 groups of near-duplicates).
func BenchmarkGroups(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(2, 2))
	p := DefaultParams()
	x, err := NewIndex(p)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		s := Signature{shingle: p.Shingle, mins: make([]uint32, p.Hashes)}
		for j := range s.mins {
			s.mins[j] = rng.Uint32()
		}
		if i%100 == 1 { // a near-duplicate of the previous one: 4 of 128 values differ
			prev := x.mins[(i-1)*p.Hashes : i*p.Hashes]
			copy(s.mins, prev)
			for range 4 {
				s.mins[rng.IntN(p.Hashes)] = rng.Uint32()
			}
		}
		if err := x.Add(strconv.Itoa(i), s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	var groups int
	for b.Loop() {
		g, err := x.Groups(p.Threshold)
		if err != nil {
			b.Fatal(err)
		}
		groups = len(g)
	}
	if groups != n/100 {
		b.Fatalf("%d groups, want %d", groups, n/100)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "signatures/s")
}
