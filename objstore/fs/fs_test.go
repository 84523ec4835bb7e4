package fs_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/fs"
	"github.com/stowken/stowken/objstore/objstoretest"
)

func open(t *testing.T, dir string) *fs.Bucket {
	t.Helper()
	b, err := fs.Open(dir)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket { return open(t, t.TempDir()) })
}

// TestConformanceShared runs the suite with every subtest on one directory, each through its
// own Bucket, as separate processes would share it.
func TestConformanceShared(t *testing.T) {
	dir := t.TempDir()
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket { return open(t, dir) })
}

func mustPut(t *testing.T, b objstore.Bucket, key, data string) objstore.Attrs {
	t.Helper()
	a, err := b.Put(context.Background(), key, []byte(data), objstore.PutOptions{})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return a
}

func listAll(t *testing.T, b objstore.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	if err := b.List(context.Background(), prefix, func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func TestLeftoverTempFilesAreNotListed(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	mustPut(t, b, "seg/a", "a")
	// What a writer that crashed before its rename leaves behind.
	leftover := filepath.Join(dir, ".stowken", "tmp", "0123456789abcdef")
	if err := os.WriteFile(leftover, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", ".", ".stowken", ".stowken/", ".stowken/tmp/", "seg/"} {
		want := []string{"seg/a"}
		if prefix != "" && prefix != "seg/" {
			want = nil
		}
		if got := listAll(t, b, prefix); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	ctx := context.Background()
	for _, key := range []string{".stowken", ".stowken/tmp/0123456789abcdef", ".stowken/lock"} {
		if _, _, err := b.Get(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q): %v, want ErrInvalidKey", key, err)
		}
		if _, err := b.Put(ctx, key, nil, objstore.PutOptions{}); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q): %v, want ErrInvalidKey", key, err)
		}
		if err := b.Delete(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Delete(%q): %v, want ErrInvalidKey", key, err)
		}
	}
	if data, err := os.ReadFile(leftover); err != nil || string(data) != "partial" {
		t.Errorf("leftover temp file changed: %q, %v", data, err)
	}
	// A key that merely starts with the reserved name is fine.
	mustPut(t, b, ".stowkenx", "ok")
	if got := listAll(t, b, ".stow"); !slices.Equal(got, []string{".stowkenx"}) {
		t.Errorf("List(.stow) = %q", got)
	}
}

func TestSymlinksCannotEscapeRoot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := open(t, dir)
	rel, err := filepath.Rel(dir, outside)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"abs":     outside,                      // absolute link to a directory outside
		"rel":     rel,                          // relative link climbing out
		"file":    secret,                       // link to a file outside
		"relfile": filepath.Join(rel, "secret"), // relative link to a file outside
		"inside":  "seg",                        // link to a directory inside
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, b, "seg/x", "inside")

	for _, key := range []string{"abs/secret", "rel/secret"} {
		if data, _, err := b.Get(ctx, key); err == nil {
			t.Errorf("Get(%q) read %q through a link out of the root", key, data)
		}
		if a, err := b.Stat(ctx, key); err == nil {
			t.Errorf("Stat(%q) = %+v through a link out of the root", key, a)
		}
		if _, err := b.Put(ctx, key, []byte("overwritten"), objstore.PutOptions{}); err == nil {
			t.Errorf("Put(%q) wrote through a link out of the root", key)
		}
		if _, err := b.Put(ctx, key+"-new", []byte("created"), objstore.PutOptions{IfNoneMatch: true}); err == nil {
			t.Errorf("Put(%q) created a file through a link out of the root", key+"-new")
		}
		if err := b.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) through a link out of the root reported success", key)
		}
	}
	// Links as the last element are not objects, and writing replaces the link, not its target.
	for _, key := range []string{"file", "relfile"} {
		if _, _, err := b.Get(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Get(%q) of a link: %v, want ErrNotFound", key, err)
		}
		if _, err := b.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Stat(%q) of a link: %v, want ErrNotFound", key, err)
		}
		if err := b.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) of a link: %v", key, err)
		}
	}
	mustPut(t, b, "file", "replaced the link")
	if fi, err := os.Lstat(filepath.Join(dir, "file")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("after Put the link is %v, %v; want a regular file", fi, err)
	}

	if data, err := os.ReadFile(secret); err != nil || string(data) != "outside" {
		t.Fatalf("file outside the root changed: %q, %v", data, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Fatalf("files were created outside the root: %v", entries)
	}
	if got := listAll(t, b, ""); !slices.Equal(got, []string{"file", "seg/x"}) {
		t.Errorf("List = %q; links must not be listed or followed", got)
	}
}

