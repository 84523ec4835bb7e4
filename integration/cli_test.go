package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/vault"
)

// buildCLI builds ./cmd/stowken into a temporary directory and returns the binary's path.
func buildCLI(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found above the integration directory: %v", err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the CLI: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "stowken")
	start := time.Now()
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/stowken")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/stowken: %v\n%s", err, out)
	}
	t.Logf("built ./cmd/stowken in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// cli runs the stowken binary against a test store, configured as a user would: the store and
// the table from STOWKEN_STORE and STOWKEN_REFS, the servers from AWS_ENDPOINT_URL_S3 and
// AWS_ENDPOINT_URL_DYNAMODB.
type cli struct {
	t   *testing.T
	bin string
	dir string // working directory (no ./stowken-data may appear in the repository)
	env []string
}

func newCLI(t *testing.T, bin string, st *store) *cli {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "STOWKEN_") || strings.HasPrefix(name, "AWS_ENDPOINT_URL") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"STOWKEN_STORE="+st.StoreURL, "STOWKEN_REFS="+st.RefsURL,
		"AWS_ENDPOINT_URL_S3="+st.S3Endpoint, "AWS_ENDPOINT_URL_DYNAMODB="+st.DynamoEndpoint)
	if os.Getenv("AWS_REGION") == "" {
		env = append(env, "AWS_REGION=us-east-1")
	}
	if st.creds != nil {
		env = append(env, "AWS_ACCESS_KEY_ID=minioadmin", "AWS_SECRET_ACCESS_KEY=minioadmin")
	}
	return &cli{t: t, bin: bin, dir: t.TempDir(), env: env}
}

// run runs stowken with args and returns its stdout, stderr and exit status.
func (c *cli) run(args ...string) (stdout, stderr string, code int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stdout, stderr, code, err := c.exec(ctx, args...)
	if err != nil {
		c.t.Fatalf("stowken %s: %v", strings.Join(args, " "), err)
	}
	return stdout, stderr, code
}

// exec runs stowken with args under ctx (cancelling ctx kills it) and returns its stdout,
// stderr and exit status, or the error that kept it from running to its end.
func (c *cli) exec(ctx context.Context, args ...string) (stdout, stderr string, code int, err error) {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code, err = ee.ExitCode(), nil
	}
	return out.String(), errOut.String(), code, err
}

// ok runs stowken with args, fails the test unless it exits 0, and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	stdout, stderr, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("stowken %s: exit status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// okJSON runs stowken with args (which ask for --json) and decodes its one JSON object.
func (c *cli) okJSON(args ...string) map[string]any {
	c.t.Helper()
	out := c.ok(args...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("stowken %s: output is not one JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// num returns the number at a dotted path of a decoded JSON object.
func num(t *testing.T, m map[string]any, path string) int64 {
	t.Helper()
	var v any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("JSON has no object at %q: %v", path, m)
		}
		v = obj[k]
	}
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("JSON field %q is %v, want a number (in %v)", path, v, m)
	}
	return int64(f)
}

