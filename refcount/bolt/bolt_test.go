package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/refcount/refcounttest"
)

func TestConformance(t *testing.T) {
	refcounttest.Run(t, func(t *testing.T) refcount.Backend {
		s, err := Open(filepath.Join(t.TempDir(), "refs.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "refs.db") // parent dirs are created
	now := time.Now().UTC().Truncate(time.Millisecond)

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddRefs(ctx, "owner", []string{"seg-a", "seg-b"}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateHead(ctx, "seg-a", 10, now); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateHead(ctx, "seg-b", 20, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(ctx, "seg-b", "gc-1", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkCandidates(ctx, []string{"seg-c"}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, seg := range []string{"seg-a", "seg-b"} {
		if ok, err := s.HasRefs(ctx, seg); err != nil || !ok {
			t.Fatalf("HasRefs(%s) after reopen = %v, %v", seg, ok, err)
		}
	}
	a, err := s.GetHead(ctx, "seg-a")
	if err != nil || a.State != refcount.Live || a.Size != 10 || !a.Created.Equal(now) {
		t.Fatalf("GetHead(seg-a) after reopen = %+v, %v", a, err)
	}
	b, err := s.GetHead(ctx, "seg-b")
	if err != nil || b.State != refcount.Deleting || b.ClaimID != "gc-1" || !b.ClaimExpires.Equal(now.Add(time.Hour)) {
		t.Fatalf("GetHead(seg-b) after reopen = %+v, %v", b, err)
	}
	// The claim survived too: another collector still cannot take it.
	if err := s.Claim(ctx, "seg-b", "gc-2", now.Add(time.Hour), now); !errors.Is(err, refcount.ErrConflict) {
		t.Fatalf("Claim by another id after reopen: %v, want ErrConflict", err)
	}
	var cands []refcount.Candidate
	if err := s.ListCandidates(ctx, func(c refcount.Candidate) error { cands = append(cands, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 || cands[0].Segment != "seg-c" || !cands[0].Since.Equal(now) {
		t.Fatalf("ListCandidates after reopen = %+v", cands)
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	// bbolt's flock conflicts between two opens of the file even within one process.
	s2, err := open(path, 200*time.Millisecond, false)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !strings.Contains(err.Error(), "database is locked by another process") {
		t.Fatalf("second Open: %v, want a 'database is locked by another process' error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %v", d)
	}
}

func TestListPagesAndCallbackMayWrite(t *testing.T) {
	ctx := t.Context()
	s, err := Open(filepath.Join(t.TempDir(), "refs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	n := 2*listPage + 17
	segs := make([]string, n)
	for i := range segs {
		segs[i] = fmt.Sprintf("seg-%05d", i)
	}
	if err := s.AddRefs(ctx, "owner", segs, now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkCandidates(ctx, segs, now); err != nil {
		t.Fatal(err)
	}
	// The callback writes to the store while the listing runs (it must not deadlock), and
	// every item is still reported exactly once across page boundaries.
	seen := map[string]bool{}
	var rest []string
	err = s.ListRefs(ctx, func(r refcount.Ref) error {
		if seen[r.Segment] {
			return fmt.Errorf("%s reported twice", r.Segment)
		}
		seen[r.Segment] = true
		if len(seen)%100 != 1 {
			rest = append(rest, r.Segment)
			return nil
		}
		return s.RemoveRefs(ctx, r.Owner, []string{r.Segment}) // one write per 100, across pages
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("ListRefs reported %d refs, want %d", len(seen), n)
	}
	if err := s.RemoveRefs(ctx, "owner", rest); err != nil {
		t.Fatal(err)
	}
	count := 0
	if err := s.ListRefs(ctx, func(refcount.Ref) error { count++; return nil }); err != nil || count != 0 {
		t.Fatalf("after removing every ref during the listing: %d left, %v", count, err)
	}
	count = 0
	if err := s.ListCandidates(ctx, func(refcount.Candidate) error { count++; return nil }); err != nil || count != n {
		t.Fatalf("ListCandidates: %d, %v; want %d", count, err, n)
	}
}

// TestReadOnly: reopening an existing store writes nothing; read-only opens share the file,
// refuse every write with refcount.ErrReadOnly, and exclude a writer; a missing file is an
// error, not a new store.
func TestReadOnly(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "refs.db")
	if _, err := OpenReadOnly(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenReadOnly of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenReadOnly created the file: %v", err)
	}
	now := time.Now()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddRefs(ctx, "o", []string{"seg"}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A read-write open of an existing store writes nothing either.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r1, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := OpenReadOnly(path) // a shared lock: both are held at once
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if ok, err := r2.HasRefs(ctx, "seg"); err != nil || !ok {
		t.Fatalf("HasRefs through a read-only open = %v, %v", ok, err)
	}
	writes := map[string]error{
		"AddRefs":         r1.AddRefs(ctx, "o", []string{"other"}, now),
		"RemoveRefs":      r1.RemoveRefs(ctx, "o", []string{"seg"}),
		"CreateHead":      r1.CreateHead(ctx, "seg", 1, now),
		"Claim":           r1.Claim(ctx, "seg", "c", now.Add(time.Hour), now),
		"MarkCandidates":  r1.MarkCandidates(ctx, []string{"seg"}, now),
		"RemoveCandidate": r1.RemoveCandidate(ctx, "seg", now),
	}
	for name, err := range writes {
		if !errors.Is(err, refcount.ErrReadOnly) {
			t.Errorf("%s through a read-only open: %v, want refcount.ErrReadOnly", name, err)
		}
	}
	if w, err := open(path, 200*time.Millisecond, false); err == nil {
		w.Close()
		t.Fatal("a read-write open succeeded beside read-only ones")
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the file changed: reopening and read-only opens must write nothing")
	}
}
