package sketch

import (
	"errors"
	"slices"
	"testing"

	"github.com/stowken/stowken/neardup"
	"github.com/stowken/stowken/tokenizer"
)

// TestCompute: the stored forms parse back to what an analysis computes from the same
// conversation (Signature without the system messages, Vector of every message's text), and
// have the sizes the catalog counts on.
func TestCompute(t *testing.T) {
	tok, err := tokenizer.Get(tokenizer.CL100KBase)
	if err != nil {
		t.Fatal(err)
	}
	roles := []string{"system", "user", "assistant"}
	texts := []string{"You are terse.", "How do I roll back a schema migration?", "Run the down migration, then check the replica."}
	var tokens [][]int
	for _, s := range texts {
		tokens = append(tokens, tok.Encode(s))
	}
	sig, vec, err := Compute(tokenizer.CL100KBase, roles, tokens)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 516 || len(vec) != 260 {
		t.Fatalf("signature %d bytes, vector %d; want 516 and 260", len(sig), len(vec))
	}
	s, err := ParseSignature(sig)
	if err != nil || !s.Equal(Signature(roles, tokens, Params(), SkipRoles)) {
		t.Errorf("stored signature %v is not the computed one", err)
	}
	if withSystem := Signature(roles, tokens, Params(), nil); neardup.Similarity(s, withSystem) == 1 {
		t.Error("the system message changes nothing: it is not left out")
	}
	text, err := Text(tokenizer.CL100KBase, roles, tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVector(vec)
	if err != nil || !slices.Equal(v, Vector(text)) {
		t.Errorf("stored vector (%v) is not Vector of the text", err)
	}
	if _, err := ParseVector(vec[:100]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a vector of 96 dimensions: %v, want ErrCorrupt", err)
	}
	if _, err := ParseSignature(sig[:40]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a cut signature: %v, want ErrCorrupt", err)
	}
	if _, _, err := Compute(tokenizer.CL100KBase, roles[:2], tokens); err == nil {
		t.Error("2 roles for 3 messages: no error")
	}
}
