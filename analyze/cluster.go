package analyze

import (
	"context"
	"fmt"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/cluster"
	"github.com/stowken/stowken/embed"
	"github.com/stowken/stowken/sketch"
	"github.com/stowken/stowken/vault"
)

// Cluster is one cluster of conversations.
type Cluster struct {
	Size int `json:"size"`
	// Typical are the members closest to the centroid, closest first.
	Typical []Member `json:"typical"`
}

// Member is a conversation of a clustering, with its cosine distance to its cluster's centroid.
type Member struct {
	ID       string  `json:"id"`
	Cluster  int     `json:"cluster"`
	Distance float64 `json:"distance"`
}

// Clustering is the result of Clusters.
type Clustering struct {
	Clusters []Cluster `json:"clusters"`
	// Outliers are the conversations farthest from their centroid, farthest first.
	Outliers []Member `json:"outliers"`
	// Conversations is how many conversations were clustered or skipped; Read, how many of
	// them were read because their catalog row had no vector of the embedder asked for.
	Conversations int `json:"conversations"`
	Read          int `json:"read"`
	// Skipped counts the conversations without text to embed.
	Skipped    int `json:"skipped"`
	Iterations int `json:"iterations"`
}

// Clusters clusters the conversations opts selects by the embeddings of their messages of the
// given roles (every message when none is given) with k-means (package cluster, parameters
// p): each cluster's size and its typical most typical members, and the outliers most
// conversations farthest from their centroid. Deterministic for the same conversations, e and p.
//
// With the built-in embedder (e's Name is sketch.Embedder) and no roles, the vectors are
// those of the catalog's rows; a conversation whose row has none is read and embedded the
// same way (sketch.Vector). With another embedder or roles, every conversation is read and
// its text embedded with e, in one call.
func Clusters(ctx context.Context, v *vault.Vault, opts Options, e embed.Embedder, p cluster.Params, typical, outliers int, roles ...string) (Clustering, error) {
	var res Clustering
	builtIn := e.Name() == sketch.Embedder && len(roles) == 0
	sk, err := sketches(ctx, v, opts, func(en catalog.Entry) ([]float32, bool) {
		if !builtIn || len(en.Vector) == 0 {
			return nil, false
		}
		// A stored vector that does not parse is computed again, as a missing one.
		vec, err := sketch.ParseVector(en.Vector)
		return vec, err == nil
	}, func(docs []Doc) ([][]float32, error) {
		texts := make([]string, len(docs))
		for i, d := range docs {
			var err error
			if texts[i], err = d.Text(roles...); err != nil {
				return nil, err
			}
		}
		if !builtIn {
			vecs, err := e.Embed(ctx, texts)
			if err != nil {
				return nil, fmt.Errorf("embed: %w", err)
			}
			return vecs, nil
		}
		vecs := make([][]float32, len(texts))
		for i, t := range texts {
			vecs[i] = sketch.Vector(t)
		}
		return vecs, nil
	})
	if err != nil {
		return res, err
	}
	res.Conversations, res.Read = len(sk.ids), sk.read
	ids, vecs := sk.ids, sk.values
	var kept [][]float32
	var keptIDs []string
	for _, id := range ids {
		if isZero(vecs[id]) {
			res.Skipped++
			continue
		}
		kept = append(kept, vecs[id])
		keptIDs = append(keptIDs, id)
	}
	if len(kept) == 0 {
		return res, nil
	}
	r, err := cluster.KMeans(kept, p)
	if err != nil {
		return res, err
	}
	res.Iterations = r.Iterations
	member := func(i int) Member {
		return Member{ID: keptIDs[i], Cluster: r.Assign[i], Distance: float64(r.Distances[i])}
	}
	for c, size := range r.Sizes() {
		cl := Cluster{Size: size}
		for _, i := range cluster.Typical(r, c, typical) {
			cl.Typical = append(cl.Typical, member(i))
		}
		res.Clusters = append(res.Clusters, cl)
	}
	for _, i := range cluster.Outliers(r, outliers) {
		res.Outliers = append(res.Outliers, member(i))
	}
	return res, nil
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
