// Package tokenizer turns text into the token ids of OpenAI's tiktoken encodings and back,
// offline: the vocabularies of cl100k_base, o200k_base, p50k_base and r50k_base are embedded in
// the binary (github.com/pkoukk/tiktoken-go-loader) and nothing is ever downloaded.
//
// Encode gives exactly the ids of tiktoken's encode_ordinary (checked token by token against the
// reference implementation, the Rust core of tiktoken, by TestExactAgainstReference): the
// encoding's pattern cuts the text into pieces (cl100k_base's matched by hand, the others by
// regexp2), and a piece that is not a token is split by byte-pair merges (bpe.go). Text that
// looks like a special token, such as "<|endoftext|>", is encoded as ordinary text, so every
// valid UTF-8 string survives Decode(Encode(s)) unchanged.
//
// A Tokenizer is safe for concurrent use by multiple goroutines.
//
// docs/design.md describes the whole design.
package tokenizer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// Names of the supported encodings, as tiktoken spells them.
const (
	// CL100KBase is the encoding of gpt-4, gpt-3.5-turbo and text-embedding-3-*.
	CL100KBase = "cl100k_base"
	// O200KBase is the encoding of gpt-4o, gpt-4.1 and o-series models.
	O200KBase = "o200k_base"
	// P50KBase is the encoding of text-davinci-002/003 and the Codex models.
	P50KBase = "p50k_base"
	// R50KBase is the encoding of GPT-3 (davinci, curie, babbage, ada), the same as gpt2.
	R50KBase = "r50k_base"
)

var (
	// ErrUnknown is returned (wrapped, with the name) by Get for a name that is not one of Names.
	ErrUnknown = errors.New("tokenizer: unknown tokenizer")
	// ErrTokenRange is wrapped by a *TokenError for a token id below zero or at or past VocabSize.
	ErrTokenRange = errors.New("tokenizer: token id out of range")
	// ErrInvalidToken is wrapped by a *TokenError for a token id inside [0, VocabSize) that
	// stands for no bytes: the vocabularies have gaps (for example 100256 and 100261-100275 in
	// cl100k_base, 199998 and 200000-200017 in o200k_base).
	ErrInvalidToken = errors.New("tokenizer: token id not in vocabulary")
	// ErrInvalidUTF8 is returned (wrapped) by Decode when the tokens are valid but their bytes
	// are not valid UTF-8, as happens when a sequence ends inside a multi-byte character.
	// DecodeBytes returns such bytes as they are.
	ErrInvalidUTF8 = errors.New("tokenizer: decoded text is not valid UTF-8")
)

// TokenError reports a token id that cannot be decoded. Err is ErrTokenRange or ErrInvalidToken,
// so errors.Is(err, ErrTokenRange) works on the error returned by Validate, Decode and DecodeBytes.
type TokenError struct {
	Encoding string // name of the Tokenizer
	Index    int    // position of the offending id in the slice given
	Token    int    // the offending id
	Err      error  // ErrTokenRange or ErrInvalidToken
}

// Error describes the offending id and its position.
func (e *TokenError) Error() string {
	return fmt.Sprintf("%v: %s token %d at index %d", e.Err, e.Encoding, e.Token, e.Index)
}

// Unwrap returns Err.
func (e *TokenError) Unwrap() error { return e.Err }

// Tokenizer encodes text with one tiktoken encoding. Get returns a shared instance; it is safe
// for concurrent use by multiple goroutines and never modified after construction.
type Tokenizer struct {
	name    string
	enc     *encoder
	decoder [][]byte     // bytes of every id below VocabSize; nil for ids that are not in the vocabulary
	special map[int]bool // the ids of the special tokens
}

