package objstoretest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/objstore/objstoretest"
)

// broken wraps a correct bucket and breaks one promise of the interface.
type broken struct {
	objstore.Bucket
	mode string
}

func (b broken) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) (objstore.Attrs, error) {
	switch b.mode {
	case "ignores-if-none-match":
		opts.IfNoneMatch = false
	case "ignores-if-match":
		opts.IfMatch = ""
	case "if-match-missing-is-not-found":
		if opts.IfMatch != "" {
			if _, err := b.Bucket.Stat(ctx, key); errors.Is(err, objstore.ErrNotFound) {
				return objstore.Attrs{}, err
			}
		}
	case "racy-create":
		if opts.IfNoneMatch {
			if _, err := b.Bucket.Stat(ctx, key); err == nil {
				return objstore.Attrs{}, objstore.ErrExists
			}
			time.Sleep(10 * time.Millisecond)
			opts.IfNoneMatch = false
		}
	case "ignores-context":
		ctx = context.Background()
	case "untranslated-invalid-key":
		a, err := b.Bucket.Put(ctx, key, data, opts)
		if errors.Is(err, objstore.ErrInvalidKey) {
			err = errors.New("bad key")
		}
		return a, err
	}
	return b.Bucket.Put(ctx, key, data, opts)
}

func (b broken) Get(ctx context.Context, key string) ([]byte, objstore.Attrs, error) {
	data, a, err := b.Bucket.Get(ctx, key)
	if b.mode == "missing-is-empty" && errors.Is(err, objstore.ErrNotFound) {
		return nil, objstore.Attrs{Key: key}, nil
	}
	return data, a, err
}

func (b broken) Delete(ctx context.Context, keys ...string) error {
	if b.mode == "delete-first-1000" && len(keys) > 1000 {
		keys = keys[:1000]
	}
	return b.Bucket.Delete(ctx, keys...)
}

func (b broken) ListAfter(ctx context.Context, prefix, after string, fn func(objstore.Attrs) error) error {
	if b.mode == "list-after-ignored" {
		after = ""
	}
	return b.Bucket.ListAfter(ctx, prefix, after, fn)
}

func (b broken) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	switch b.mode {
	case "list-unsorted":
		var all []objstore.Attrs
		if err := b.Bucket.List(ctx, prefix, func(a objstore.Attrs) error { all = append(all, a); return nil }); err != nil {
			return err
		}
		slices.Reverse(all)
		for _, a := range all {
			if err := fn(a); err != nil {
				return err
			}
		}
		return nil
	case "list-swallows-error":
		return b.Bucket.List(ctx, prefix, func(a objstore.Attrs) error { _ = fn(a); return nil })
	}
	return b.Bucket.List(ctx, prefix, fn)
}

const brokenEnv = "STOWKEN_OBJSTORETEST_BROKEN"

// TestBrokenBackend runs the suite against a broken bucket; TestSuiteDetectsBrokenBackends
// runs it in a child process and expects it to fail.
func TestBrokenBackend(t *testing.T) {
	mode := os.Getenv(brokenEnv)
	if mode == "" {
		t.Skip("run by TestSuiteDetectsBrokenBackends")
	}
	objstoretest.Run(t, func(*testing.T) objstore.Bucket { return broken{mem.New(), mode} })
}

func TestSuiteDetectsBrokenBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	tests := []struct {
		mode string
		want string // in the child's output
	}{
		{"none", ""}, // control: the unbroken bucket passes
		{"ignores-if-none-match", "backend ignores If-None-Match"},
		{"ignores-if-match", "backend ignores If-Match"},
		// The run-time check a vault makes sees it too.
		{"ignores-if-none-match", "ignores If-None-Match: a PUT with"},
		{"ignores-if-match", "ignores If-Match: a PUT with"},
		{"if-match-missing-is-not-found", "If-Match on a missing key: got"},
		{"racy-create", "create-if-absent is not atomic"},
		{"ignores-context", "with a cancelled context succeeded"},
		{"untranslated-invalid-key", "want ErrInvalidKey"},
		{"missing-is-empty", "want ErrNotFound"},
		{"delete-first-1000", "--- FAIL: TestBrokenBackend/DeleteMany"},
		{"list-unsorted", "--- FAIL: TestBrokenBackend/ListOrder"},
		{"list-swallows-error", "want the callback's error"},
		{"list-after-ignored", "--- FAIL: TestBrokenBackend/ListAfter"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenBackend$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+tc.mode)
			out, err := cmd.CombinedOutput()
			if tc.want == "" {
				if err != nil || !strings.Contains(string(out), "--- PASS: TestBrokenBackend") {
					t.Fatalf("the suite fails a correct bucket: %v\n%s", err, out)
				}
				return
			}
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("the suite passed a bucket that is %s (err %v):\n%s", tc.mode, err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("the suite failed for a bucket that is %s, but without %q:\n%s", tc.mode, tc.want, out)
			}
		})
	}
}
