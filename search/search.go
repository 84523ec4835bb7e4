// Package search ranks conversations for a query by BM25: an Index of conversations given as
// token ids (Add), its compact binary form (AppendBinary, ParseIndex) kept beside each batch,
// and a search over one index or over many as if they were one (Search, SearchIndexes).
//
// Terms are words, not token ids. Add and Search decode the token ids (exact and cheap: a table
// lookup per token) and split the text into lowercase words (runs of letters, digits and
// combining marks; each Han, Hiragana or Katakana character a word of its own), each hashed to
// 32 bits (with a million distinct words, one query word in about four thousand also matches
// an unrelated word). tiktoken gives one word different ids at the start of a message
// ("Paris"), after a space (" paris") and in capitals, and a rarer word splits into different
// pieces in each case: measured on the 6,362 distinct lowercase words of the sample corpus
// (TestTokenVariants), the tokens of 45% of them at the start of a message are not those after
// a space even when each token is lowercased and its leading space trimmed (51% when
// capitalized). Words match in every position, and the same words come out of every
// tokenizer, so indexes of conversations of different tokenizers search together and a query
// can be tokenized with any of them.
//
// Scoring is Okapi BM25 with K1 = 1.2 and B = 0.75 (Params): for each distinct query term t of
// a document d, IDF(t) · tf·(K1+1) / (tf + K1·(1 − B + B·|d|/avgdl)), with IDF(t) =
// ln(1 + (N − n(t) + 0.5)/(n(t) + 0.5)) over the N documents of which n(t) contain t. A
// document is a conversation, its length |d| the number of its tokens. The best message of a
// hit is the one with the highest score of the query against that message alone: the same
// formula with the message's tf and length, against the average message length, and the same
// IDF. Repeated query words count once. Hits are ordered by score, then by key.
//
// SearchIndexes sums N, n(t) and the lengths over all indexes before it scores anything, so
// that searching the per-batch indexes of a store ranks exactly as one index of all its
// conversations would (TestMergedEqualsSingle checks it bit for bit).
//
// Measured on ../shared/corpus/sample.jsonl (300 conversations, 1,512 messages, 141,432 cl100k
// tokens; TestCorpusSearch, go test ./search -v -bench .): a 6-word phrase from the middle of a
// message, found in no other message, ranks its conversation first with that message for
// 20 of 20 phrases (first for 136, with the message for 134, of all the 138 phrases the test
// finds). The binary form takes 599 bytes per conversation, 1.27 per token (382 and 0.81 after
// gzip). On one core of the development machine, Add indexes 22 MB of text (5.8 million
// tokens) per second, ParseIndex reads 41 MB per second, and a query of 6 words takes 0.17 ms
// over the 300 conversations. A query reads every posting of its terms: its time grows with
// the number of messages that contain one of them, and its memory with the number of
// documents.
package search

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/stowken/stowken/tokenizer"
)

var (
	// ErrInvalid is wrapped by the errors of NewIndex, ParseIndex and SearchIndexes for
	// parameters they cannot use: an unknown tokenizer, K1 or B out of range.
	ErrInvalid = errors.New("search: invalid parameters")
	// ErrCorrupt is wrapped by the errors of ParseIndex for bytes that AppendBinary does not
	// write.
	ErrCorrupt = errors.New("search: corrupt index")
)

// Params are the parameters of BM25 and the tokenizer of the token ids given to Add and Search.
type Params struct {
	// K1 saturates term frequency: 0 ignores it, larger values let repeats count longer.
	// At least 0.
	K1 float64
	// B is the weight of document length normalization, from 0 (none) to 1 (full).
	B float64
	// Tokenizer names the tiktoken encoding of the token ids (see package tokenizer).
	Tokenizer string
}

// DefaultParams returns K1 = 1.2, B = 0.75 and cl100k_base.
func DefaultParams() Params {
	return Params{K1: 1.2, B: 0.75, Tokenizer: tokenizer.CL100KBase}
}

