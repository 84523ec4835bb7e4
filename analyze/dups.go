package analyze

import (
	"context"
	"slices"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/neardup"
	"github.com/stowken/stowken/sketch"
	"github.com/stowken/stowken/vault"
)

// Group is a group of near-duplicate conversations: every member's estimated Jaccard
// similarity with the first (the oldest or newest, in the order read) is at least the
// threshold.
type Group struct {
	IDs []string `json:"ids"`
	// Similarity is the lowest estimated similarity of a member with the first.
	Similarity float64 `json:"similarity"`
}

// Duplicates is the result of Dups.
type Duplicates struct {
	Groups []Group
	// Conversations is how many conversations were compared; Read, how many of them were
	// read because their catalog row had no signature of the parameters asked for.
	Conversations, Read int
}

// Dups groups the near-duplicates among the conversations opts selects, in the catalog's
// order: MinHash signatures of their tokens (package neardup, parameters p) over every message
// whose role is not in skip, LSH bands, verified at p.Threshold. The signatures are those of
// the catalog's rows when p has the stored signatures' shingle length and hashes and skip is
// sketch.SkipRoles; the others are computed from the conversations, read.
//
// neardup's groups are connected components, in which a chain of small edits (the growing
// requests of one API conversation) links members far apart. Dups splits each component into
// groups with a center: the first member not yet placed starts a group, which takes every later
// member at least p.Threshold similar to it. So each group's members are near-duplicates of
// its first, which an export keeping one conversation per group relies on. Groups are ordered
// by size, then by the position of their first member; singletons are left out.
func Dups(ctx context.Context, v *vault.Vault, opts Options, p neardup.Params, skip []string) (Duplicates, error) {
	var res Duplicates
	if err := p.Validate(); err != nil {
		return res, err
	}
	stored := p.Shingle == sketch.Params().Shingle && p.Hashes == sketch.Params().Hashes &&
		slices.Equal(skip, sketch.SkipRoles)
	sk, err := sketches(ctx, v, opts, func(e catalog.Entry) (neardup.Signature, bool) {
		if !stored || len(e.Signature) == 0 {
			return neardup.Signature{}, false
		}
		// A stored signature that does not parse is computed again, as a missing one.
		s, err := sketch.ParseSignature(e.Signature)
		return s, err == nil
	}, func(docs []Doc) ([]neardup.Signature, error) {
		sigs := make([]neardup.Signature, len(docs))
		for i, d := range docs {
			sigs[i] = sketch.Signature(d.Roles, d.Tokens, p, skip)
		}
		return sigs, nil
	})
	if err != nil {
		return res, err
	}
	res.Conversations, res.Read = len(sk.ids), sk.read
	res.Groups, err = groups(sk.ids, sk.values, p)
	return res, err
}

// groups finds the groups of near-duplicates among ids (see Dups), whose signatures are sigs.
func groups(ids []string, sigs map[string]neardup.Signature, p neardup.Params) ([]Group, error) {
	ix, err := neardup.NewIndex(p)
	if err != nil {
		return nil, err
	}
	pos := make(map[string]int, len(ids))
	for i, id := range ids {
		pos[id] = i
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
