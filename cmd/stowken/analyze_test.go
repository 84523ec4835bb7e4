package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/embed"
	"github.com/stowken/stowken/internal/testenv"
)

// TestAnalyses imports conversations of which some are copies of another with a word or two
// changed, and one holds a distinctive phrase: dups groups each copy with its original, export
// --dedup near leaves the copies out, search ranks the phrase's conversation first, and cluster
// and outliers print what they found. The last three conversations are imported with
// --sketches: dups and cluster read only the others, until sketch has filled in theirs.
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
		question := testenv.Words(300+i, 300)
		add(fmt.Sprintf("orig-%d", i), question, testenv.Words(400+i, 50))
		if i < 2 {
			add(fmt.Sprintf("copy-%d", i), strings.Replace(question, "w", "x", 1), testenv.Words(400+i, 50))
		}
	}
	add("needle", testenv.Words(500, 100), "The lighthouse keeper logged a heron at dawn.")
	if r := s.run(strings.Join(lines[:6], "\n")+"\n", "import", "-"); r.code != 0 {
		t.Fatalf("import: %v", r)
	}
	if r := s.run(strings.Join(lines[6:], "\n")+"\n", "import", "--sketches", "-"); r.code != 0 {
		t.Fatalf("import --sketches: %v", r)
	}
	if r := s.run("", "dups"); r.code != 0 || !strings.Contains(r.stderr, "conversations: 9 (signatures from the catalog: 3, read: 6)") {
		t.Errorf("dups: %v; want 3 signatures from the catalog", r)
	}
	if r := s.run("", "cluster"); r.code != 0 || !strings.Contains(r.stderr, "conversations: 9 (vectors from the catalog: 3, read: 6)") {
		t.Errorf("cluster: %v; want 3 vectors from the catalog", r)
	}
	// sketch fills in the others.
	if out := s.ok("sketch"); !strings.Contains(out, "rows sketched             6\n") {
		t.Errorf("sketch: %q; want 6 rows sketched", out)
	}
	if r := s.run("", "dups"); r.code != 0 || !strings.Contains(r.stderr, "conversations: 9 (signatures from the catalog: 9, read: 0)") {
		t.Errorf("dups after sketch: %v; want every signature from the catalog", r)
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
	sum := parseExportSummary(t, s.ok("export", "--dedup", "near", "--oldest", "--format", "parquet", "-o", t.TempDir()+"/x.parquet", "--json"))
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

// TestAnalysesWithBedrock runs cluster and search with --embedder bedrock against a local
// server that speaks Bedrock Runtime's InvokeModel (Titan Text Embeddings V2 bodies), found
// through the AWS SDK's endpoint variable: every conversation's text is sent, and the
// vectors it returns decide the result.
func TestAnalysesWithBedrock(t *testing.T) {
	h, err := embed.NewHashed(embed.HashedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			InputText  string `json:"inputText"`
			Dimensions int    `json:"dimensions"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Dimensions != 256 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		paths[r.URL.EscapedPath()]++
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"embedding": h.EmbedText(req.InputText), "inputTextTokenCount": 3})
	}))
	defer srv.Close()
	for k, v := range map[string]string{"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": srv.URL, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull} {
		t.Setenv(k, v)
	}
	s := newStore(t)
	var lines []string
	for i := range 6 {
		topic := []string{"garden tomato compost basil", "violin concerto orchestra tempo"}[i%2]
		c := &conversation.Conversation{ID: fmt.Sprintf("c-%d", i), Tokenizer: "cl100k_base", Messages: []conversation.Message{
			{Role: "user", Content: topic + fmt.Sprintf(" question %d", i)}, {Role: "assistant", Content: topic}}}
		line, _ := conversation.Marshal(c)
		lines = append(lines, string(line))
	}
	s.ok("import", writeFile(t, "c.jsonl", []byte(strings.Join(lines, "\n"))))

	var cl struct {
		Clusters []struct {
			Size    int `json:"size"`
			Typical []struct {
				ID string `json:"id"`
			} `json:"typical"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal([]byte(s.ok("cluster", "--embedder", "bedrock", "--k", "2", "--json")), &cl); err != nil {
		t.Fatal(err)
	}
	if len(cl.Clusters) != 2 || cl.Clusters[0].Size != 3 || cl.Clusters[1].Size != 3 {
		t.Errorf("clusters %+v, want the two topics", cl)
	}
	var hit struct {
		ID      string `json:"id"`
		Message int    `json:"message"`
	}
	out := s.ok("search", "orchestra tempo", "--embedder", "bedrock:amazon.titan-embed-text-v2:0", "--json", "--limit", "1")
	if err := json.Unmarshal([]byte(out), &hit); err != nil || hit.ID != "c-1" && hit.ID != "c-3" && hit.ID != "c-5" {
		t.Errorf("search --embedder bedrock: %q (%v), want a violin conversation", out, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := paths["/model/amazon.titan-embed-text-v2%3A0/invoke"]; n < 6+1+6 || len(paths) != 1 {
		t.Errorf("requests by path %v: want every conversation embedded for cluster and for search, and the query", paths)
	}
	if r := s.run("", "cluster", "--embedder", "bedrockx"); r.code != 2 {
		t.Errorf("--embedder bedrockx: %v, want a usage error", r)
	}
}
