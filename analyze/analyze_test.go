package analyze_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stowken/stowken/analyze"
	"github.com/stowken/stowken/catalog"
	catmem "github.com/stowken/stowken/catalog/mem"
	"github.com/stowken/stowken/cluster"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/embed"
	"github.com/stowken/stowken/neardup"
	objmem "github.com/stowken/stowken/objstore/mem"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/search"
	"github.com/stowken/stowken/vault"
)

// topics are vocabularies with nothing in common, so that texts of one topic are alike.
var topics = [][]string{
	strings.Fields("database table index query schema column migration replica shard transaction rollback commit"),
	strings.Fields("garden tomato soil compost seed water sunlight harvest basil pepper mulch sprout"),
	strings.Fields("violin concerto orchestra tempo melody rhythm symphony conductor sonata chord octave note"),
}

// text returns n words of a topic, deterministic for seed.
func text(topic, seed, n int) string {
	r := rand.New(rand.NewPCG(uint64(topic), uint64(seed)))
	words := make([]string, n)
	for i := range words {
		words[i] = topics[topic][r.IntN(len(topics[topic]))]
	}
	return strings.Join(words, " ")
}

// edit replaces k words of s at positions chosen by seed.
func edit(s string, k, seed int) string {
	words := strings.Fields(s)
	r := rand.New(rand.NewPCG(99, uint64(seed)))
	for range k {
		words[r.IntN(len(words))] = fmt.Sprintf("edit%d", r.IntN(1000))
	}
	return strings.Join(words, " ")
}

func conv(id, app, user, answer string) *conversation.Conversation {
	return &conversation.Conversation{ID: id, Application: app, Tokenizer: "cl100k_base", Messages: []conversation.Message{
		{Role: "system", Content: "You are a helpful assistant."}, {Role: "user", Content: user}, {Role: "assistant", Content: answer}}}
}

func store(t *testing.T, convs []*conversation.Conversation) *vault.Vault {
	t.Helper()
	return storeSketched(t, convs, 0)
}

