package analyze

import (
	"context"
	"fmt"

	"github.com/stowken/stowken/cluster"
	"github.com/stowken/stowken/embed"
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
	// Skipped counts the conversations without text to embed.
	Skipped    int `json:"skipped"`
	Iterations int `json:"iterations"`
}

// Clusters embeds the text of each document's messages of the given roles (every message when
// none is given) with e, and clusters the vectors with k-means (package cluster, parameters p):
// each cluster's size and its typical most typical members, and the outliers most
// conversations farthest from their centroid. Deterministic for the same documents, e and p.
func Clusters(ctx context.Context, docs []Doc, e embed.Embedder, p cluster.Params, typical, outliers int, roles ...string) (Clustering, error) {
	var res Clustering
	texts := make([]string, 0, len(docs))
	var ids []string
	for _, d := range docs {
		text, err := d.Text(roles...)
		if err != nil {
			return res, err
		}
		texts = append(texts, text)
		ids = append(ids, d.Entry.ID)
	}
	vectors, err := e.Embed(ctx, texts)
	if err != nil {
		return res, fmt.Errorf("embed: %w", err)
	}
	var kept [][]float32
	var keptIDs []string
	for i, v := range vectors {
		if isZero(v) {
			res.Skipped++
			continue
		}
		kept = append(kept, v)
		keptIDs = append(keptIDs, ids[i])
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
