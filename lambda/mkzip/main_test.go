package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	content := bytes.Repeat([]byte("\x7fELF not really a binary "), 1000)
	if err := os.WriteFile(bin, content, 0o600); err != nil { // not executable: the archive must make it so
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fn.zip")
	if err := write(out, []string{bin}); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 {
		t.Fatalf("%d entries, want 1", len(zr.File))
	}
	f := zr.File[0]
	if f.Name != "bootstrap" {
		t.Errorf("entry %q, want bootstrap at the root", f.Name)
	}
	if f.Mode().Perm() != 0o755 || !f.Mode().IsRegular() {
		t.Errorf("mode %v, want -rwxr-xr-x (Lambda runs bootstrap only if it is executable)", f.Mode())
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("content differs (%v)", err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("archive mode %v (%v), want 0644", fi.Mode(), err)
	}

	// Same input, same bytes: the deployment's source_code_hash changes only with the binary.
	if err := os.Chtimes(bin, modTime, modTime.AddDate(40, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := write(out, []string{bin}); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(out); !bytes.Equal(first, second) {
		t.Error("the archive differs between two runs over the same file")
	}

	if err := write(filepath.Join(dir, "x.zip"), []string{bin, bin}); err == nil {
		t.Error("two files with one name were accepted")
	}
	if err := write(filepath.Join(dir, "y.zip"), []string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing file was accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "y.zip")); !os.IsNotExist(err) {
		t.Error("a failed write left an archive behind")
	}
}
