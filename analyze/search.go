package analyze

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/stowken/stowken/embed"
	"github.com/stowken/stowken/search"
	"github.com/stowken/stowken/tokenizer"
)

// Hit is a conversation that matches a query, with its best-matching message.
type Hit struct {
	ID      string  `json:"id"`
	Score   float64 `json:"score"`
	Message int     `json:"message"`
	Role    string  `json:"role"`
	// Snippet is the start of the matching message's text.
	Snippet string `json:"snippet"`
}

// snippetRunes is how much of the matching message a hit shows.
const snippetRunes = 160

// Keep decides whether a ranked document is a hit; a nil Keep keeps every one. The commands
// keep those still stored (vault.Stored): documents read from batch objects (ReadEntries) may
// have been deleted since the catalog was listed.
type Keep func(Doc) (bool, error)

// keepBest returns the first limit ranked documents keep keeps (all when limit < 1), in order.
func keepBest[T any](ranked []T, doc func(T) Doc, keep Keep, limit int) ([]T, error) {
	var out []T
	for _, r := range ranked {
		if limit > 0 && len(out) == limit {
			break
		}
		if keep != nil {
			ok, err := keep(doc(r))
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// Search ranks the documents by BM25 against query (package search, parameters p: terms are
// words, so documents of every tokenizer are searched together) and returns the best limit
// hits that keep keeps (all when limit < 1), best first, each with its best-matching message.
func Search(docs []Doc, query string, p search.Params, limit int, keep Keep) ([]Hit, error) {
	byTokenizer := map[string]*search.Index{}
	var indexes []*search.Index
	docOf := make(map[string]Doc, len(docs))
	for _, d := range docs {
		ix := byTokenizer[d.Entry.Tokenizer]
		if ix == nil {
			ip := p
			ip.Tokenizer = d.Entry.Tokenizer
			var err error
			if ix, err = search.NewIndex(ip); err != nil {
				return nil, err
			}
			byTokenizer[d.Entry.Tokenizer] = ix
			indexes = append(indexes, ix)
		}
		ix.Add(d.Entry.ID, d.Tokens)
		docOf[d.Entry.ID] = d
	}
	tok, err := tokenizer.Get(p.Tokenizer)
	if err != nil {
		return nil, err
	}
	found, err := search.SearchIndexes(p, indexes, tok.Encode(query), 0)
	if err != nil {
		return nil, err
	}
	if found, err = keepBest(found, func(h search.Hit) Doc { return docOf[h.Key] }, keep, limit); err != nil {
		return nil, err
	}
	hits := make([]Hit, len(found))
	for i, h := range found {
		d := docOf[h.Key]
		hits[i] = Hit{ID: h.Key, Score: h.Score, Message: h.Message}
		if h.Message >= 0 && h.Message < len(d.Tokens) {
			hits[i].Role = d.Roles[h.Message]
			if mt, err := tokenizer.Get(d.Entry.Tokenizer); err == nil {
				if text, err := mt.Decode(d.Tokens[h.Message]); err == nil {
					hits[i].Snippet = snippet(text)
				}
			}
		}
	}
	return hits, nil
}

// snippet returns the start of text on one line.
func snippet(text string) string {
	r := []rune(text)
	if len(r) > snippetRunes {
		r = append(r[:snippetRunes], '…')
	}
	out := make([]rune, 0, len(r))
	for _, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			c = ' '
		}
		out = append(out, c)
	}
	return string(out)
}

// SearchEmbedded ranks the documents by the cosine similarity of their embeddings (the text of
// every message, embedded with e) to the query's, and returns the best limit hits that keep
// keeps (all when limit < 1), best first; each hit's message is the one whose own embedding is closest to the
// query's. It embeds the query, every document, and the messages of the hits returned.
// Documents without text to embed, and those not closer than 0, are not hits.
func SearchEmbedded(ctx context.Context, docs []Doc, query string, e embed.Embedder, limit int, keep Keep) ([]Hit, error) {
	texts := make([]string, len(docs)+1)
	texts[0] = query
	for i, d := range docs {
		text, err := d.Text()
		if err != nil {
			return nil, err
		}
		texts[i+1] = text
	}
	vectors, err := e.Embed(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	q := vectors[0]
	var hits []Hit
	for i, d := range docs {
		if s := dot(q, vectors[i+1]); s > 0 {
			hits = append(hits, Hit{ID: d.Entry.ID, Score: s, Message: -1})
		}
	}
	slices.SortStableFunc(hits, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
	byID := make(map[string]Doc, len(docs))
	for _, d := range docs {
		byID[d.Entry.ID] = d
	}
	if hits, err = keepBest(hits, func(h Hit) Doc { return byID[h.ID] }, keep, limit); err != nil {
		return nil, err
	}
	for i := range hits {
		d := byID[hits[i].ID]
		tok, err := tokenizer.Get(d.Entry.Tokenizer)
		if err != nil {
			return nil, err
		}
		msgs := make([]string, len(d.Tokens))
		for j, ids := range d.Tokens {
			if msgs[j], err = tok.Decode(ids); err != nil {
				return nil, fmt.Errorf("conversation %q: %w", d.Entry.ID, err)
			}
		}
		mv, err := e.Embed(ctx, msgs)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		best := -1.0
		for j, v := range mv {
			if s := dot(q, v); s > best {
				best, hits[i].Message = s, j
			}
		}
		if m := hits[i].Message; m >= 0 {
			hits[i].Role, hits[i].Snippet = d.Roles[m], snippet(msgs[m])
		}
	}
	return hits, nil
}

// dot is the dot product of two vectors of one embedder: their cosine, for unit vectors.
func dot(a, b []float32) float64 {
	var s float64
	for i := range min(len(a), len(b)) {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}
