package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/location/aws"
	"github.com/stowken/stowken/vault"
)

// stores opens the S3 stores the stress test runs on.
var stores = location.NewRegistry(aws.Backend{})

// Bounds of TestStress: the concurrent phase ends at stressPhase or when every loop has run its
// count, whichever comes first; a loop never starts an iteration after the deadline, so no
// process is killed half-way (a killed writer would leave references for verify to report).
const (
	stressPhase       = 30 * time.Second
	stressImporters   = 3
	stressCollectors  = 2
	stressGoroutines  = 8
	stressImportLoops = 12
	stressGCLoops     = 200
	stressRmLoops     = 200
	stressGoOps       = 400
)

// stressTally counts operations and failures of TestStress, by kind.
type stressTally struct {
	mu       sync.Mutex
	ops      map[string]int
	failures []string
}

func (s *stressTally) op(kind string) {
	s.mu.Lock()
	s.ops[kind]++
	s.mu.Unlock()
}

func (s *stressTally) fail(format string, args ...any) {
	s.mu.Lock()
	s.failures = append(s.failures, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// stressRun runs the stowken binary once under ctx (so that cancelling ctx kills it) and
// returns its stdout, stderr and exit status (-1 when it could not be run or was killed).
func stressRun(ctx context.Context, c *cli, args ...string) (stdout, stderr string, code int) {
	stdout, stderr, code, err := c.exec(ctx, args...)
	if err != nil {
		return stdout, stderr + err.Error(), -1
	}
	return stdout, stderr, code
}

// rmNotFoundOnly reports whether every line of an rm's stderr says only that an id is not stored.
func rmNotFoundOnly(stderr string) bool {
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.Contains(line, "no such conversation") {
			return false
		}
	}
	return true
}

// TestStress runs, against one store, at once and for a bounded time: 3 stowken import processes
// importing overlapping JSONL files (every conversation is in 4 of the 6 files), 2 stowken gc
// --grace 0s processes in a loop, 1 process running stowken rm over a fixed "doomed" set in a
// loop, and 8 goroutines of the test, over a vault opened with location.Registry.Open on the same store
// and refs, storing, retrieving and deleting another overlapping subset. No operation may fail
// other than by "already stored" or by not finding a doomed or concurrently deleted id; no
// retrieval may come back different. Afterwards (doomed and churned ids removed once more, one
// more gc) every kept conversation retrieves exactly, every removed one is not found,
// re-importing the removed ones stores them all and they retrieve exactly, and stowken verify
// passes.
func TestStress(t *testing.T) {
	// Not parallel: the in-process vault takes the endpoints from the environment, like the CLI.
	st := newStoreWith(t, storeOptions{NoCreate: true})
	c := newCLI(t, buildCLI(t), st)
	for _, kv := range c.env {
		if name, val, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, val)
		}
	}
	c.ok("init")
	testStart := time.Now()

	// The pool: 60 generated conversations sharing 4 system prompts and 6 passages, and 100 of
	// the sample corpus.
	var prompts [4]string
	for i := range prompts {
		prompts[i] = words(500+i, 1500)
	}
	var passages [6]string
	for i := range passages {
		passages[i] = words(600+i, 300)
	}
	var pool []*conversation.Conversation
	var lines [][]byte
	for i := range 60 {
		conv := chat(fmt.Sprintf("stress-%02d", i), fmt.Sprintf("stress-%d", i%4), prompts[i%4],
			fmt.Sprintf("Question %d about this:\n%s", i, passages[(i/4)%6]), words(700+i, 60),
			fmt.Sprintf("And then %d?\n%s", i, passages[(i+1)%6]), fmt.Sprintf("Answer %d.", i))
		pool = append(pool, conv)
		lines = append(lines, mustMarshal(t, conv))
	}
	sample, sampleLines := readCorpus(t, "sample.jsonl", 100)
	pool, lines = append(pool, sample...), append(lines, sampleLines...)
	lineOf := map[string][]byte{}
	for i, conv := range pool {
		if lineOf[conv.ID] != nil {
			t.Fatalf("duplicate id %q in the pool", conv.ID)
		}
		lineOf[conv.ID] = lines[i]
	}

	// Roles: doomed (removed by the rm process), churned (stored, retrieved and deleted by the
	// goroutines), steady (stored and retrieved by the goroutines), the rest only imported. All
	// are in the import files.
	var doomed, churned, steady, kept, removed []string
	for i, conv := range pool {
		switch i % 5 {
		case 0:
			doomed = append(doomed, conv.ID)
			removed = append(removed, conv.ID)
		case 1:
			churned = append(churned, conv.ID)
			removed = append(removed, conv.ID)
		case 2:
			steady = append(steady, conv.ID)
			kept = append(kept, conv.ID)
		default:
			kept = append(kept, conv.ID)
		}
	}
	goIDs := append(append([]string{}, steady...), churned...)
	isChurned := map[string]bool{}
	for _, id := range churned {
		isChurned[id] = true
	}

	// 6 files; conversation i is in file k unless (7i+k)%3 == 0: in 4 of them, and files 0, 1
	// and 2 (each importer's first) together hold every conversation.
	dir := t.TempDir()
	var files []string
	for k := range 6 {
		var buf bytes.Buffer
		for i, line := range lines {
			if (7*i+k)%3 != 0 {
				buf.Write(line)
				buf.WriteByte('\n')
			}
		}
		f := filepath.Join(dir, fmt.Sprintf("part-%d.jsonl", k))
		if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}

	v, err := stores.Open(context.Background(), st.StoreURL, st.RefsURL, vault.Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })

	tally := &stressTally{ops: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // kills whatever subprocess is still running
	deadline := time.Now().Add(stressPhase)
	stop := make(chan struct{}) // closed when the importers and goroutines are done
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return time.Now().After(deadline)
		}
	}
	var imported, alreadyPresent, gcDeleted, rmDeleted, goCreated, goExisted atomic.Int64

	var writers, others sync.WaitGroup
	for p := range stressImporters {
		writers.Go(func() {
			for j := 0; j < stressImportLoops && (j == 0 || !time.Now().After(deadline)); j++ {
				f := files[(p+j)%len(files)]
				out, stderr, code := stressRun(ctx, c, "import", "--json", f)
				tally.op("import")
				var rep struct {
					Stored   int64 `json:"stored"`
					Existed  int64 `json:"already_present"`
					Failed   int64 `json:"failed"`
					FileErrs int   `json:"file_errors"`
				}
				if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Failed != 0 || rep.FileErrs != 0 {
					tally.fail("import %s (process %d): exit status %d\nstdout: %s\nstderr: %s", filepath.Base(f), p, code, out, stderr)
					continue
				}
				imported.Add(rep.Stored)
				alreadyPresent.Add(rep.Existed)
			}
		})
	}
	for range stressCollectors {
		others.Go(func() {
			for j := 0; j < stressGCLoops && !stopped(); j++ {
				out, stderr, code := stressRun(ctx, c, "gc", "--grace", "0s", "--json")
				tally.op("gc")
				var rep struct {
					Deleted int64 `json:"deleted"`
				}
				if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
					tally.fail("gc: exit status %d\nstdout: %s\nstderr: %s", code, out, stderr)
					continue
				}
				gcDeleted.Add(rep.Deleted)
			}
		})
	}
	others.Go(func() {
		for j := 0; j < stressRmLoops && !stopped(); j++ {
			out, stderr, code := stressRun(ctx, c, append([]string{"rm"}, doomed...)...)
			tally.op("rm")
			rmDeleted.Add(int64(strings.Count(out, "deleted ")))
			if code != 0 && (code != 1 || !rmNotFoundOnly(stderr)) {
				tally.fail("rm: exit status %d\nstderr: %s", code, stderr)
			}
		}
	})
	for g := range stressGoroutines {
		writers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 20261126))
			for j := 0; j < stressGoOps && !time.Now().After(deadline); j++ {
				id := goIDs[rng.IntN(len(goIDs))]
				op := "store"
				if isChurned[id] {
					op = []string{"store", "retrieve", "delete"}[rng.IntN(3)]
				}
				switch op {
				case "store":
					conv, err := conversation.Parse(lineOf[id])
					if err != nil {
						tally.fail("parse %q: %v", id, err)
						continue
					}
					res, err := v.Store(ctx, conv)
					tally.op("vault store")
					if err != nil {
						tally.fail("vault store %q: %v", id, err)
						continue
					}
					if res.Existed {
						goExisted.Add(1)
					} else {
						goCreated.Add(1)
					}
					if isChurned[id] {
						continue
					}
					fallthrough // a steady conversation: retrieve it at once, it must be there
				case "retrieve":
					got, err := v.Retrieve(ctx, id)
					tally.op("vault retrieve")
					if err != nil {
						if !(isChurned[id] && errors.Is(err, vault.ErrNotFound)) {
							tally.fail("vault retrieve %q: %v", id, err)
						}
						continue
					}
					out, err := conversation.Marshal(got)
					if err != nil || !sameJSON(out, lineOf[id]) {
						tally.fail("vault retrieve %q came back different (%v):\n  in: %.300s\n out: %.300s", id, err, lineOf[id], out)
					}
				case "delete":
					err := v.Delete(ctx, id)
					tally.op("vault delete")
					if err != nil && !errors.Is(err, vault.ErrNotFound) {
						tally.fail("vault delete %q: %v", id, err)
					}
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	others.Wait()
	cancel()
	phase := time.Since(testStart)
	t.Logf("concurrent phase: %s; operations %v; imports stored %d, found %d already present; vault stores created %d, found %d stored; gc deleted %d segments; rm deleted %d",
		phase.Round(time.Millisecond), tally.ops, imported.Load(), alreadyPresent.Load(), goCreated.Load(), goExisted.Load(), gcDeleted.Load(), rmDeleted.Load())
	for _, f := range tally.failures {
		t.Errorf("failure: %s", f)
	}
	if n := len(tally.failures); n != 0 {
		t.Fatalf("%d failures in the concurrent phase, want 0", n)
	}
	t.Logf("failures: 0")

	// Remove the doomed and churned conversations once more (a late import or store may have
	// brought them back), collect, and check.
	if _, stderr, code := c.run(append([]string{"rm"}, removed...)...); code != 0 && (code != 1 || !rmNotFoundOnly(stderr)) {
		t.Fatalf("final rm: exit status %d: %s", code, stderr)
	}
	c.ok("gc", "--grace", "0s")
	bg := context.Background()
	got, errs := v.RetrieveBatch(bg, kept)
	for i, id := range kept {
		if errs[i] != nil {
			t.Errorf("retrieve kept %q: %v", id, errs[i])
			continue
		}
		checkRetrieved(t, id, got[i], lineOf[id])
	}
	for _, id := range removed {
		if _, err := v.Retrieve(bg, id); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("retrieve removed %q: %v, want ErrNotFound", id, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Re-import the removed ones: all stored anew, and they retrieve exactly.
	var buf bytes.Buffer
	for _, id := range removed {
		buf.Write(lineOf[id])
		buf.WriteByte('\n')
	}
	again := filepath.Join(dir, "removed.jsonl")
	if err := os.WriteFile(again, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	imp := c.okJSON("import", "--json", again)
	if num(t, imp, "stored") != int64(len(removed)) || num(t, imp, "failed") != 0 || num(t, imp, "already_present") != 0 {
		t.Fatalf("re-import of the %d removed conversations: %v; want all stored", len(removed), imp)
	}
	got, errs = v.RetrieveBatch(bg, removed)
	for i, id := range removed {
		if errs[i] != nil {
			t.Errorf("retrieve re-imported %q: %v", id, errs[i])
			continue
		}
		checkRetrieved(t, id, got[i], lineOf[id])
	}

	c.ok("verify")
	rep := c.okJSON("verify", "--json", "--min-age", "1ms")
	if ok, _ := rep["ok"].(bool); !ok || num(t, rep, "manifests") != int64(len(pool)) {
		t.Errorf("verify --json --min-age 1ms: %v; want ok and %d manifests", rep, len(pool))
	}
	t.Logf("%d conversations: %d kept (all retrieve exactly), %d deleted (%d doomed, %d churned; none found), %d re-imported (all retrieve exactly); verify ok; total %s",
		len(pool), len(kept), len(removed), len(doomed), len(churned), num(t, imp, "stored"), time.Since(testStart).Round(time.Millisecond))
}
