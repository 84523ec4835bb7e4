package testenv

import (
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Files returns every file under dir and its content, by path relative to dir, for tests that
// check an operation left a directory byte-for-byte as it was.
func Files(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