func TestKeyThatIsAlsoADirectory(t *testing.T) {
	ctx := context.Background()
	b := open(t, t.TempDir())
	mustPut(t, b, "a/b", "child")
	mustPut(t, b, "x", "file")
	tests := []struct {
		key  string
		opts objstore.PutOptions
	}{
		{"a", objstore.PutOptions{}},
		{"a", objstore.PutOptions{IfNoneMatch: true}},
		{"x/y", objstore.PutOptions{}},
		{"x/y", objstore.PutOptions{IfNoneMatch: true}},
		{"x/y/z", objstore.PutOptions{}},
	}
	for _, tc := range tests {
		_, err := b.Put(ctx, tc.key, []byte("conflict"), tc.opts)
		if err == nil || errors.Is(err, objstore.ErrExists) || errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Put(%q, %+v) = %v; want a conflict error that is not a sentinel", tc.key, tc.opts, err)
		}
	}
	if _, _, err := b.Get(ctx, "a"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get of a directory: %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete of a directory: %v", err)
	}
	if got := listAll(t, b, ""); !slices.Equal(got, []string{"a/b", "x"}) {
		t.Errorf("List = %q", got)
	}
}

func TestDeletePrunesEmptyDirectories(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, dir)
	mustPut(t, b, "p/q/r/s", "1")
	mustPut(t, b, "p/t", "2")
	mustPut(t, b, "top", "3")
	exists := func(rel string) bool {
		_, err := os.Lstat(filepath.Join(dir, rel))
		return err == nil
	}
	if err := b.Delete(ctx, "p/q/r/s"); err != nil {
		t.Fatal(err)
	}
	if exists("p/q") || !exists("p/t") {
		t.Errorf("after deleting p/q/r/s: p/q exists=%v, p/t exists=%v", exists("p/q"), exists("p/t"))
	}
	if err := b.Delete(ctx, "p/t", "top"); err != nil {
		t.Fatal(err)
	}
	if exists("p") || !exists(".") || !exists(".stowken/lock") {
		t.Errorf("after deleting everything: p exists=%v, root exists=%v", exists("p"), exists("."))
	}
	// The bucket still works.
	mustPut(t, b, "p/q/again", "4")
}

func TestETag(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, dir)
	first := mustPut(t, b, "k", "same")
	second := mustPut(t, b, "k", "same")
	if first.ETag == second.ETag {
		t.Errorf("rewriting identical content kept ETag %q", first.ETag)
	}
	if _, err := b.Put(ctx, "k", []byte("x"), objstore.PutOptions{IfMatch: first.ETag}); !errors.Is(err, objstore.ErrPrecondition) {
		t.Errorf("If-Match with the ETag of an identical earlier version: %v, want ErrPrecondition", err)
	}
	// Another Bucket on the same directory (another process, or after a restart) sees the same ETag.
	other := open(t, dir)
	a, err := other.Stat(ctx, "k")
	if err != nil || a.ETag != second.ETag {
		t.Errorf("Stat from a second Bucket = %+v, %v; want ETag %q", a, err, second.ETag)
	}
	if _, err := other.Put(ctx, "k", []byte("v3"), objstore.PutOptions{IfMatch: second.ETag}); err != nil {
		t.Errorf("If-Match from a second Bucket: %v", err)
	}
}

func TestOpen(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", file, filepath.Join(file, "sub")} {
		if b, err := fs.Open(dir); err == nil {
			_ = b.Close()
			t.Errorf("Open(%q) succeeded", dir)
		}
	}
	nested := filepath.Join(t.TempDir(), "a", "b")
	b := open(t, nested)
	if b.Dir() != nested {
		t.Errorf("Dir() = %q, want %q", b.Dir(), nested)
	}
}