// Pre-tokenisation patterns, as in tiktoken (openai_public.py) and in the npm package tiktoken.
const (
	patGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	patCL100K = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patO200K  = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?` +
		`|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?` +
		`|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// encoding describes one supported encoding.
type encoding struct {
	name    string
	pattern string
	special map[string]int
}

// encodings maps each supported name to its lazily built, cached Tokenizer. It is never
// modified after package initialisation.
var encodings = func() map[string]func() (*Tokenizer, error) {
	all := []encoding{
		{CL100KBase, patCL100K, map[string]int{
			"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
			"<|fim_suffix|>": 100260, "<|endofprompt|>": 100276,
		}},
		{O200KBase, patO200K, map[string]int{"<|endoftext|>": 199999, "<|endofprompt|>": 200018}},
		{P50KBase, patGPT2, map[string]int{"<|endoftext|>": 50256}},
		{R50KBase, patGPT2, map[string]int{"<|endoftext|>": 50256}},
	}
	m := make(map[string]func() (*Tokenizer, error), len(all))
	for _, e := range all {
		m[e.name] = sync.OnceValues(func() (*Tokenizer, error) { return load(e) })
	}
	return m
}()

// Names returns the names of the supported encodings, sorted: cl100k_base, o200k_base,
// p50k_base, r50k_base. The slice is the caller's to keep.
func Names() []string {
	names := make([]string, 0, len(encodings))
	for name := range encodings {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Get returns the Tokenizer for an encoding name (one of Names). The first call for a name
// loads its vocabulary (tens to a few hundred milliseconds); later calls return the same
// instance. An unknown name yields an error wrapping ErrUnknown.
func Get(name string) (*Tokenizer, error) {
	get, ok := encodings[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (supported: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	return get()
}

// load builds a Tokenizer from the embedded vocabulary (the loader's offline copy: nothing is
// downloaded).
func load(e encoding) (*Tokenizer, error) {
	ranks, err := tiktokenloader.NewOfflineLoader().LoadTiktokenBpe(e.name + ".tiktoken")
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: loading vocabulary: %w", e.name, err)
	}
	special := make(map[string]int, len(e.special))
	specialIDs := make(map[int]bool, len(e.special))
	size := 0
	for text, id := range e.special {
		if _, dup := ranks[text]; dup {
			return nil, fmt.Errorf("tokenizer %s: special token %q is also a mergeable token", e.name, text)
		}
		special[text] = id
		specialIDs[id] = true
		size = max(size, id+1)
	}
	for _, id := range ranks {
		size = max(size, id+1)
	}
	decoder := make([][]byte, size)
	for piece, id := range ranks {
		if id < 0 || decoder[id] != nil {
			return nil, fmt.Errorf("tokenizer %s: invalid or duplicate rank %d", e.name, id)
		}
		decoder[id] = []byte(piece)
	}
	for text, id := range special {
		if id < 0 || decoder[id] != nil {
			return nil, fmt.Errorf("tokenizer %s: special token %q has invalid or duplicate id %d", e.name, text, id)
		}
		decoder[id] = []byte(text)
	}
	enc, err := newEncoder(ranks, e.pattern)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", e.name, err)
	}
	return &Tokenizer{name: e.name, enc: enc, decoder: decoder, special: specialIDs}, nil
}

// Name returns the encoding name, for example "cl100k_base".
func (t *Tokenizer) Name() string { return t.name }

// VocabSize returns one past the largest valid token id, special tokens included: 100277 for
// cl100k_base (<|endofprompt|> is 100276), 200019 for o200k_base (<|endofprompt|> is 200018),
// 50281 for p50k_base and 50257 for r50k_base (<|endoftext|> is 50256). This is tiktoken's
// n_vocab. Not every id below it is valid: see ErrInvalidToken.
func (t *Tokenizer) VocabSize() int { return len(t.decoder) }

// IsSpecial reports whether id is one of the encoding's special tokens, such as <|endoftext|>
// (100257 in cl100k_base). Decode turns a special id into its text, and Encode never gives one
// back for that text, so a special id does not survive a round trip through text.
func (t *Tokenizer) IsSpecial(id int) bool { return t.special[id] }

// Encode returns the token ids of text, exactly as tiktoken's encode_ordinary: special-token text
// such as "<|endoftext|>" is encoded as ordinary text, never as the special token. The result
// of an empty text is empty. Invalid UTF-8 in text is encoded as if each invalid byte were
// U+FFFD (tiktoken itself accepts only valid Unicode text), so the round trip
// Decode(Encode(s)) == s holds exactly for valid UTF-8 s.
//
// Encode is safe for concurrent use.
func (t *Tokenizer) Encode(text string) []int {
	if text == "" {
		return []int{}
	}
	return t.enc.encode(text)
}

// Validate checks that every id in tokens can be decoded: it returns a *TokenError naming the
// first offending index and id, wrapping ErrTokenRange (id < 0 or id >= VocabSize) or
// ErrInvalidToken (an id in a gap of the vocabulary). Special-token ids (such as
// <|endoftext|>) are valid; they decode to their text.
func (t *Tokenizer) Validate(tokens []int) error {
	for i, id := range tokens {
		if err := t.check(i, id); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tokenizer) check(i, id int) error {
	if id < 0 || id >= len(t.decoder) {
		return &TokenError{Encoding: t.name, Index: i, Token: id, Err: ErrTokenRange}
	}
	if t.decoder[id] == nil {
		return &TokenError{Encoding: t.name, Index: i, Token: id, Err: ErrInvalidToken}
	}
	return nil
}

// size validates tokens and returns the length of their bytes.
func (t *Tokenizer) size(tokens []int) (int, error) {
	n := 0
	for i, id := range tokens {
		if err := t.check(i, id); err != nil {
			return 0, err
		}
		n += len(t.decoder[id])
	}
	return n, nil
}

// DecodeBytes returns the concatenated bytes of tokens. A token is a byte sequence, not
// necessarily whole characters, so the result of arbitrary tokens (for example a prefix of an
// encoding that ends inside a multi-byte character) need not be valid UTF-8; DecodeBytes
// returns those raw bytes unchanged and never fails because of them. Special-token ids decode to
// their text. An id that is not in the vocabulary yields a *TokenError (see Validate) and no
// bytes.
func (t *Tokenizer) DecodeBytes(tokens []int) ([]byte, error) {
	n, err := t.size(tokens)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, n)
	for _, id := range tokens {
		out = append(out, t.decoder[id]...)
	}
	return out, nil
}

// Decode returns the text of tokens; Decode(Encode(s)) == s for every valid UTF-8 string s.
// An id that is not in the vocabulary yields a *TokenError (see Validate). Valid ids whose bytes
// are not valid UTF-8 together (a sequence cut inside a character) yield an error wrapping
// ErrInvalidUTF8 rather than a lossy text: use DecodeBytes for the raw bytes, and
// strings.ToValidUTF8 on them for tiktoken's decode(errors="replace") behaviour.
func (t *Tokenizer) Decode(tokens []int) (string, error) {
	n, err := t.size(tokens)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(n)
	for _, id := range tokens {
		b.Write(t.decoder[id])
	}
	s := b.String()
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: %s, %d tokens", ErrInvalidUTF8, t.name, len(tokens))
	}
	return s, nil
}
