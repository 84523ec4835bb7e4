package vault

import (
	"errors"
	"strings"
	"testing"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/manifest"
	objfaulty "github.com/stowken/stowken/objstore/faulty"
	reffaulty "github.com/stowken/stowken/refcount/faulty"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/tokenizer"
)

// Race catalogue (t): GC compacts a batch some of whose conversations were deleted, while
// Deletes, Retrieves and its own failures interleave. See compact.go.

// storeBatch stores cs as one batch and returns its id.
func (e *gcEnv) storeBatch(cs ...*conversation.Conversation) string {
	e.t.Helper()
	if _, errs := e.v.StoreBatch(e.ctx, cs); errors.Join(errs...) != nil {
		e.t.Fatal(errors.Join(errs...))
	}
	m, err := e.check.Manifest(e.ctx, cs[0].ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.Batch
}

// compactable stores cs as one batch, deletes the last of them and lets the batch's writer
// deadline pass, so that the next collection compacts the batch. It returns the batch.
func (e *gcEnv) compactable(cs ...*conversation.Conversation) string {
	e.t.Helper()
	batch := e.storeBatch(cs...)
	e.del(cs[len(cs)-1].ID)
	e.clock.Advance(retireAfter)
	return batch
}

// batchOf returns the batch that stores id now.
func (e *gcEnv) batchOf(id string) string {
	e.t.Helper()
	p, err := e.refs.Inner().GetPointer(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Batch
}

// mustBeErased fails when an object of the bucket still holds c: a batch object with its
// manifest, or a segment with a run of its last message's tokens (unique to it in these tests).
func (e *gcEnv) mustBeErased(c *conversation.Conversation) {
	e.t.Helper()
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		e.t.Fatal(err)
	}
	unique := tok.Encode(c.Messages[len(c.Messages)-1].Content)[10:40]
	for _, key := range listKeys(e.t, e.bucket.Inner(), "") {
		switch {
		case strings.HasPrefix(key, manifest.BatchPrefix):
			id := strings.TrimPrefix(key, manifest.BatchPrefix)
			b, err := e.check.fetchBatch(e.ctx, id)
			if err != nil {
				e.t.Fatalf("batch object %s: %v", id, err)
			}
			if b.manifests[c.ID] != nil {
				e.t.Fatalf("batch object %s holds the manifest of deleted conversation %q", id, c.ID)
			}
		case strings.HasPrefix(key, segment.Prefix):
			id := segment.KeyID(key)
			tokens, err := e.check.readSegment(e.ctx, c.Tokenizer, id)
			if err != nil {
				e.t.Fatalf("segment %s: %v", id, err)
			}
			if containsRun(tokens, unique) {
				e.t.Fatalf("segment %.12s holds the text of deleted conversation %q", id, c.ID)
			}
		}
	}
}

// collectAll lets every deadline pass and runs the collector until it deletes nothing more.
func (e *gcEnv) collectAll() {
	e.t.Helper()
	for range 6 {
		e.clock.Advance(retireAfter)
		if rep := e.gc(GCOptions{}); rep.Deleted == 0 && rep.Compacted == 0 && rep.Candidates == 0 {
			return
		}
	}
}

// TestCompactionErases: a batch of three loses one conversation; the collector moves the two
// others into a new batch, retires the old one, and collects its packs and batch object.
func TestCompactionErases(t *testing.T) {
	e := newGCEnv(t)
	a, b, c := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2), gcConv("c", 1, 3, 3)
	old := e.storeBatch(a, b, c)
	e.del("c")
	if rep := e.gc(GCOptions{}); rep.Compacted != 0 {
		t.Fatalf("gc before the batch's writer deadline passed: %+v; want no compaction", rep)
	}
	e.clock.Advance(retireAfter)
	if rep := e.gc(GCOptions{DryRun: true}); rep.Compacted != 1 || rep.Moved != 0 || e.batchOf("a") != old {
		t.Fatalf("dry run: %+v; want one batch to compact and nothing moved", rep)
	}
	if rep := e.gc(GCOptions{}); rep.Compacted != 1 || rep.Moved != 2 || rep.Deleted != 1 {
		t.Fatalf("gc: %+v; want a's and b's pointers moved and the old batch object deleted", rep)
	}
	if e.batchOf("a") == old || e.batchOf("a") != e.batchOf("b") {
		t.Fatalf("a in %s, b in %s; want both in one new batch", e.batchOf("a"), e.batchOf("b"))
	}
	e.collectAll()
	e.mustBeErased(c)
	e.checkStored(a, b)
	e.cleanUp(a, b)
}

// (t1) A conversation is deleted after the compactor read its pointer and before it moves it:
// the move finds it changed, and the new batch, marked before the moves, is compacted in turn.
func TestCompactionRaceDeleteBeforeMove(t *testing.T) {
	e := newGCEnv(t)
	a, b, c := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2), gcConv("c", 1, 3, 3)
	e.compactable(a, b, c)
	atMove, release := make(chan *reffaulty.Call, 1), make(chan struct{})
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpMovePointer, "b"), Reached: atMove, Wait: release})
	done := goDo(func() (GCReport, error) { return e.v.GC(e.ctx, GCOptions{}) })
	recv(t, atMove)
	if err := e.vault().Delete(e.ctx, "b"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if r := recv(t, done); r.err != nil || r.v.Moved != 1 {
		t.Fatalf("gc: %+v, %v; want only a moved", r.v, r.err)
	}
	e.collectAll()
	e.mustBeErased(b)
	e.mustBeErased(c)
	e.checkStored(a)
	e.cleanUp(a)
}

