// Package sketch computes the two summaries of a conversation's content that a store keeping
// sketches (vault.Options.Sketches) writes into the conversation's catalog row, so that
// near-duplicate detection and clustering read the catalog instead of every conversation:
//
//   - the MinHash signature (package neardup, DefaultParams: shingles of 5 tokens, 128 hashes)
//     of the tokens of every message but the system messages: 516 bytes;
//   - the int8 vector (embed.Quantize) of the built-in embedder (Embedder: embed.Hashed with
//     256 dimensions and the idf proxy) of the text of every message: 260 bytes.
//
// Package analyze computes the same summaries, with the same functions, for the conversations
// whose rows have none (rows written before, or by a writer without sketches), so an analysis
// gives the same answer whichever way it got them.
package sketch

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stowken/stowken/embed"
	"github.com/stowken/stowken/neardup"
	"github.com/stowken/stowken/tokenizer"
)

// SkipRoles are the roles whose messages the stored signature leaves out: a long system prompt
// shared by every request of an application makes them all alike.
var SkipRoles = []string{"system"}

// Embedder is the name (embed.Embedder.Name) of the embedder of the stored vectors.
var Embedder = hashed.Name()

var hashed = func() *embed.Hashed {
	h, err := embed.NewHashed(embed.HashedOptions{})
	if err != nil {
		panic(err) // the defaults are valid
	}
	return h
}()

// Params are the neardup parameters of the stored signatures.
func Params() neardup.Params { return neardup.DefaultParams() }

// Signature returns the MinHash signature of the tokens of the messages whose role is not in
// skip, with p's shingle length and number of hashes.
func Signature(roles []string, tokens [][]int, p neardup.Params, skip []string) neardup.Signature {
	var all []int
	for i, m := range tokens {
		if !slices.Contains(skip, roles[i]) {
			all = append(all, m...)
		}
	}
	return neardup.NewSignature(all, p)
}

// Text returns the text of the messages whose role is in keep (every message when keep is
// empty), decoded with the tokenizer named tok and joined by blank lines.
func Text(tok string, roles []string, tokens [][]int, keep []string) (string, error) {
	t, err := tokenizer.Get(tok)
	if err != nil {
		return "", err
	}
	var parts []string
	for i, ids := range tokens {
		if len(keep) > 0 && !slices.Contains(keep, roles[i]) {
			continue
		}
		text, err := t.Decode(ids)
		if err != nil {
			return "", err
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, "\n\n"), nil
}

// Vector returns the built-in embedder's vector of text, as stored: quantized to int8, then
// expanded back, so that a vector computed now and one read from the catalog are equal.
func Vector(text string) []float32 {
	return embed.Quantize(hashed.EmbedText(text)).Vector()
}

// Compute returns the stored forms of a conversation's signature and vector, from its
// messages' roles and token ids in the tokenizer named tok.
func Compute(tok string, roles []string, tokens [][]int) (signature, vector []byte, err error) {
	if len(roles) != len(tokens) {
		return nil, nil, fmt.Errorf("sketch: %d roles for %d messages", len(roles), len(tokens))
	}
	signature = Signature(roles, tokens, Params(), SkipRoles).AppendBinary(nil)
	text, err := Text(tok, roles, tokens, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("sketch: %w", err)
	}
	vector, err = embed.Quantize(hashed.EmbedText(text)).AppendBinary(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("sketch: %w", err)
	}
	return signature, vector, nil
}

// ErrCorrupt: stored bytes are not a sketch this package writes.
var ErrCorrupt = errors.New("sketch: corrupt")

// ParseSignature reads a stored signature.
func ParseSignature(b []byte) (neardup.Signature, error) {
	s, err := neardup.ParseSignature(b)
	if err != nil {
		return s, fmt.Errorf("%w: signature: %w", ErrCorrupt, err)
	}
	return s, nil
}

// ParseVector reads a stored vector: the built-in embedder's, of embed.DefaultDimensions.
func ParseVector(b []byte) ([]float32, error) {
	q, err := embed.ParseQuantized(b)
	if err != nil {
		return nil, fmt.Errorf("%w: vector: %w", ErrCorrupt, err)
	}
	if len(q.Values) != hashed.Dimensions() {
		return nil, fmt.Errorf("%w: vector of %d dimensions, want %d", ErrCorrupt, len(q.Values), hashed.Dimensions())
	}
	return q.Vector(), nil
}
