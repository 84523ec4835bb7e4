package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowken/stowken/bench"
	"github.com/stowken/stowken/internal/corpus"
)

// runInProcess runs one stowken invocation in this process, without the STOWKEN_* environment.
func runInProcess(t *testing.T, args ...string) result {
	t.Helper()
	t.Setenv(envStore, "")
	t.Setenv(envRefs, "")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// TestBenchSample runs "stowken bench" on a few conversations of the shared sample (not
// timed; the numbers are only checked to be there).
func TestBenchSample(t *testing.T) {
	path := corpus.Path(t, "sample.jsonl")
	r := runInProcess(t, "bench", "--corpus", path, "--workload", "chat", "--limit", "25", "--json")
	if r.code != 0 {
		t.Fatalf("bench: %v", r)
	}
	if strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("--json printed more than one line:\n%s", r.stdout)
	}
	var rep struct {
		Workload      string  `json:"workload"`
		Store         string  `json:"store"`
		Conversations int64   `json:"conversations"`
		Tokens        int64   `json:"tokens"`
		StoredBytes   int64   `json:"stored_bytes"`
		BytesPerToken float64 `json:"bytes_per_token"`
		StoreUsage    struct {
			S3PutClass float64 `json:"s3_put_class"`
		} `json:"store_usage"`
		Cost struct {
			USDPerMillion struct {
				Total float64 `json:"total"`
			} `json:"usd_per_million"`
			Modelled bool `json:"modelled"`
		} `json:"cost"`
		RoundtripOK     int64 `json:"roundtrip_ok"`
		RoundtripFailed int64 `json:"roundtrip_failed"`
		Baselines       map[string]struct {
			StoredBytes int64 `json:"stored_bytes"`
		} `json:"baselines"`
		EndToEnd *json.RawMessage `json:"end_to_end"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("bench --json printed %q: %v", r.stdout, err)
	}
	if rep.Workload != "chat" || rep.Store != "memory" || rep.Conversations != 25 || rep.RoundtripOK != 25 ||
		rep.RoundtripFailed != 0 || rep.Tokens == 0 || rep.StoredBytes == 0 || rep.BytesPerToken == 0 || rep.StoreUsage.S3PutClass == 0 ||
		rep.Cost.USDPerMillion.Total <= 0 || !rep.Cost.Modelled {
		t.Errorf("report: %+v", rep)
	}
	for _, name := range []string{"naive_gzip_json", "per_message_zstd", "bulk_bound"} {
		if rep.Baselines[name].StoredBytes == 0 {
			t.Errorf("baseline %s not computed: %s", name, r.stdout)
		}
	}
	if rep.EndToEnd != nil {
		t.Error("end_to_end for the in-memory store")
	}

	// The table (what a terminal gets).
	rep2, err := benchReportForTable(t, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"naive gzip JSON", "per-message zstd", "bulk bound", "GETs per cold retrieval", "round trip"} {
		if !strings.Contains(rep2, want) {
			t.Errorf("table lacks %q:\n%s", want, rep2)
		}
	}
}

// benchReportForTable runs the benchmark with files given as arguments (as a shell glob gives
// them) into an empty directory store, and prints the table.
func benchReportForTable(t *testing.T, path string) (string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	r := runInProcess(t, "--store", dir, "bench", "--workload", "api-replay", "--limit", "10", "--clients", "2", "--json", path)
	if r.code != 0 {
		t.Fatalf("bench into %s: %v", dir, r)
	}
	var rep struct {
		Store    string           `json:"store"`
		EndToEnd *json.RawMessage `json:"end_to_end"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		return "", err
	}
	if rep.Store != dir || rep.EndToEnd == nil {
		t.Errorf("bench with --store %s before the command: store %q, end_to_end %v", dir, rep.Store, rep.EndToEnd != nil)
	}
	// A second run into the same directory is refused: it is not empty any more.
	if r := runInProcess(t, "bench", "--store", dir, "--workload", "chat", "--corpus", path, "--limit", "1"); r.code != 1 ||
		!strings.Contains(r.stderr, "not empty") {
		t.Errorf("bench into a non-empty store: %v", r)
	}

	res, err := bench.Run(context.Background(), bench.Options{Corpus: []string{path}, Workload: "chat", Limit: 10})
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	err = printBench(&buf, res)
	return buf.String(), err
}

func TestBenchUsage(t *testing.T) {
	path := writeFile(t, "one.jsonl", []byte(`{"id":"x","application":"a","model":"","tokenizer":"cl100k_base","messages":[{"role":"user","content":"hi"}]}`+"\n"))
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench", "--workload", "chat"}, exitUsage, "corpus"},
		{[]string{"bench", "--corpus", path}, exitUsage, "--workload"},
		{[]string{"bench", "--corpus", path, "--workload", "batch"}, exitUsage, "chat or api-replay"},
		{[]string{"bench", "--corpus", path, "--workload", "chat", "--clients", "0"}, exitUsage, "--clients"},
		{[]string{"bench", "--corpus", path, "--workload", "chat", "--isolated", "--store", t.TempDir()}, exitUsage, "--isolated"},
		{[]string{"bench", "--corpus", path + ".absent", "--workload", "chat"}, exitFailed, "no such file"},
		{[]string{"bench", "--corpus", path, "--workload", "chat", "--isolated", "--json"}, exitOK, ""},
	}
	for _, tt := range tests {
		r := runInProcess(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("stowken %s: want exit %d and %q on stderr, got %v", strings.Join(tt.args, " "), tt.code, tt.want, r)
		}
	}

	bad := writeFile(t, "bad.jsonl", []byte("{\"id\":\"x\"}\n"))
	r := runInProcess(t, "bench", "--corpus", bad, "--workload", "chat", "--json")
	if r.code != exitFailed || !strings.Contains(r.stderr, "bad.jsonl:1") || !strings.Contains(r.stdout, `"invalid_lines":1`) {
		t.Errorf("bench on a bad line: %v", r)
	}
}

func TestBenchHelp(t *testing.T) {
	r := runBinary(t, "", "help")
	if !strings.Contains(r.stdout, "  bench ") {
		t.Errorf("stowken help does not list bench:\n%s", r.stdout)
	}
	r = runBinary(t, "", "bench", "--help")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: stowken bench ") || !strings.Contains(r.stdout, "--workload NAME") {
		t.Errorf("stowken bench --help: %v", r)
	}
}