// TestOpenReadOnly: a read-only bucket reads what is stored, creates nothing, and refuses Put
// and Delete with objstore.ErrReadOnly; a missing directory is an error.
func TestOpenReadOnly(t *testing.T) {
	ctx := t.Context()
	missing := filepath.Join(t.TempDir(), "missing")
	if b, err := fs.OpenReadOnly(missing); err == nil {
		_ = b.Close()
		t.Fatal("OpenReadOnly of a missing directory succeeded")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenReadOnly created the directory: %v", err)
	}
	dir := t.TempDir()
	b := open(t, dir)
	if _, err := b.Put(ctx, "k", []byte("v"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ro, err := fs.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if data, _, err := ro.Get(ctx, "k"); err != nil || string(data) != "v" {
		t.Fatalf("Get = %q, %v", data, err)
	}
	if _, err := ro.Put(ctx, "k2", []byte("v"), objstore.PutOptions{}); !errors.Is(err, objstore.ErrReadOnly) {
		t.Errorf("Put: %v, want objstore.ErrReadOnly", err)
	}
	if err := ro.Delete(ctx, "k"); !errors.Is(err, objstore.ErrReadOnly) {
		t.Errorf("Delete: %v, want objstore.ErrReadOnly", err)
	}
	if _, err := ro.Stat(ctx, "k"); err != nil {
		t.Errorf("Stat after the refused Delete: %v", err)
	}
	// Nothing of the bucket's own state is created in a directory that lacks it.
	bare := t.TempDir()
	ro2, err := fs.OpenReadOnly(bare)
	if err != nil {
		t.Fatal(err)
	}
	defer ro2.Close()
	if ents, _ := os.ReadDir(bare); len(ents) != 0 {
		t.Errorf("OpenReadOnly created %v", ents)
	}
}

// increment adds one to the decimal counter stored at key with a compare-and-swap loop and
// returns how many attempts it took.
func increment(ctx context.Context, b objstore.Bucket, key string) (int, error) {
	for attempt := 1; ; attempt++ {
		data, a, err := b.Get(ctx, key)
		if err != nil {
			return attempt, err
		}
		n, err := strconv.Atoi(string(data))
		if err != nil {
			return attempt, err
		}
		_, err = b.Put(ctx, key, []byte(strconv.Itoa(n+1)), objstore.PutOptions{IfMatch: a.ETag})
		if !errors.Is(err, objstore.ErrPrecondition) {
			return attempt, err
		}
	}
}

// TestCompareAndSwapAcrossBuckets increments a counter from several goroutines through several
// Bucket values on one directory: only the flock, not the in-process mutex, keeps them apart.
func TestCompareAndSwapAcrossBuckets(t *testing.T) {
	const buckets, workers, increments = 4, 4, 25
	ctx := context.Background()
	dir := t.TempDir()
	bs := make([]*fs.Bucket, buckets)
	for i := range bs {
		bs[i] = open(t, dir)
	}
	mustPut(t, bs[0], "counter", "0")
	var wg sync.WaitGroup
	errs := make(chan error, buckets*workers)
	var retries atomic.Int64
	for i := range buckets * workers {
		wg.Go(func() {
			for range increments {
				n, err := increment(ctx, bs[i%buckets], "counter")
				retries.Add(int64(n - 1))
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, _, err := bs[0].Get(ctx, "counter")
	if want := strconv.Itoa(buckets * workers * increments); err != nil || string(data) != want {
		t.Fatalf("counter = %q, %v; want %s (lost updates)", data, err, want)
	}
	t.Logf("%d compare-and-swap conflicts retried", retries.Load())
}

const helperEnv = "STOWKEN_FS_TEST_HELPER_DIR"

// TestHelperProcess is run by TestCompareAndSwapAcrossProcesses in child processes.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper for TestCompareAndSwapAcrossProcesses")
	}
	b := open(t, dir)
	ctx := context.Background()
	for range 50 {
		if _, err := increment(ctx, b, "counter"); err != nil {
			t.Fatal(err)
		}
	}
	// Every process also races to create the same key; the test counts the winners.
	if _, err := b.Put(ctx, "created-by", []byte(strconv.Itoa(os.Getpid())), objstore.PutOptions{IfNoneMatch: true}); err == nil {
		if _, err := b.Put(ctx, "winners/"+strconv.Itoa(os.Getpid()), nil, objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	} else if !errors.Is(err, objstore.ErrExists) {
		t.Fatal(err)
	}
}

func TestCompareAndSwapAcrossProcesses(t *testing.T) {
	const procs = 4
	dir := t.TempDir()
	b := open(t, dir)
	mustPut(t, b, "counter", "0")
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for i := range procs {
		wg.Go(func() {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"="+dir)
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("helper %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	data, _, err := b.Get(context.Background(), "counter")
	if want := strconv.Itoa(procs * 50); err != nil || string(data) != want {
		t.Fatalf("counter = %q, %v; want %s (lost updates across processes)", data, err, want)
	}
	if winners := listAll(t, b, "winners/"); len(winners) != 1 {
		t.Fatalf("create-if-absent across processes: %d winners %q, want 1", len(winners), winners)
	}
}
