package analyze

import (
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

// Search ranks the documents by BM25 against query (package search, parameters p: terms are
// words, so documents of every tokenizer are searched together) and returns the best limit
// hits (all when limit < 1), best first, each with its best-matching message.
func Search(docs []Doc, query string, p search.Params, limit int) ([]Hit, error) {
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
	found, err := search.SearchIndexes(p, indexes, tok.Encode(query), limit)
	if err != nil {
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
