package search

import (
	"github.com/stowken/stowken/internal/words"
	"github.com/stowken/stowken/tokenizer"
)

// term is a search term: the 32-bit FNV-1a hash of a lowercase word. Two different words share
// a term with probability about 2^-32 per pair; with a vocabulary of a million words, one
// query word in four thousand may also match an unrelated word, which costs a little precision
// and never a match.
type term uint32

// decode returns the bytes of ids; ids that are not in the vocabulary are left out (they stand
// for no text).
func decode(tok *tokenizer.Tokenizer, ids []int) []byte {
	if b, err := tok.DecodeBytes(ids); err == nil {
		return b
	}
	valid := make([]int, 0, len(ids))
	for _, id := range ids {
		if tok.Validate([]int{id}) == nil {
			valid = append(valid, id)
		}
	}
	b, _ := tok.DecodeBytes(valid)
	return b
}

// appendTerms appends the terms of the words of text (package internal/words) to dst, in order,
// repeats included.
func appendTerms(dst []term, text []byte) []term {
	const (
		offset uint32 = 2166136261
		prime  uint32 = 16777619
	)
	words.Each(text, func(w []byte) {
		h := offset
		for _, b := range w {
			h = (h ^ uint32(b)) * prime
		}
		dst = append(dst, term(h))
	})
	return dst
}
