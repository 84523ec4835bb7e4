package tokenizer

import (
	"container/heap"
	"hash/maphash"
	"math"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// encoder is tiktoken's encode_ordinary: the text is cut into pieces by the encoding's
// pre-tokenisation pattern; a piece that is a token is that token, any other is split by
// byte-pair merges, lowest rank first (bytePairEncode). Natural text repeats its rarer words,
// and merging is most of the time encoding takes, so the tokens of merged pieces are cached.
type encoder struct {
	ranks   map[string]int
	pattern *regexp2.Regexp
	// split, when set, matches the pattern by hand: it returns the end of the piece at i.
	split func(runes []rune, i int) int
	cache [cacheShards]cacheShard
	seed  maphash.Seed
}

// The cache of merged pieces: cacheShards shards of up to cacheShardSize pieces each (about
// 8 MB in all), each emptied when full, so that it holds the pieces of the recent text.
const (
	cacheShards    = 16
	cacheShardSize = 4096
	// cachedPiece is the longest piece cached: longer ones (runs of symbols, long numbers in
	// words) rarely recur.
	cachedPiece = 64
)

type cacheShard struct {
	mu     sync.Mutex
	pieces map[string][]int
}

func newEncoder(ranks map[string]int, pattern string) (*encoder, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, err
	}
	e := &encoder{ranks: ranks, pattern: re, seed: maphash.MakeSeed()}
	if pattern == patCL100K {
		e.split = splitCL100K
	}
	return e, nil
}

// encode returns the tokens of text.
func (e *encoder) encode(text string) []int {
	runes := []rune(text)
	out := make([]int, 0, len(text)/4+1)
	if e.split != nil {
		for i := 0; i < len(runes); {
			j := e.split(runes, i)
			out = e.appendPiece(out, string(runes[i:j]))
			i = j
		}
		return out
	}
	m, _ := e.pattern.FindRunesMatch(runes)
	for m != nil {
		out = e.appendPiece(out, string(runes[m.Index:m.Index+m.Length]))
		m, _ = e.pattern.FindNextMatch(m)
	}
	return out
}

// appendPiece appends the tokens of one piece of the pattern.
func (e *encoder) appendPiece(out []int, piece string) []int {
	if id, ok := e.ranks[piece]; ok {
		return append(out, id)
	}
	return e.appendMerged(out, piece)
}

// appendMerged appends the tokens of a piece that is not a token, from the cache when it holds
// them.
func (e *encoder) appendMerged(out []int, piece string) []int {
	if len(piece) > cachedPiece {
		return append(out, bytePairEncode(piece, e.ranks)...)
	}
	s := &e.cache[maphash.String(e.seed, piece)%cacheShards]
	s.mu.Lock()
	tokens, ok := s.pieces[piece]
	s.mu.Unlock()
	if ok {
		return append(out, tokens...)
	}
	tokens = bytePairEncode(piece, e.ranks)
	s.mu.Lock()
	if s.pieces == nil || len(s.pieces) >= cacheShardSize {
		s.pieces = make(map[string][]int, cacheShardSize)
	}
	s.pieces[piece] = tokens
	s.mu.Unlock()
	return append(out, tokens...)
}

// longPiece is the length from which bytePairEncode finds the next merge with a heap rather
// than by scanning every pair: a scan makes merging quadratic in the piece's length, and long
// pieces (words of scripts with few tokens of their own, runs of symbols) take most of the
// time otherwise.
const longPiece = 48

// bytePairEncode splits piece into tokens as tiktoken's byte_pair_merge does: starting from
// single bytes, it merges the adjacent pair whose bytes have the lowest rank, the leftmost
// among equals, until no adjacent pair is a token.
func bytePairEncode(piece string, ranks map[string]int) []int {
	if len(piece) == 1 {
		return []int{ranks[piece]}
	}
	if len(piece) >= longPiece {
		return bytePairEncodeLong(piece, ranks)
	}
	return bytePairEncodeScan(piece, ranks)
}

// bytePairEncodeScan is bytePairEncode finding each merge by scanning every pair.
func bytePairEncodeScan(piece string, ranks map[string]int) []int {
	// parts[i] is the start of a part and the rank of the part it would make with the next.
	type part struct{ start, rank int }
	parts := make([]part, len(piece)+1)
	for i := range parts {
		parts[i] = part{i, math.MaxInt}
	}
	rank := func(i int) int { // the rank of parts i and i+1 merged, MaxInt if none
		if i+2 < len(parts) {
			if r, ok := ranks[piece[parts[i].start:parts[i+2].start]]; ok {
				return r
			}
		}
		return math.MaxInt
	}
	for i := 0; i < len(parts)-2; i++ {
		parts[i].rank = rank(i)
	}
	for len(parts) > 1 {
		best, at := math.MaxInt, -1
		for i := 0; i < len(parts)-1; i++ {
			if parts[i].rank < best {
				best, at = parts[i].rank, i
			}
		}
		if at < 0 {
			break
		}
		parts = append(parts[:at+1], parts[at+2:]...)
		parts[at].rank = rank(at)
		if at > 0 {
			parts[at-1].rank = rank(at - 1)
		}
	}
	tokens := make([]int, len(parts)-1)
	for i := range tokens {
		tokens[i] = ranks[piece[parts[i].start:parts[i+1].start]]
	}
	return tokens
}

