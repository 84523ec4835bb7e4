// Package words splits text into the words that package embed embeds and package search
// indexes, so that both see the same words: runs of letters, digits and combining marks,
// lowercased, with each Han, Hiragana or Katakana character a word of its own (those scripts
// put no spaces between words). Everything else separates words: spaces, punctuation,
// underscores, symbols, invalid UTF-8.
package words

import (
	"unicode"
	"unicode/utf8"
)

// Each calls fn with each word of text, in order, repeats included. The word's bytes are only
// valid during the call.
func Each(text []byte, fn func(word []byte)) {
	var word []byte
	flush := func() {
		if len(word) > 0 {
			fn(word)
			word = word[:0]
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
				word = append(word, c)
			case 'A' <= c && c <= 'Z':
				word = append(word, c+'a'-'A')
			default:
				flush()
			}
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			flush()
		case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r):
			flush()
			word = utf8.AppendRune(word, r)
			flush()
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			word = utf8.AppendRune(word, unicode.ToLower(r))
		default:
			flush()
		}
	}
	flush()
}