func (p Params) check() (*tokenizer.Tokenizer, error) {
	if !(p.K1 >= 0 && p.K1 <= 1e6) || !(p.B >= 0 && p.B <= 1) {
		return nil, fmt.Errorf("%w: K1 %v, B %v (want K1 >= 0, 0 <= B <= 1)", ErrInvalid, p.K1, p.B)
	}
	tok, err := tokenizer.Get(p.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return tok, nil
}

// Hit is a document that matches a query.
type Hit struct {
	// Key is the key the document was added with.
	Key string
	// Score is its BM25 score, greater than zero.
	Score float64
	// Message is the index of its best-matching message (see the package documentation).
	Message int
}

// Index is a BM25 index of documents, each a list of messages of token ids. Add must not be
// called concurrently with anything else; Search, SearchIndexes and AppendBinary may run
// concurrently with each other.
type Index struct {
	p       Params
	tok     *tokenizer.Tokenizer
	keys    []string
	msgOff  []int    // the messages of document d are msgLen[msgOff[d]:msgOff[d+1]]
	msgLen  []uint32 // tokens of each message
	tokens  uint64   // tokens of all documents
	terms   map[term]*postings
	scratch map[term]uint32
	buf     []term
}

// postings lists the messages that contain a term, by document then message.
type postings struct {
	docs int // documents that contain the term
	list []posting
}

type posting struct {
	doc, msg, tf uint32
}

// NewIndex returns an empty index. Its errors wrap ErrInvalid.
func NewIndex(p Params) (*Index, error) {
	tok, err := p.check()
	if err != nil {
		return nil, err
	}
	return &Index{p: p, tok: tok, msgOff: []int{0}, terms: make(map[term]*postings)}, nil
}

// Len returns the number of documents of the index.
func (ix *Index) Len() int { return len(ix.keys) }

// Add adds a document: its key (a conversation id) and its messages, token ids of the index's
// tokenizer (ids outside the vocabulary are skipped). The key is not checked for uniqueness:
// a key added twice, here or in another index searched along, is two documents, of which a
// search returns the better.
func (ix *Index) Add(key string, messages [][]int) {
	doc := uint32(len(ix.keys))
	ix.keys = append(ix.keys, key)
	if ix.scratch == nil {
		ix.scratch = make(map[term]uint32)
	}
	for m, ids := range messages {
		ix.msgLen = append(ix.msgLen, uint32(min(len(ids), math.MaxUint32)))
		ix.tokens += uint64(len(ids))
		ix.buf = appendTerms(ix.buf[:0], decode(ix.tok, ids))
		clear(ix.scratch)
		for _, t := range ix.buf {
			ix.scratch[t]++
		}
		for _, t := range ix.buf {
			tf, ok := ix.scratch[t]
			if !ok {
				continue // already posted
			}
			delete(ix.scratch, t)
			ps := ix.terms[t]
			if ps == nil {
				ps = &postings{}
				ix.terms[t] = ps
			}
			if n := len(ps.list); n == 0 || ps.list[n-1].doc != doc {
				ps.docs++
			}
			ps.list = append(ps.list, posting{doc: doc, msg: uint32(m), tf: tf})
		}
	}
	ix.msgOff = append(ix.msgOff, len(ix.msgLen))
}

// Search returns the documents of the index that contain a word of query (token ids of the
// index's tokenizer), best first, at most limit of them (all of them for limit < 1).
func (ix *Index) Search(query []int, limit int) []Hit {
	return search(ix.p, ix.tok, []*Index{ix}, query, limit)
}

// SearchIndexes searches several indexes (the per-batch indexes of a store) as one: the hits
// and scores are those of a single index holding all their documents. The query is decoded
// with p.Tokenizer, and scored with p.K1 and p.B; the indexes' own Params are not used. Nil
// indexes are skipped. Its errors wrap ErrInvalid.
func SearchIndexes(p Params, indexes []*Index, query []int, limit int) ([]Hit, error) {
	tok, err := p.check()
	if err != nil {
		return nil, err
	}
	var ixs []*Index
	for _, ix := range indexes {
		if ix != nil {
			ixs = append(ixs, ix)
		}
	}
	return search(p, tok, ixs, query, limit), nil
}

// match is one posting of a query term in a document: query term qi, message, frequency.
type match struct {
	qi, msg, tf uint32
}

func search(p Params, tok *tokenizer.Tokenizer, indexes []*Index, query []int, limit int) []Hit {
	qterms := appendTerms(nil, decode(tok, query))
	slices.Sort(qterms)
	qterms = slices.Compact(qterms)
	var docs, msgs int
	var tokens uint64
	for _, ix := range indexes {
		docs += len(ix.keys)
		msgs += len(ix.msgLen)
		tokens += ix.tokens
	}
	if len(qterms) == 0 || docs == 0 {
		return nil
	}
	avgDoc := float64(tokens) / float64(docs)
	avgMsg := float64(tokens) / float64(max(msgs, 1))
	idf := make([]float64, len(qterms))
	for qi, t := range qterms {
		n := 0
		for _, ix := range indexes {
			if ps := ix.terms[t]; ps != nil {
				n += ps.docs
			}
		}
		idf[qi] = math.Log(1 + (float64(docs)-float64(n)+0.5)/(float64(n)+0.5))
	}
	bm25 := func(tf uint32, length uint64, avg float64) float64 {
		norm := 1.0
		if avg > 0 {
			norm = 1 - p.B + p.B*float64(length)/avg
		}
		f := float64(tf)
		return f * (p.K1 + 1) / (f + p.K1*norm)
	}
	best := make(map[string]Hit)
	tf := make([]uint32, len(qterms))
	for _, ix := range indexes {
		matches := make(map[uint32][]match)
		for qi, t := range qterms {
			ps := ix.terms[t]
			if ps == nil {
				continue
			}
			for _, pst := range ps.list {
				matches[pst.doc] = append(matches[pst.doc], match{uint32(qi), pst.msg, pst.tf})
			}
		}
		for doc, ms := range matches {
			// ms is by query term, then message: sum the document's frequencies.
			clear(tf)
			for _, m := range ms {
				tf[m.qi] += m.tf
			}
			length := uint64(0)
			lens := ix.msgLen[ix.msgOff[doc]:ix.msgOff[doc+1]]
			for _, l := range lens {
				length += uint64(l)
			}
			score := 0.0
			for qi, f := range tf {
				if f > 0 {
					score += idf[qi] * bm25(f, length, avgDoc)
				}
			}
			// The best message: by message, then query term.
			slices.SortFunc(ms, func(a, b match) int { return cmp.Or(cmp.Compare(a.msg, b.msg), cmp.Compare(a.qi, b.qi)) })
			bestMsg, bestScore := -1, 0.0
			for i := 0; i < len(ms); {
				msg, s := ms[i].msg, 0.0
				for ; i < len(ms) && ms[i].msg == msg; i++ {
					s += idf[ms[i].qi] * bm25(ms[i].tf, uint64(lens[msg]), avgMsg)
				}
				if bestMsg < 0 || s > bestScore {
					bestMsg, bestScore = int(msg), s
				}
			}
			h := Hit{Key: ix.keys[doc], Score: score, Message: bestMsg}
			if old, ok := best[h.Key]; !ok || better(h, old) {
				best[h.Key] = h
			}
		}
	}
	if len(best) == 0 {
		return nil
	}
	hits := make([]Hit, 0, len(best))
	for _, h := range best {
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Key, b.Key))
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit:limit]
	}
	return hits
}

// better orders two hits of one key: the higher score, then the lower message.
func better(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Message < b.Message
}