// bytePairEncodeLong is bytePairEncode with the pairs in a heap ordered by rank, then by
// position, as the scan orders them: the same merges in the same order, in O(n log n).
func bytePairEncodeLong(piece string, ranks map[string]int) []int {
	n := len(piece)
	// Parts are kept as a linked list over their start positions: next[i] is the start of the
	// part after the one starting at i (n at the end), prev[i] the one before (-1 at the
	// start); a merged-away start has next[i] == -1.
	next, prev := make([]int, n), make([]int, n)
	for i := range n {
		next[i], prev[i] = i+1, i-1
	}
	end := func(i int) int { // the end of the part after the one at i
		if j := next[i]; j < n {
			return next[j]
		}
		return -1
	}
	h := &pairHeap{}
	push := func(i int) {
		if e := end(i); e > 0 {
			if r, ok := ranks[piece[i:e]]; ok {
				heap.Push(h, pair{rank: r, start: i, end: e})
			}
		}
	}
	for i := 0; i < n-1; i++ {
		push(i)
	}
	for h.Len() > 0 {
		p := heap.Pop(h).(pair)
		if next[p.start] < 0 || end(p.start) != p.end {
			continue // stale: a part of it has merged since
		}
		j := next[p.start]
		next[p.start] = next[j]
		if next[j] < n {
			prev[next[j]] = p.start
		}
		next[j] = -1
		push(p.start)
		if prev[p.start] >= 0 {
			push(prev[p.start])
		}
	}
	var tokens []int
	for i := 0; i < n; i = next[i] {
		tokens = append(tokens, ranks[piece[i:next[i]]])
	}
	return tokens
}

// pair is two adjacent parts of a piece that merge into the token of rank rank: the bytes
// [start, end).
type pair struct{ rank, start, end int }

// pairHeap is a min-heap of pairs by rank, then by start.
type pairHeap []pair

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	return h[i].rank < h[j].rank || h[i].rank == h[j].rank && h[i].start < h[j].start
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pair)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// splitCL100K returns the end of the piece of cl100k_base's pattern that starts at runes[i]: the
// pattern of patCL100K, matched by hand (the same alternatives, in the same order, with the
// same greedy and backtracking semantics) because regexp2 takes most of the time encoding
// takes otherwise. TestExactAgainstReference checks it against tiktoken.
func splitCL100K(runes []rune, i int) int {
	n := len(runes)
	c := runes[i]
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if c == '\'' && i+1 < n {
		a := lowerASCII(runes[i+1])
		switch {
		case a == 's' || a == 't' || a == 'm' || a == 'd':
			return i + 2
		case i+2 < n:
			b := lowerASCII(runes[i+2])
			if a == 'r' && b == 'e' || a == 'v' && b == 'e' || a == 'l' && b == 'l' {
				return i + 3
			}
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if j := i; !isLetter(c) && !isNumber(c) && c != '\r' && c != '\n' && j+1 < n && isLetter(runes[j+1]) || isLetter(c) {
		if !isLetter(c) {
			j++
		}
		for j < n && isLetter(runes[j]) {
			j++
		}
		return j
	}
	// \p{N}{1,3}
	if isNumber(c) {
		j := i + 1
		for j < n && j < i+3 && isNumber(runes[j]) {
			j++
		}
		return j
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	if j := i; c == ' ' && j+1 < n && isSymbol(runes[j+1]) || isSymbol(c) {
		if c == ' ' {
			j++
		}
		for j < n && isSymbol(runes[j]) {
			j++
		}
		for j < n && (runes[j] == '\r' || runes[j] == '\n') {
			j++
		}
		return j
	}
	// c is white space: \s*[\r\n]+, then \s+(?!\S), then \s+.
	end := i
	for end < n && unicode.IsSpace(runes[end]) {
		end++
	}
	for k := end - 1; k >= i; k-- {
		if runes[k] == '\r' || runes[k] == '\n' {
			return k + 1
		}
	}
	if end < n && end-1 > i {
		return end - 1 // leaves the last space to the piece that follows
	}
	return end
}

func lowerASCII(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r)
}

func isNumber(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsNumber(r)
}

// isSymbol reports whether r is neither white space nor a letter nor a number.
func isSymbol(r rune) bool { return !unicode.IsSpace(r) && !isLetter(r) && !isNumber(r) }