// storeSketched stores convs in one store: the first sketched of them by a vault keeping
// sketches, the others by one that does not. It returns the second.
func storeSketched(t *testing.T, convs []*conversation.Conversation, sketched int) *vault.Vault {
	t.Helper()
	shared := vault.Options{Bucket: objmem.New(), Refs: refmem.New(), Catalog: catmem.New()}
	var v *vault.Vault
	for i, part := range [][]*conversation.Conversation{convs[:sketched], convs[sketched:]} {
		opts := shared
		opts.Sketches = i == 0
		var err error
		if v, err = vault.New(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		if len(part) == 0 {
			continue
		}
		if _, errs := v.StoreBatch(context.Background(), part); errors.Join(errs...) != nil {
			t.Fatal(errors.Join(errs...))
		}
	}
	return v
}

// sketchModes are the stores Dups and Clusters are tested on: without sketches, with every
// conversation sketched, and with the first half sketched.
var sketchModes = []struct {
	name     string
	sketched func(n int) int
}{
	{"NoSketches", func(int) int { return 0 }},
	{"AllSketched", func(n int) int { return n }},
	{"HalfSketched", func(n int) int { return n / 2 }},
}

func read(t *testing.T, v *vault.Vault, q catalog.Query) []analyze.Doc {
	t.Helper()
	docs, err := analyze.Read(context.Background(), v, analyze.Options{Query: q})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// TestDups: copies with a few edited words are grouped with their original, unrelated
// conversations are not, and a chain of edits is split so that every member of a group is a
// near-duplicate of its first.
func TestDups(t *testing.T) {
	var convs []*conversation.Conversation
	want := map[string][]string{} // first member → group
	for i := range 12 {
		base := text(i%3, i, 400)
		id := fmt.Sprintf("base-%02d", i)
		convs = append(convs, conv(id, "a", base, text(i%3, 100+i, 50)))
		if i%2 == 0 {
			copies := []string{id}
			for j := range 2 {
				cid := fmt.Sprintf("copy-%02d-%d", i, j)
				convs = append(convs, conv(cid, "a", edit(base, 3, 10*i+j), text(i%3, 100+i, 50)))
				copies = append(copies, cid)
			}
			want[id] = copies
		}
	}
	// A chain: each step edits 6 words more; neighbours are near-duplicates, its first and
	// last are far apart.
	chain := text(0, 500, 400)
	for k := range 6 {
		convs = append(convs, conv(fmt.Sprintf("chain-%d", k), "b", edit(chain, 6*k, 7), "ok"))
	}
	p := neardup.DefaultParams()
	sigOf := map[string]neardup.Signature{}
	for _, d := range read(t, store(t, convs), catalog.Query{Oldest: true}) {
		var tokens []int
		for i, m := range d.Tokens {
			if d.Roles[i] != "system" {
				tokens = append(tokens, m...)
			}
		}
		sigOf[d.Entry.ID] = neardup.NewSignature(tokens, p)
	}
	var before []analyze.Group
	for _, mode := range sketchModes {
		t.Run(mode.name, func(t *testing.T) {
			sketched := mode.sketched(len(convs))
			v := storeSketched(t, convs, sketched)
			res, err := analyze.Dups(context.Background(), v, analyze.Options{Query: catalog.Query{Oldest: true}}, p, []string{"system"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Conversations != len(convs) || res.Read != len(convs)-sketched {
				t.Errorf("compared %d conversations, read %d; want %d and %d", res.Conversations, res.Read, len(convs), len(convs)-sketched)
			}
			found := map[string][]string{}
			for _, g := range res.Groups {
				for _, id := range g.IDs[1:] {
					if s := neardup.Similarity(sigOf[g.IDs[0]], sigOf[id]); s < p.Threshold {
						t.Errorf("group %v: %s is %.2f similar to its first", g.IDs, id, s)
					}
				}
				if !strings.HasPrefix(g.IDs[0], "chain-") {
					found[g.IDs[0]] = g.IDs
				}
			}
			for first, ids := range want {
				if !slices.Equal(found[first], ids) {
					t.Errorf("group of %s: %v, want %v", first, found[first], ids)
				}
			}
			if len(found) != len(want) {
				t.Errorf("%d groups besides the chain's, want %d: %v", len(found), len(want), found)
			}
			if before != nil && fmt.Sprint(before) != fmt.Sprint(res.Groups) {
				t.Errorf("groups %v differ from those found without sketches %v", res.Groups, before)
			}
			before = res.Groups
			// Other parameters than the stored signatures' read every conversation.
			other := p
			other.Shingle = 4
			if res, err := analyze.Dups(context.Background(), v, analyze.Options{}, other, []string{"system"}); err != nil || res.Read != len(convs) {
				t.Errorf("shingles of 4: read %d, %v; want every conversation read", res.Read, err)
			}
			// Filters select what is compared.
			if res, err := analyze.Dups(context.Background(), v, analyze.Options{Query: catalog.Query{Application: "b"}}, p, []string{"system"}); err != nil || res.Conversations != 6 {
				t.Errorf("application b: %d conversations, %v; want 6", res.Conversations, err)
			}
		})
	}
}

// TestSearch: a query of words from one conversation's answer ranks it first, with that
// message; a query of words from no conversation finds nothing.
func TestSearch(t *testing.T) {
	var convs []*conversation.Conversation
	for i := range 30 {
		convs = append(convs, conv(fmt.Sprintf("c-%02d", i), "a", text(i%3, i, 80), text(i%3, 200+i, 80)))
	}
	convs[17].Messages[2].Content += " The migration to the new quorum coordinator finished overnight."
	v := store(t, convs)
	docs := read(t, v, catalog.Query{})
	hits, err := analyze.Search(docs, "quorum coordinator overnight", search.DefaultParams(), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].ID != "c-17" || hits[0].Message != 2 || hits[0].Role != "assistant" || hits[0].Snippet == "" {
		t.Fatalf("hits %+v, want c-17's answer first", hits)
	}
	// c-17 deleted after the conversations were read: keeping the hits still stored leaves it
	// out, and still gives 5 (of the database conversations, which mention migrations).
	query := "quorum coordinator migration"
	if hits, err := analyze.Search(docs, query, search.DefaultParams(), 5, nil); err != nil || len(hits) != 5 || hits[0].ID != "c-17" {
		t.Fatalf("%q: %+v, %v; want 5, c-17 first", query, hits, err)
	}
	if err := v.Delete(context.Background(), "c-17"); err != nil {
		t.Fatal(err)
	}
	stored := func(d analyze.Doc) (bool, error) { return v.Stored(context.Background(), d.Entry) }
	if hits, err := analyze.Search(docs, query, search.DefaultParams(), 5, stored); err != nil || len(hits) != 5 || slices.ContainsFunc(hits, func(h analyze.Hit) bool { return h.ID == "c-17" }) {
		t.Fatalf("%q, hits still stored: %+v, %v; want 5 without c-17", query, hits, err)
	}
	if hits, err := analyze.Search(docs, "xylophone zeppelin", search.DefaultParams(), 5, nil); err != nil || len(hits) != 0 {
		t.Fatalf("a query of unknown words: %+v, %v", hits, err)
	}
	// By embedding similarity, with the built-in embedder: conversations of the query's topic
	// (c-01, c-04, …), each with a message that is not the system prompt.
	h, err := embed.NewHashed(embed.HashedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hits, err = analyze.SearchEmbedded(context.Background(), docs, "tomato compost basil harvest", h, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 5 {
		t.Fatalf("embedded hits %+v, want 5", hits)
	}
	for i, hit := range hits {
		var n int
		fmt.Sscanf(hit.ID, "c-%d", &n)
		if n%3 != 1 || hit.Message == 0 || hit.Score <= 0 || hit.Score > 1 || i > 0 && hit.Score > hits[i-1].Score {
			t.Errorf("embedded hit %d: %+v, want a garden conversation's user or assistant message, by descending score", i, hit)
		}
	}
}

// TestClusters: conversations of three topics fall into three clusters of their topic, the
// same in every run; the conversation of a fourth topic is the farthest outlier.
func TestClusters(t *testing.T) {
	var convs []*conversation.Conversation
	for i := range 30 {
		convs = append(convs, conv(fmt.Sprintf("t%d-%02d", i%3, i), "a", text(i%3, i, 60), text(i%3, 300+i, 60)))
	}
	convs = append(convs, conv("odd", "a", "quantum entanglement photon lattice spin decoherence", "qubit superposition"))
	h, err := embed.NewHashed(embed.HashedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := cluster.DefaultParams()
	p.K = 3
	opts := analyze.Options{Query: catalog.Query{Oldest: true}}
	var before string
	for _, mode := range sketchModes {
		t.Run(mode.name, func(t *testing.T) {
			sketched := mode.sketched(len(convs))
			v := storeSketched(t, convs, sketched)
			first, err := analyze.Clusters(context.Background(), v, opts, h, p, 3, 1)
			if err != nil {
				t.Fatal(err)
			}
			if first.Conversations != len(convs) || first.Read != len(convs)-sketched {
				t.Errorf("clustered %d conversations, read %d; want %d and %d", first.Conversations, first.Read, len(convs), len(convs)-sketched)
			}
			again, err := analyze.Clusters(context.Background(), v, opts, h, p, 3, 1)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(first) != fmt.Sprint(again) {
				t.Fatalf("two runs differ:\n%+v\n%+v", first, again)
			}
			if len(first.Clusters) != 3 {
				t.Fatalf("%d clusters", len(first.Clusters))
			}
			for _, c := range first.Clusters {
				topic := c.Typical[0].ID[:2]
				for _, m := range c.Typical {
					if m.ID != "odd" && m.ID[:2] != topic {
						t.Errorf("cluster %+v mixes topics", c)
					}
				}
			}
			if len(first.Outliers) != 1 || first.Outliers[0].ID != "odd" {
				t.Errorf("outliers %+v, want odd", first.Outliers)
			}
			got := fmt.Sprint(first.Clusters, first.Outliers)
			if before != "" && got != before {
				t.Errorf("clusters %s differ from those found without sketches %s", got, before)
			}
			before = got
			// Roles, or another embedder, read every conversation.
			if res, err := analyze.Clusters(context.Background(), v, opts, h, p, 3, 1, "user"); err != nil || res.Read != len(convs) {
				t.Errorf("user messages only: read %d, %v; want every conversation read", res.Read, err)
			}
		})
	}
}

// TestReadLimit: a query that selects more than the limit is refused, not cut short.
func TestReadLimit(t *testing.T) {
	var convs []*conversation.Conversation
	for i := range 5 {
		convs = append(convs, conv(fmt.Sprintf("c-%d", i), "a", text(0, i, 20), "ok"))
	}
	v := store(t, convs)
	if _, err := analyze.Read(context.Background(), v, analyze.Options{Limit: 4}); !errors.Is(err, analyze.ErrTooMany) {
		t.Fatalf("5 conversations, limit 4: %v, want ErrTooMany", err)
	}
	if docs, err := analyze.Read(context.Background(), v, analyze.Options{Limit: 5}); err != nil || len(docs) != 5 {
		t.Fatalf("limit 5: %d, %v", len(docs), err)
	}
}
