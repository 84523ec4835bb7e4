package integration

import (
	"context"
	"testing"

	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/vault"
)

// TestStoreRequestBudget stores the sample conversations one at a time and checks each Store's
// requests (a Store is a batch of one): exactly one S3 PUT for the batch object (no catalog
// file: GC gathers the entry), plus one per segment object that did not exist yet (StoreResult.NewSegments),
// plus one for a compression model in the one Store that builds it; never a HEAD, never a GET;
// a DynamoDB write unit per reference (its segments), per new head (its new segments) and for
// its pointer, and at most one head read per segment.
func TestStoreRequestBudget(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	convs, _ := readCorpus(t, "sample.jsonl", 0)
	v := st.open(t, vault.Options{})
	// The vault's one check of the bucket's conditional writes, which its first Store would
	// otherwise pay (vault/condcheck.go), made first as stowken init does.
	if err := v.CheckConditionalWrites(ctx); err != nil {
		t.Fatal(err)
	}

	var puts, writes, reads float64
	var newSegs, modelPuts int64
	models := 0
	for _, c := range convs {
		before := v.Usage()
		res, err := v.Store(ctx, c)
		if err != nil {
			t.Fatalf("store %q: %v", c.ID, err)
		}
		d := v.Usage().Sub(before)
		built := 0
		if n := len(st.keys(t, codec.ModelPrefix)); n != models {
			built, models = n-models, n
		}
		checkStoreBudget(t, c, res, d, built)
		puts, writes, reads = puts+d.S3PutClass, writes+d.DDBWRU, reads+d.DDBRRU
		newSegs += int64(res.NewSegments)
		modelPuts += int64(built)
	}
	n := float64(len(convs))
	t.Logf("%d stores one at a time: %.3f S3 PUTs, %.3f DynamoDB write units, %.3f read units per conversation; %d new segments, %d model PUTs, no HEAD, no GET",
		len(convs), puts/n, writes/n, reads/n, newSegs, modelPuts)
	if got := int64(len(st.segmentObjects(t))); got != newSegs {
		t.Errorf("stores report %d new segments, the bucket holds %d segment objects", newSegs, got)
	}

	// Every conversation reads back (through a vault that did not write it).
	reader := st.open(t, vault.Options{})
	for _, c := range convs {
		got, err := reader.Retrieve(ctx, c.ID)
		if err != nil {
			t.Fatalf("retrieve %q: %v", c.ID, err)
		}
		if !sameJSON(mustMarshal(t, got), mustMarshal(t, c)) {
			t.Errorf("conversation %q came back different", c.ID)
		}
	}

	// Storing the same conversations again uploads no segment: the batch of one uploads its
	// batch object, its pointer write finds the stored one, which the vault then reads to
	// compare, and the unused batch object is left to the collector.
	for _, c := range convs[:30] {
		again, err := conversation.Parse(mustMarshal(t, c))
		if err != nil {
			t.Fatal(err)
		}
		before := v.Usage()
		res, err := v.Store(ctx, again)
		if err != nil {
			t.Fatalf("store %q again: %v", c.ID, err)
		}
		d := v.Usage().Sub(before)
		if !res.Existed || res.NewSegments != 0 || d.S3PutClass != 1 {
			t.Errorf("store %q again: Existed %v, %d new segments, %v PUTs; want Existed, 0, 1 (the unused batch object)",
				c.ID, res.Existed, res.NewSegments, d.S3PutClass)
		}
	}
}

// checkStoreBudget checks the requests d of one Store of a conversation not stored before,
// made while no other Store ran on the vault; modelsBuilt is how many compression models the
// Store added to the bucket.
func checkStoreBudget(t *testing.T, c *conversation.Conversation, res vault.StoreResult, d cost.Usage, modelsBuilt int) {
	t.Helper()
	if modelsBuilt > 1 {
		t.Errorf("store %q built %d compression models", c.ID, modelsBuilt)
	}
	if want := float64(1 + res.NewSegments + modelsBuilt); d.S3PutClass != want {
		t.Errorf("store %q: %v S3 PUTs, want %v (1 batch object + %d new segments + %d models)", c.ID, d.S3PutClass, want, res.NewSegments, modelsBuilt)
	}
	if d.S3GetClass != 0 || d.S3Delete != 0 {
		t.Errorf("store %q: %v GET-class, %v DELETE requests, want none", c.ID, d.S3GetClass, d.S3Delete)
	}
	// A write unit per reference item, per new head and for the pointer, all under 1 KB; the
	// batch object has neither reference nor head.
	if want := float64(res.Segments + res.NewSegments + 1); d.DDBWRU != want {
		t.Errorf("store %q: %v DynamoDB write units for %d segments (%d new), want %v", c.ID, d.DDBWRU, res.Segments, res.NewSegments, want)
	}
	if d.DDBRRU > float64(res.Segments) {
		t.Errorf("store %q: %v DynamoDB read units for %d segments, want at most one per segment", c.ID, d.DDBRRU, res.Segments)
	}
}
