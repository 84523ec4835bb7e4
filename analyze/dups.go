package analyze

import (
	"slices"

	"github.com/stowken/stowken/neardup"
)

// Group is a group of near-duplicate conversations: every member's estimated Jaccard
// similarity with the first (the oldest or newest, in the order read) is at least the
// threshold.
type Group struct {
	IDs []string `json:"ids"`
	// Similarity is the lowest estimated similarity of a member with the first.
	Similarity float64 `json:"similarity"`
}

// Dups groups the documents whose messages' tokens are near-duplicates (package neardup: MinHash
// over p.Shingle-token shingles, LSH bands, verified at p.Threshold), in the documents' order.
// Messages of the roles in skipRoles are left out of the comparison (a long system prompt
// shared by every request of an application makes them all alike).
//
// neardup's groups are connected components, in which a chain of small edits (the growing
// requests of one API conversation) links members far apart. Dups splits each component into
// groups with a center: the first member not yet placed starts a group, which takes every later
// member at least p.Threshold similar to it. So each group's members are near-duplicates of
// its first, which an export keeping one conversation per group relies on. Groups are ordered
// by size, then by the position of their first member; singletons are left out.
func Dups(docs []Doc, p neardup.Params, skipRoles ...string) ([]Group, error) {
	ix, err := neardup.NewIndex(p)
	if err != nil {
		return nil, err
	}
	sigs := make(map[string]neardup.Signature, len(docs))
	pos := make(map[string]int, len(docs))
	for i, d := range docs {
		id := d.Entry.ID
		if _, dup := pos[id]; dup {
			continue // a conversation listed twice (two stored copies of one id)
		}
		pos[id] = i
		var tokens []int
		for j, m := range d.Tokens {
			if !slices.Contains(skipRoles, d.Roles[j]) {
				tokens = append(tokens, m...)
			}
		}
		sigs[id] = neardup.NewSignature(tokens, p)
		if err := ix.Add(id, sigs[id]); err != nil {
			return nil, err
		}
	}
	components, err := ix.Groups(p.Threshold)
	if err != nil {
		return nil, err
	}
	var groups []Group
	for _, comp := range components {
		slices.SortFunc(comp, func(a, b string) int { return pos[a] - pos[b] })
		placed := make([]bool, len(comp))
		for i, center := range comp {
			if placed[i] {
				continue
			}
			g := Group{IDs: []string{center}, Similarity: 1}
			for j := i + 1; j < len(comp); j++ {
				if s := neardup.Similarity(sigs[center], sigs[comp[j]]); !placed[j] && s >= p.Threshold {
					placed[j] = true
					g.IDs = append(g.IDs, comp[j])
					g.Similarity = min(g.Similarity, s)
				}
			}
			if len(g.IDs) > 1 {
				groups = append(groups, g)
			}
		}
	}
	slices.SortStableFunc(groups, func(a, b Group) int {
		if len(a.IDs) != len(b.IDs) {
			return len(b.IDs) - len(a.IDs)
		}
		return pos[a.IDs[0]] - pos[b.IDs[0]]
	})
	return groups, nil
}
