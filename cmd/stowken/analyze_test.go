package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
)

// TestAnalyses imports conversations of which some are copies of another with a word or two
// changed, and one holds a distinctive phrase: dups groups each copy with its original, export
// --dedup near leaves the copies out, search ranks the phrase's conversation first, and cluster
// and outliers print what they found.
func TestAnalyses(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	var lines []string
	add := func(id, user, answer string) {
		c := &conversation.Conversation{ID: id, Application: "app", Tokenizer: "cl100k_base",
			CreatedAt: time.Date(2026, 12, 1, 0, len(lines), 0, 0, time.UTC), // in this order, oldest first
			Messages:  []conversation.Message{{Role: "user", Content: user}, {Role: "assistant", Content: answer}}}
		line, err := conversation.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(line))
	}
	for i := range 6 {
		question := pseudoWords(300+i, 300)
		add(fmt.Sprintf("orig-%d", i), question, pseudoWords(400+i, 50))
		if i < 2 {
			add(fmt.Sprintf("copy-%d", i), strings.Replace(question, "w", "x", 1), pseudoWords(400+i, 50))
		}
	}
	add("needle", pseudoWords(500, 100), "The lighthouse keeper logged a heron at dawn.")
	if r := s.run(strings.Join(lines, "\n")+"\n", "import", "-"); r.code != 0 {
		t.Fatalf("import: %v", r)
	}

	var groups []struct {
		IDs        []string `json:"ids"`
		Similarity float64  `json:"similarity"`
	}
	for _, line := range strings.Split(strings.TrimSpace(s.ok("dups", "--json")), "\n") {
		var g struct {
			IDs        []string `json:"ids"`
			Similarity float64  `json:"similarity"`
		}
		if err := json.Unmarshal([]byte(line), &g); err != nil {
			t.Fatalf("dups --json printed %q: %v", line, err)
		}
		groups = append(groups, g)
	}
	if len(groups) != 2 || fmt.Sprint(groups[0].IDs) != "[orig-0 copy-0]" || fmt.Sprint(groups[1].IDs) != "[orig-1 copy-1]" || groups[0].Similarity < 0.8 {
		t.Errorf("dups: %+v, want orig-0 with copy-0 and orig-1 with copy-1", groups)
	}
	var sum struct {
		Exported       int `json:"exported"`
		NearDuplicates int `json:"near_duplicates"`
	}
	if err := json.Unmarshal([]byte(s.ok("export", "--dedup", "near", "--oldest", "--format", "parquet", "-o", t.TempDir()+"/x.parquet", "--json")), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Exported != 7 || sum.NearDuplicates != 2 {
		t.Errorf("export --dedup near: %+v, want 7 exported and the 2 copies left out", sum)
	}
	if r := s.run("", "export", "--dedup", "exact"); r.code != 2 {
		t.Errorf("--dedup exact: %v, want a usage error", r)
	}

	var hit struct {
		ID      string `json:"id"`
		Message int    `json:"message"`
		Role    string `json:"role"`
	}
	out := s.ok("search", "heron lighthouse", "--json", "--limit", "3")
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &hit); err != nil || hit.ID != "needle" || hit.Message != 1 || hit.Role != "assistant" {
		t.Errorf("search: %q (%v), want needle's answer first", out, err)
	}
	if r := s.run("", "search"); r.code != 2 {
		t.Errorf("search without a query: %v, want a usage error", r)
	}

	var cl struct {
		Clusters []struct {
			Size int `json:"size"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal([]byte(s.ok("cluster", "--k", "2", "--json")), &cl); err != nil || len(cl.Clusters) != 2 || cl.Clusters[0].Size+cl.Clusters[1].Size != 9 {
		t.Errorf("cluster --k 2: %+v, %v; want 2 clusters of the 9 conversations", cl, err)
	}
	if table := s.ok("outliers", "--top", "2"); !strings.HasPrefix(table, "DISTANCE") || strings.Count(table, "\n") != 3 {
		t.Errorf("outliers table:\n%s", table)
	}
	if r := s.run("", "dups", "--threshold", "1.5"); r.code != 2 {
		t.Errorf("dups --threshold 1.5: %v, want a usage error", r)
	}
}
