package main

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stowken/stowken/internal/testenv"
	"github.com/stowken/stowken/location/local"
	"github.com/stowken/stowken/vault"
)

// checkUnchanged fails the test unless dir holds exactly the files of before, byte for byte.
func checkUnchanged(t *testing.T, what, dir string, before map[string][]byte) {
	t.Helper()
	after := testenv.Files(t, dir)
	for name, data := range before {
		if got, ok := after[name]; !ok {
			t.Errorf("%s removed %s", what, name)
		} else if !bytes.Equal(got, data) {
			t.Errorf("%s changed %s", what, name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s created %s", what, name)
		}
	}
}

// TestReadingWritesNothing: commands that only read, and operations that refuse all their
// input, leave every file of the local store as it was, byte for byte.
func TestReadingWritesNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	convs, lines := demoJSONL(t, 7, 4)
	s.ok("import", writeFile(t, "demo.jsonl", []byte(strings.Join(lines, "\n")+"\n")))
	id := convs[0].ID
	truncated := writeFile(t, "truncated.jsonl", []byte(lines[0][:len(lines[0])/2]+"\n"))
	before := testenv.Files(t, s.dir)
	if _, ok := before["refs.db"]; !ok || len(before) < 3 {
		t.Fatalf("the store has files %v", slices.Sorted(maps.Keys(before)))
	}

	for _, args := range [][]string{
		{"ls"}, {"ls", "--json", "--oldest"}, {"get", id}, {"get", "--format", "text", id},
		{"get", "--format", "tokens", id}, {"stats"}, {"stats", "--json", "--by", "model"},
		{"segments"}, {"export"}, {"verify"}, {"gc", "--dry-run", "--grace", "0s"},
	} {
		s.ok(args...)
		checkUnchanged(t, strings.Join(args, " "), s.dir, before)
	}
	refused := []struct {
		args []string
		want string
	}{
		{[]string{"import", truncated}, truncated + ":1: "},
		{[]string{"put", truncated}, "invalid conversation"},
		{[]string{"get", "no-such-id"}, "not found"},
		{[]string{"rm", "no-such-id"}, "no such conversation"},
	}
	for _, tt := range refused {
		r := s.run("", tt.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("stowken %v: want exit 1 and %q on stderr, got %v", tt.args, tt.want, r)
		}
		checkUnchanged(t, strings.Join(tt.args, " "), s.dir, before)
	}

	// An import whose every line is rejected does not create a store either.
	fresh := newStore(t)
	if r := fresh.run("", "import", truncated); r.code != 1 || !strings.Contains(r.stderr, truncated+":1: ") {
		t.Errorf("import of a truncated line into a new store: %v", r)
	}
	if _, err := os.Stat(fresh.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("import of a rejected line created the store: %v", err)
	}
}

// TestReadersShareTheStore: a command that only reads runs while another process holds the
// local store open read-only (bbolt's shared lock), and a write through a read-only vault fails
// with vault.ErrReadOnly and changes nothing.
func TestReadersShareTheStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	convs, lines := demoJSONL(t, 3, 2)
	s.ok("import", writeFile(t, "demo.jsonl", []byte(strings.Join(lines, "\n")+"\n")))
	before := testenv.Files(t, s.dir)

	v, err := local.Open(ctx, s.dir, vault.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if got := s.listIDs(); len(got) != len(convs) {
		t.Errorf("ls beside a read-only open lists %d conversations, want %d", len(got), len(convs))
	}
	s.ok("get", convs[0].ID)
	if err := v.Delete(ctx, convs[0].ID); !errors.Is(err, vault.ErrReadOnly) {
		t.Errorf("Delete through a read-only vault: %v, want vault.ErrReadOnly", err)
	}
	if _, err := v.Store(ctx, convs[0]); !errors.Is(err, vault.ErrReadOnly) {
		t.Errorf("Store through a read-only vault: %v, want vault.ErrReadOnly", err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	checkUnchanged(t, "the read-only opens", s.dir, before)
}
