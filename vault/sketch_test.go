package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/stowken/stowken/catalog"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/objstore"
	objfaulty "github.com/stowken/stowken/objstore/faulty"
	objmem "github.com/stowken/stowken/objstore/mem"
	refmem "github.com/stowken/stowken/refcount/mem"
)

// TestSketchBackfill: Sketch writes the sketches of the entries that have none (written by a
// StoreBatch, and gathered by GC, without sketches), equal to those computed from their
// tokens, rewriting the catalog's files in place: one row per conversation in the files
// afterwards, none of a deleted conversation (the rewrite applies the deletions, as a
// compaction does). A second run changes nothing. While a GC run
// holds the lease, Sketch does nothing.
func TestSketchBackfill(t *testing.T) {
	ctx := context.Background()
	convs, _ := readCorpus(t, corpus.Path(t, "sample.jsonl"), 10)
	clock := &fakeclock.Clock{}
	v, b, _ := newMemVault(t, Options{Now: clock.Now})
	if _, errs := v.StoreBatch(ctx, convs[2:]); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	for _, c := range convs[:2] {
		if _, err := v.Store(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Delete(ctx, convs[5].ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(retireAfter)
	if rep, err := v.GC(ctx, GCOptions{}); err != nil || rep.Gathered != 2 {
		t.Fatalf("gc: %+v, %v; want 2 entries gathered", rep, err)
	}
	if err := v.Delete(ctx, convs[6].ID); err != nil { // after GC: its row is in a file
		t.Fatal(err)
	}
	want := len(convs) - 2

	// Another run holds the lease.
	other := randomHex(12)
	if held, err := v.acquireGCLease(ctx, other); err != nil || held {
		t.Fatal(held, err)
	}
	if rep, err := v.Sketch(ctx); err != nil || !rep.LeaseHeld || rep.Sketched != 0 {
		t.Fatalf("sketch while the lease is held: %+v, %v", rep, err)
	}
	v.releaseGCLease(ctx, other)

	rep, err := v.Sketch(ctx)
	if err != nil || rep.Sketched != want || rep.Unreadable != 0 || rep.Partial || rep.Catalog.FilesWritten == 0 {
		t.Fatalf("sketch: %+v, %v; want %d entries sketched", rep, err, want)
	}
	n := 0
	err = v.ListAll(ctx, catalog.Query{}, func(e catalog.Entry) error {
		n++
		sig, vec := sketchesOf(t, v, e.ID)
		if !bytes.Equal(e.Signature, sig) || !bytes.Equal(e.Vector, vec) {
			t.Errorf("%s: its sketches are not those of its tokens", e.ID)
		}
		return nil
	})
	if err != nil || n != want {
		t.Fatalf("listed %d entries, %v; want %d", n, err, want)
	}
	// The files hold one row per conversation stored, and none of the deleted ones.
	rows := 0
	err = b.List(ctx, catalog.FilePrefix, func(a objstore.Attrs) error {
		data, _, err := b.Get(ctx, a.Key)
		if err != nil {
			return err
		}
		rs, err := pq.Read[catparquet.Row](bytes.NewReader(data), int64(len(data)))
		for _, r := range rs {
			if r.ID == convs[5].ID || r.ID == convs[6].ID {
				t.Errorf("the files hold the row of %s, deleted", r.ID)
			}
		}
		rows += len(rs)
		return err
	})
	if err != nil || rows != want {
		t.Fatalf("the files hold %d rows, %v; want %d", rows, err, want)
	}
	if rep, err := v.Sketch(ctx); err != nil || rep.Sketched != 0 || rep.Catalog.FilesWritten != 0 {
		t.Fatalf("a second sketch: %+v, %v; want nothing to do", rep, err)
	}
}

// TestSketchStopsAtItsDeadline: a Sketch run that reaches ClaimTTL/2 after it started writes no
// file (a Delete's catalog deletion outlives that, as for a compaction) and reports Partial;
// the next run does the work.
func TestSketchStopsAtItsDeadline(t *testing.T) {
	ctx := context.Background()
	convs, _ := readCorpus(t, corpus.Path(t, "sample.jsonl"), 30)
	clock := &fakeclock.Clock{}
	b := objfaulty.New(objmem.New())
	refs := refmem.New()
	open := func() *Vault { // with a catalog of its own, which has read nothing yet
		v, err := New(ctx, Options{Now: clock.Now, Bucket: b, Refs: refs, Catalog: catparquet.New(b, catparquet.Options{Now: clock.Now})})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, errs := open().StoreBatch(ctx, convs); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	v := open()
	// The run reads the catalog's file; meanwhile its deadline passes.
	atGet, release := make(chan *objfaulty.Call, 1), make(chan struct{})
	b.Add(&objfaulty.Fault{Match: nthCall(1, objfaulty.OnPrefix(objfaulty.OpGet, catalog.FilePrefix)), Reached: atGet, Wait: release})
	done := goDo(func() (SketchReport, error) { return v.Sketch(ctx) })
	recv(t, atGet)
	clock.Advance(DefaultClaimTTL/2 + time.Second)
	close(release)
	if r := recv(t, done); r.err != nil || !r.v.Partial || r.v.Catalog.FilesWritten != 0 {
		t.Fatalf("sketch past its deadline: %+v, %v; want Partial and no file written", r.v, r.err)
	}
	if rep, err := v.Sketch(ctx); err != nil || rep.Partial || rep.Sketched != len(convs) {
		t.Fatalf("the next sketch: %+v, %v; want %d rows sketched", rep, err, len(convs))
	}
}
