package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/vault"
)

// TestDeleteThenGC stores sample and generated conversations in two batches, deletes some of
// the first and all of the second, and collects with no grace period once the batches' writer
// deadline has passed: the first batch is compacted into a new one, both retire, and exactly
// the segments the kept conversations use now are left (a prompt that the first batch shares
// stays, one only the second used goes); the kept conversations still retrieve exactly, the
// deleted ones are gone, and Verify is OK. A deleted conversation stored again
// afterwards uploads its segments anew.
func TestDeleteThenGC(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	v := st.open(t, vault.Options{})

	convs, lines := readCorpus(t, "sample.jsonl", 120)
	sharedKept, sharedGone := words(21, 2000), words(22, 4000) // sharedGone has pieces of 2,048 tokens or more
	var gen []*conversation.Conversation
	for i := range 4 { // gc-keep-*: sharedKept, half of them deleted
		gen = append(gen, chat(fmt.Sprintf("gc-keep-%d", i), "gc", sharedKept, words(300+i, 500), "ok"))
	}
	for _, c := range gen {
		convs, lines = append(convs, c), append(lines, mustMarshal(t, c))
	}
	var gone []*conversation.Conversation
	for i := range 3 { // gc-gone-*: sharedGone, all deleted, in a batch of their own
		c := chat(fmt.Sprintf("gc-gone-%d", i), "gc", sharedGone, words(400+i, 500), "ok")
		gone = append(gone, c)
	}
	firstBatch := len(convs)
	for _, c := range gone {
		convs, lines = append(convs, c), append(lines, mustMarshal(t, c))
	}
	for _, batch := range [][]*conversation.Conversation{convs[:firstBatch], gone} {
		if _, errs := v.StoreBatch(ctx, batch); errors.Join(errs...) != nil {
			t.Fatal(errors.Join(errs...))
		}
	}

	// Which conversations go, and which segments each uses.
	deleted := map[string]bool{"gc-keep-0": true, "gc-keep-1": true, "gc-gone-0": true, "gc-gone-1": true, "gc-gone-2": true}
	for i, c := range convs[:120] {
		if i%3 == 0 {
			deleted[c.ID] = true
		}
	}
	segsOf := map[string][]string{}
	keptSegs, goneSegs := map[string]bool{}, map[string]bool{}
	for i, c := range convs {
		m, err := v.Manifest(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		segsOf[c.ID] = m.Segments()
		for _, s := range m.Segments() {
			if i < firstBatch { // the first batch keeps a conversation of its own
				keptSegs[s] = true
			}
		}
	}
	for id := range deleted {
		for _, s := range segsOf[id] {
			if !keptSegs[s] {
				goneSegs[s] = true
			}
		}
	}
	before := st.segmentObjects(t)
	if len(before) != len(keptSegs)+len(goneSegs) {
		t.Fatalf("%d segment objects before deleting, want %d used by kept + %d used only by deleted conversations", len(before), len(keptSegs), len(goneSegs))
	}
	// The prompt the kept conversations share must survive; the one only deleted ones used must go.
	for _, s := range segsOf["gc-keep-0"] {
		if slices.Contains(segsOf["gc-keep-3"], s) && !keptSegs[s] {
			t.Fatalf("shared segment %s not counted as kept", s)
		}
	}
	promptGone := 0
	for _, s := range segsOf["gc-gone-0"] {
		// Shared by two deleted conversations and by no kept one: the prompt's segments (a pack
		// they share with kept conversations stays).
		if slices.Contains(segsOf["gc-gone-2"], s) && !keptSegs[s] {
			promptGone++
			if !goneSegs[s] {
				t.Fatalf("segment %s of the prompt only deleted conversations used is not counted as gone", s)
			}
		}
	}
	if promptGone == 0 || len(goneSegs) == 0 {
		t.Fatalf("test setup: %d prompt segments, %d segments in all to be collected; want some", promptGone, len(goneSegs))
	}

	for _, id := range slices.Sorted(maps.Keys(deleted)) {
		if err := v.Delete(ctx, id); err != nil {
			t.Fatalf("delete %q: %v", id, err)
		}
	}
	if err := v.Delete(ctx, "gc-gone-0"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("deleting %q again: %v, want ErrNotFound", "gc-gone-0", err)
	}

	// A grace period keeps everything; no grace collects exactly the segments only deleted
	// conversations used; a second run finds nothing to do.
	rep, err := v.GC(ctx, vault.GCOptions{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 0 || rep.TooYoung != rep.Candidates {
		t.Errorf("GC with a 1h grace: %+v; want every candidate too young, nothing deleted", rep)
	}
	if n := len(st.segmentObjects(t)); n != len(before) {
		t.Errorf("GC with a 1h grace changed the segment objects from %d to %d", len(before), n)
	}
	// An hour later, past the batches' writer deadline: the first run compacts the first
	// batch (its kept conversations move to a new batch) and retires it and the second, and
	// deletes their batch objects; the second collects what only they used: the segments of
	// the deleted conversations and the first batch's packs, which the new batch replaced.
	later := st.open(t, vault.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	kept := len(convs) - len(deleted)
	if rep, err = later.GC(ctx, vault.GCOptions{Grace: 0}); err != nil || rep.Deleted != 2 || rep.Compacted != 1 || rep.Moved != kept {
		t.Errorf("GC an hour later: %+v, %v; want the first batch compacted (%d conversations moved), both batches retired and their batch objects deleted", rep, err, kept)
	}
	rep, err = later.GC(ctx, vault.GCOptions{Grace: 0})
	if err != nil {
		t.Fatal(err)
	}
	keptNow := map[string]bool{}     // the segments the kept conversations use now
	keptBatches := map[string]bool{} // and their batch objects
	for _, c := range convs {
		if deleted[c.ID] {
			continue
		}
		m, err := later.Manifest(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range m.Segments() {
			keptNow[s] = true
		}
		keptBatches[m.Batch] = true
	}
	if objects := st.keys(t, manifest.BatchPrefix); len(keptBatches) != 1 || !maps.Equal(objects, keptBatches) {
		t.Errorf("batch objects %v, want only the one of the kept conversations %v", slices.Sorted(maps.Keys(objects)), slices.Sorted(maps.Keys(keptBatches)))
	}
	after := st.segmentObjects(t)
	if !maps.Equal(after, keptNow) {
		t.Errorf("GC: %d segment objects left, want the %d the kept conversations use now (%+v)", len(after), len(keptNow), rep)
	}
	for s := range goneSegs {
		if after[s] {
			t.Errorf("segment %s, used only by deleted conversations, survived GC", s)
		}
	}
	t.Logf("deleted %d of %d conversations; GC: %d candidates, %d deleted (%d bytes), %d still referenced; %d -> %d segment objects",
		len(deleted), len(convs), rep.Candidates, rep.Deleted, rep.BytesFreed, rep.Referenced, len(before), len(after))
	// Left: the mark of the new batch, which GC checks once its writer deadline has passed.
	if rep, err := later.GC(ctx, vault.GCOptions{Grace: 0}); err != nil || rep.Deleted != 0 || rep.Candidates != 1 || rep.TooYoung != 1 {
		t.Errorf("third GC: %+v, %v; want nothing to do but the new batch's mark, too young", rep, err)
	}

	reader := st.open(t, vault.Options{StoreTimeout: auditTimeout})
	time.Sleep(2 * auditTimeout) // so that Verify would see any leak
	for i, c := range convs {
		got, err := reader.Retrieve(ctx, c.ID)
		switch {
		case deleted[c.ID]:
			if !errors.Is(err, vault.ErrNotFound) {
				t.Errorf("retrieve deleted %q: %v, want ErrNotFound", c.ID, err)
			}
		case err != nil:
			t.Errorf("retrieve %q: %v", c.ID, err)
		default:
			checkRetrieved(t, c.ID, got, lines[i])
		}
	}
	vrep, err := reader.Verify(ctx, vault.VerifyOptions{MinAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !vrep.OK() || vrep.Manifests != kept || vrep.Segments != len(keptNow) || len(vrep.Problems) != 0 ||
		vrep.LeakedRefs+vrep.LeakedObjects+vrep.DanglingHeads+vrep.Unreferenced != 0 {
		t.Errorf("verify: OK %v, %d manifests, %d segments (want %d, %d), problems %q; want no leaks: %+v", vrep.OK(), vrep.Manifests, vrep.Segments,
			kept, len(keptNow), vrep.Problems, vrep)
	}

	// Storing a deleted conversation again uploads the segments GC removed. (Stored alone, it
	// keeps its long pieces segments of their own rather than slices of a pack as in the batch
	// above.)
	again := chat("gc-gone-0", "gc", sharedGone, words(400, 500), "ok")
	res, err := v.Store(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if res.Existed || res.NewSegments != res.Segments || res.Segments == 0 {
		t.Errorf("storing %q again after GC: %+v; want all its segments uploaded anew", again.ID, res)
	}
	got, err := reader.Retrieve(ctx, again.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkRetrieved(t, again.ID, got, mustMarshal(t, again))
}