// TestCLI drives the stowken binary against the servers, with its own bucket and table, which
// stowken init creates: init (twice), import of the sample corpus (twice), get of every
// conversation, rm, gc and verify.
func TestCLI(t *testing.T) {
	t.Parallel()
	st := newStoreWith(t, storeOptions{OwnBucket: true, NoCreate: true})
	samplePath := corpus.Path(t, "sample.jsonl")
	convs, lines := readCorpus(t, "sample.jsonl", 0)
	c := newCLI(t, buildCLI(t), st)
	ctx := context.Background()

	if out := c.ok("--help"); !strings.Contains(out, "import") || !strings.Contains(out, "verify") {
		t.Errorf("stowken --help does not list the commands:\n%s", out)
	}

	// init creates the bucket and the table; again, it changes nothing and succeeds.
	c.ok("init")
	c.ok("init")
	if err := st.Bucket.List(ctx, "", func(objstore.Attrs) error { return nil }); err != nil {
		t.Fatalf("after stowken init, the bucket %s cannot be listed: %v", st.BucketName, err)
	}
	if _, err := st.Refs.GetHead(ctx, strings.Repeat("0", 64)); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("after stowken init, reading table %s: %v, want ErrNotFound", st.Table, err)
	}

	// import, one conversation at a time, stores every conversation with no HEAD and one PUT
	// per batch object, new segment, model and catalog file (one per batch). (Concurrent stores of
	// conversations that share a segment may both upload it, the second PUT refused by
	// If-None-Match: not counted here.)
	imp := c.okJSON("import", "--concurrency", "1", "--json", samplePath)
	stored, newSegs := num(t, imp, "stored"), num(t, imp, "new_segments")
	if stored != int64(len(convs)) || num(t, imp, "failed") != 0 || num(t, imp, "already_present") != 0 {
		t.Fatalf("import: %v; want %d stored, none failed or present", imp, len(convs))
	}
	models := int64(len(st.keys(t, codec.ModelPrefix)))
	// GET class: the marker of the store's conditional-write check, once (no HEAD).
	files := int64(len(st.keys(t, catalog.FilePrefix)))
	batches := int64(len(st.keys(t, manifest.BatchPrefix)))
	if puts := num(t, imp, "requests.s3_put_class"); puts != batches+newSegs+models+files || num(t, imp, "requests.s3_get_class") > 1 {
		t.Errorf("import: %d PUTs and %d GET-class requests for %d conversations in %d batches, %d new segments, %d models and %d catalog files; want %d PUTs, at most the marker's GET",
			puts, num(t, imp, "requests.s3_get_class"), stored, batches, newSegs, models, files, batches+newSegs+models+files)
	}
	if objs := int64(len(st.segmentObjects(t))); objs != newSegs {
		t.Errorf("import reports %d new segments, the bucket holds %d", newSegs, objs)
	}
	t.Logf("import: %d conversations, %d new segments, %d models; requests %v", stored, newSegs, models, imp["requests"])
	// Again, concurrently: everything is already there.
	again := c.okJSON("import", "--json", samplePath)
	if num(t, again, "already_present") != int64(len(convs)) || num(t, again, "stored") != 0 || num(t, again, "new_segments") != 0 {
		t.Errorf("import again: %v; want all %d already present, nothing new", again, len(convs))
	}

	// get ID --format json prints each conversation as it was imported.
	start := time.Now()
	var identical sync.Map
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, conv := range convs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			stdout, stderr, code := c.run("get", conv.ID, "--format", "json")
			if code != 0 {
				t.Errorf("stowken get %s: exit status %d: %s", conv.ID, code, stderr)
				return
			}
			if compareJSON(t, conv.ID, []byte(strings.TrimSuffix(stdout, "\n")), lines[i]) {
				identical.Store(conv.ID, true)
			}
		})
	}
	wg.Wait()
	n := 0
	identical.Range(func(any, any) bool { n++; return true })
	t.Logf("stowken get --format json: %d conversations in %s, %d byte-identical to the input line, the rest equal as JSON",
		len(convs), time.Since(start).Round(time.Millisecond), n)
	// One get of several ids prints them in order, one per line.
	out := strings.Split(strings.TrimSuffix(c.ok("get", "--format", "json", convs[5].ID, convs[0].ID, convs[9].ID), "\n"), "\n")
	if len(out) != 3 || !sameJSON([]byte(out[0]), lines[5]) || !sameJSON([]byte(out[1]), lines[0]) || !sameJSON([]byte(out[2]), lines[9]) {
		t.Errorf("stowken get of three ids printed %d lines, not the three conversations in order", len(out))
	}

	// A re-import may upload packs its already-stored conversations do not use; they are marked
	// for the collector (writers never delete segments): collect them first. (Its batch objects
	// wait for their writer deadline.)
	c.ok("gc", "--grace", "0s")

	// put one more conversation with a long answer of its own (put stores it alone: its long
	// pieces are segments of their own), then rm it; gc --grace 0s deletes exactly the segments only it used. Imported
	// conversations share packs, so none of them has a segment of its own.
	victimConv := chat("cli-victim", "cli", words(31, 1500), words(32, 40), words(33, 1500))
	victimFile := filepath.Join(t.TempDir(), "victim.json")
	if err := os.WriteFile(victimFile, mustMarshal(t, victimConv), 0o644); err != nil {
		t.Fatal(err)
	}
	victim := strings.TrimSpace(c.ok("put", victimFile))
	v := st.open(t, vault.Options{})
	users := map[string]int{}
	segsOf := map[string][]string{}
	ids := []string{victim}
	for _, conv := range convs {
		ids = append(ids, conv.ID)
	}
	var victimBatch string
	for _, id := range ids {
		m, err := v.Manifest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if id == victim {
			victimBatch = m.Batch
		}
		segsOf[id] = m.Segments()
		for _, s := range m.Segments() {
			users[s]++
		}
	}
	own := 0
	for _, s := range segsOf[victim] {
		if users[s] == 1 {
			own++
		}
	}
	if own == 0 {
		t.Fatalf("the put conversation %q has no segment of its own", victim)
	}
	before := st.segmentObjects(t)
	c.ok("rm", victim)
	if _, stderr, code := c.run("get", victim, "--format", "json"); code != 1 || stderr == "" {
		t.Errorf("stowken get of the removed %q: exit status %d, stderr %q; want 1 and an error", victim, code, stderr)
	}
	if _, _, code := c.run("rm", victim); code != 1 {
		t.Errorf("stowken rm of the removed %q again: exit status %d, want 1", victim, code)
	}
	// Its batch (of one) retires once the writer deadline has passed: gc right away keeps
	// it; a collection an hour later retires it (deleting its batch object, and those the
	// re-import did not use), and the next deletes the segments only it used.
	if gc := c.okJSON("gc", "--grace", "0s", "--json"); num(t, gc, "deleted") != 0 || num(t, gc, "too_young") == 0 {
		t.Errorf("gc --grace 0s right after rm: %v; want the batch too young", gc)
	}
	later := st.open(t, vault.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if rep, err := later.GC(ctx, vault.GCOptions{}); err != nil || rep.Deleted == 0 || st.keys(t, manifest.BatchPrefix)[victimBatch] {
		t.Errorf("gc an hour later: %+v, %v; want the batch retired and its batch object %s deleted", rep, err, victimBatch)
	}
	gc, err := later.GC(ctx, vault.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := st.segmentObjects(t)
	if gc.Deleted != own || len(after) != len(before)-own {
		t.Errorf("gc: %+v; %d -> %d segment objects; want the %d segments only %q used deleted", gc, len(before), len(after), own, victim)
	}
	for _, s := range segsOf[victim] {
		if after[s] != (users[s] > 1) {
			t.Errorf("segment %s (used by %d conversations) present after gc: %v", s, users[s], after[s])
		}
	}
	t.Logf("rm %s, gc: %+v", victim, gc)

	// verify: exit status 0, every remaining conversation intact.
	c.ok("verify")
	rep := c.okJSON("verify", "--json", "--min-age", "1ms")
	if ok, _ := rep["ok"].(bool); !ok || num(t, rep, "manifests") != int64(len(convs)) || num(t, rep, "segments") != int64(len(after)) {
		t.Errorf("verify --json: %v; want ok, %d manifests, %d segments", rep, len(convs), len(after))
	}
	stats := c.okJSON("stats", "--json")
	if num(t, stats, "conversations") != int64(len(convs)) || num(t, stats, "segments") != int64(len(after)) {
		t.Errorf("stats --json: %v; want %d conversations, %d segments", stats, len(convs), len(after))
	}
}
