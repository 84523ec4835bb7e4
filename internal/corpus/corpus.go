// Package corpus locates and reads the shared conversation corpora (../shared/corpus, beside
// the repository) for tests and benchmarks. The corpora are never copied into the repository.
package corpus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the corpus directory: $STOWKEN_CORPUS, or the first shared/corpus found beside
// the working directory or one of its parents. It returns "" when there is none.
func Dir() string {
	if d := os.Getenv("STOWKEN_CORPUS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		c := filepath.Join(dir, "shared", "corpus")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// Require returns the corpus directory for a test. Where it is absent, the test is skipped
// with a clear message, except under CI=true, where it fails: CI must never pass by skipping.
func Require(tb testing.TB) string {
	tb.Helper()
	d := Dir()
	if d != "" {
		return d
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("shared/corpus not found beside the repository (set STOWKEN_CORPUS); required under CI=true")
	}
	tb.Skip("shared/corpus not found beside the repository (set STOWKEN_CORPUS); skipping corpus test")
	return ""
}

// Path returns the corpus file name under the directory of Require.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Require(tb), name)
}

// Glob returns the corpus files matching pattern, sorted, failing the test when none match.
func Glob(tb testing.TB, pattern string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(Require(tb), pattern))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus files match %s", pattern)
	}
	return files
}

// Lines calls fn for every non-empty line of a JSONL file, gzip-compressed or not (detected by
// its magic bytes), with its 1-based line number. fn must not keep line.
func Lines(path string, fn func(line []byte, n int) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	lr := bufio.NewReaderSize(r, 1<<20)
	for n := 1; ; n++ {
		line, err := lr.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if ferr := fn(bytes.TrimSuffix(line, []byte("\n")), n); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
}
