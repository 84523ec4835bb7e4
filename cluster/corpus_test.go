package cluster

import (
	"context"
	"strings"
	"testing"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/embed"
	"github.com/stowken/stowken/internal/corpus"
)

// TestCorpus clusters the conversations of the sample corpus, embedded by embed.Hashed, with
// the default parameters, and measures how well the clusters follow the conversations'
// application (their source: hh-rlhf, oasst, glaive tool calls, ...), which nothing told them.
// The applications are not topics (arena-hard, mt-bench and oasst all ask general questions),
// so purity is far from 1; one cluster of everything would have 60/300 (the largest share).
func TestCorpus(t *testing.T) {
	var ids, apps, texts []string
	err := corpus.Lines(corpus.Path(t, "sample.jsonl"), func(line []byte, n int) error {
		c, err := conversation.Parse(line)
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, m := range c.Messages {
			b.WriteString(m.Content + "\n")
			for _, tc := range m.ToolCalls {
				b.WriteString(tc.Name + " " + tc.Arguments + "\n")
			}
		}
		ids, apps, texts = append(ids, c.ID), append(apps, c.Application), append(texts, b.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := embed.NewHashed(embed.HashedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := h.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	r := mustKMeans(t, vecs, DefaultParams())
	// Purity: each cluster counts its most frequent application.
	pure := 0
	for c := range r.Centroids {
		count := map[string]int{}
		best := ""
		for i, a := range r.Assign {
			if a == c {
				count[apps[i]]++
				if count[apps[i]] > count[best] || count[apps[i]] == count[best] && apps[i] < best {
					best = apps[i]
				}
			}
		}
		pure += count[best]
		typical := Typical(r, c, 3)
		var names []string
		for _, i := range typical {
			names = append(names, ids[i])
		}
		t.Logf("cluster %d: %d conversations, mostly %s (%d); typical %v", c, r.Sizes()[c], best, count[best], names)
	}
	var outliers []string
	for _, i := range Outliers(r, 3) {
		outliers = append(outliers, ids[i])
	}
	t.Logf("%d iterations; purity by application %d/%d; outliers %v", r.Iterations, pure, len(vecs), outliers)
	if pure*100 < len(vecs)*40 {
		t.Errorf("purity %d/%d", pure, len(vecs))
	}
}
