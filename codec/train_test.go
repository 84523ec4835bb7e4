package codec

import (
	"bytes"
	"testing"
)

// TestTrain: a sample trains the same model from the same data, ranks tokens by frequency (ties
// by id; 3,052 distinct tokens, fewer than rankedTokens), keeps its dictionaries within their
// budgets, and the model encodes and decodes.
func TestTrain(t *testing.T) {
	train := func() *Model {
		s := NewSample("cl100k_base")
		for i := range 3000 {
			run := []int{7, 7, 7, 3, 3, 1000 + i%50, 200000 + i}
			s.Add([][]int{run}, []byte(`{"messages":[{"role":"user","chunks":[1,2,3]}],"id":"conv-`+string(rune('a'+i%26))+`"}`))
		}
		if s.Seen() == 0 {
			t.Fatal("Seen() = 0 after adding runs")
		}
		return s.Train("cl100k_base", 2)
	}
	a, b := train(), train()
	ea, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := b.Encode()
	if !bytes.Equal(ea, eb) {
		t.Fatal("two samples of the same data trained different models")
	}
	if a.Generation != 2 || a.Tokenizer != "cl100k_base" || len(a.Ranks) != 3052 || a.Ranks[0] != 7 || a.Ranks[1] != 3 {
		t.Errorf("model: generation %d, tokenizer %q, %d ranks starting %v", a.Generation, a.Tokenizer, len(a.Ranks), a.Ranks[:2])
	}
	if len(a.TokenDict) == 0 || len(a.TokenDict) > tokenDictBytes || len(a.ManifestDict) == 0 || len(a.ManifestDict) > manifestDictBytes {
		t.Errorf("dictionaries of %d and %d bytes, want 1 to %d each", len(a.TokenDict), len(a.ManifestDict), tokenDictBytes)
	}
	m, err := DecodeModel(ModelID(ea), ea)
	if err != nil || m.Generation != 2 || len(m.Ranks) != len(a.Ranks) {
		t.Fatalf("DecodeModel: %+v, %v", m, err)
	}
}