// (t2) A Delete reads a conversation's pointer, the compactor moves it to a new batch, and a
// collection finds the new batch whole; then the Delete deletes. Its delete is conditional on
// the batch too: it finds the pointer moved, reads again, and marks the new batch.
func TestCompactionRaceDeleteWithPointerReadBeforeMove(t *testing.T) {
	e := newGCEnv(t)
	a, b, c := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2), gcConv("c", 1, 3, 3)
	e.compactable(a, b, c)
	atDelete, release := make(chan *reffaulty.Call, 1), make(chan struct{})
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpDeletePointer, "b"), Reached: atDelete, Wait: release})
	deleted := goDo(func() (struct{}, error) { return struct{}{}, e.vault().Delete(e.ctx, "b") })
	recv(t, atDelete)
	if rep := e.gc(GCOptions{}); rep.Moved != 2 {
		t.Fatalf("gc: %+v; want a and b moved", rep)
	}
	e.clock.Advance(retireAfter)
	if rep := e.gc(GCOptions{}); rep.Compacted != 0 {
		t.Fatalf("gc: %+v; want the new batch found whole", rep)
	}
	close(release)
	if r := recv(t, deleted); r.err != nil {
		t.Fatalf("delete: %v", r.err)
	}
	e.collectAll()
	e.mustBeErased(b)
	e.checkStored(a)
	e.cleanUp(a)
}

// (t3) A move is applied and reported as failed. The new batch keeps its references (the move
// may have been applied), and the old one stays marked until a later compaction finds the
// pointer moved: the conversation is never without its objects.
func TestCompactionRaceMoveLostResponse(t *testing.T) {
	e := newGCEnv(t)
	a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
	old := e.compactable(a, b)
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpMovePointer, "a"), Kind: reffaulty.FailAfter})
	if _, err := e.v.GC(e.ctx, GCOptions{}); err == nil {
		t.Fatal("gc with a lost move response succeeded")
	}
	if e.batchOf("a") == old {
		t.Fatal("the move was not applied")
	}
	e.checkStored(a)
	e.collectAll()
	e.mustBeErased(b)
	e.checkStored(a)
	e.cleanUp(a)
}

// (t4) A compaction stops half-way (a move fails): some conversations are in the new batch,
// others still in the old one. Later collections compact both and converge.
func TestCompactionCutShort(t *testing.T) {
	e := newGCEnv(t)
	a, b, c := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2), gcConv("c", 1, 3, 3)
	old := e.compactable(a, b, c)
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpMovePointer, "b"), Kind: reffaulty.FailBefore})
	if _, err := e.v.GC(e.ctx, GCOptions{}); err == nil {
		t.Fatal("gc with a failed move succeeded")
	}
	if e.batchOf("a") == old || e.batchOf("b") != old {
		t.Fatalf("a in %s, b in %s; want a moved and b not", e.batchOf("a"), e.batchOf("b"))
	}
	e.checkStored(a, b)
	e.collectAll()
	e.mustBeErased(c)
	e.checkStored(a, b)
	e.cleanUp(a, b)
}

// (t5) A Retrieve reads a conversation's pointer, and before it reads the batch object the
// compactor moves the conversation and the old batch object is collected: the Retrieve finds
// the pointer changed and reads again.
func TestCompactionRaceRetrieve(t *testing.T) {
	e := newGCEnv(t)
	a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
	old := e.compactable(a, b)
	reader := e.vault()
	atGet, release := make(chan *objfaulty.Call, 1), make(chan struct{})
	e.bucket.Add(&objfaulty.Fault{Match: nthCall(1, objfaulty.OnKey(objfaulty.OpGet, manifest.BatchKey(old))), Reached: atGet, Wait: release})
	got := goDo(func() (*conversation.Conversation, error) { return reader.Retrieve(e.ctx, "a") })
	recv(t, atGet)
	if rep := e.gc(GCOptions{}); rep.Moved != 1 || rep.Deleted != 1 {
		t.Fatalf("gc: %+v; want a moved and the old batch object deleted", rep)
	}
	close(release)
	r := recv(t, got)
	if r.err != nil {
		t.Fatalf("retrieve across a compaction: %v", r.err)
	}
	if err := sameConversation(a, r.v); err != nil {
		t.Fatal(err)
	}
	e.cleanUp(a)
}

// (t6) A Store of a conversation that is stored already reads the stored copy to compare it,
// and the compactor moves that copy and the old batch's objects are collected before the
// Store reads them: the Store finds the pointer moved, reads again, and reports Existed.
func TestCompactionRaceStoreAgain(t *testing.T) {
	e := newGCEnv(t)
	a, b := gcConv("a", 1, 1, 1), gcConv("b", 1, 2, 2)
	e.compactable(a, b)
	writer := e.vault()
	atGet, release := make(chan *objfaulty.Call, 1), make(chan struct{})
	e.bucket.Add(&objfaulty.Fault{Match: nthCall(1, objfaulty.OnPrefix(objfaulty.OpGet, segment.Prefix)), Reached: atGet, Wait: release})
	again := *a
	stored := goDo(func() (StoreResult, error) { return writer.Store(e.ctx, &again) })
	recv(t, atGet)
	if rep := e.gc(GCOptions{}); rep.Moved != 1 {
		t.Fatalf("gc: %+v; want a moved", rep)
	}
	if rep := e.gc(GCOptions{}); rep.Deleted == 0 {
		t.Fatalf("gc: %+v; want the old batch's packs deleted", rep)
	}
	close(release)
	if r := recv(t, stored); r.err != nil || !r.v.Existed {
		t.Fatalf("store again across a compaction: %+v, %v; want Existed", r.v, r.err)
	}
	e.cleanUp(a)
}
