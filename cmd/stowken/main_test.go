package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary is the stowken executable built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stowken-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "stowken")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building stowken:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary produced.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runBinary runs the binary with args and stdin, without the STOWKEN_* environment of the caller.
func runBinary(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STOWKEN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running stowken %v: %v", args, err)
	}
	return r
}

// store is a temporary local store that tests drive through the binary.
type store struct {
	t   testing.TB
	dir string
}

func newStore(t testing.TB) *store {
	return &store{t: t, dir: filepath.Join(t.TempDir(), "store")}
}

// run runs a command against the store.
func (s *store) run(stdin string, args ...string) result {
	s.t.Helper()
	return runBinary(s.t, stdin, append([]string{"--store", s.dir}, args...)...)
}

// ok runs a command that must succeed and returns its stdout.
func (s *store) ok(args ...string) string {
	s.t.Helper()
	r := s.run("", args...)
	if r.code != 0 {
		s.t.Fatalf("stowken %s: %v", strings.Join(args, " "), r)
	}
	return r.stdout
}

// testStats is part of what "stats --json --references" prints.
type testStats struct {
	Conversations int64 `json:"conversations"`
	Messages      int64 `json:"messages"`
	Tokens        int64 `json:"tokens"`
	StoredBytes   int64 `json:"stored_bytes"`
	SegmentBytes  int64 `json:"segment_bytes"`
	ManifestBytes int64 `json:"manifest_bytes"`
	ModelBytes    int64 `json:"model_bytes"`
	CatalogBytes  int64 `json:"catalog_bytes"`
	RefBytes      int64 `json:"reference_bytes"`
	Segments      int64 `json:"segments"`
}

func (s *store) stats() testStats {
	s.t.Helper()
	var st testStats
	out := s.ok("stats", "--json", "--references")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		s.t.Fatalf("stats --json printed %q: %v", out, err)
	}
	return st
}

// writeFile writes data to a new file in a temporary directory and returns its path.
func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// listIDs returns the ids "ls --json" prints with the given flags, following the cursor.
func (s *store) listIDs(flags ...string) []string {
	s.t.Helper()
	var ids []string
	cursor := ""
	for range 1000 {
		args := append([]string{"ls", "--json"}, flags...)
		if cursor != "" {
			args = append(args, "--cursor", cursor)
		}
		r := s.run("", args...)
		if r.code != 0 {
			s.t.Fatalf("stowken %s: %v", strings.Join(args, " "), r)
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if line == "" {
				continue
			}
			var sum struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal([]byte(line), &sum); err != nil {
				s.t.Fatalf("ls --json line %q: %v", line, err)
			}
			ids = append(ids, sum.ID)
		}
		cursor = ""
		if i := strings.Index(r.stderr, "next cursor: "); i >= 0 {
			cursor = strings.TrimSpace(strings.SplitN(r.stderr[i+len("next cursor: "):], "\n", 2)[0])
		}
		if cursor == "" {
			return ids
		}
	}
	s.t.Fatal("ls kept returning cursors")
	return nil
}
