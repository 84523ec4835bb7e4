package vault

import (
	"math/rand/v2"
	"testing"

	"github.com/stowken/stowken/internal/corpus"
)

// TestReimportChangesNothing stores the sample in batches, then again in other orders (so the
// batches, and what each packs, differ): every conversation is reported as already stored, and
// once the collector ran, the segment objects are exactly as they were.
func TestReimportChangesNothing(t *testing.T) {
	v, b, _ := newMemVault(t, Options{})
	convs, _ := readCorpus(t, corpus.Path(t, "sample.jsonl"), 1)
	storeAll(t, v, convs)
	want := countSegments(t, b)
	for round := range 5 {
		r := rand.New(rand.NewPCG(uint64(round), 1))
		r.Shuffle(len(convs), func(i, j int) { convs[i], convs[j] = convs[j], convs[i] })
		for start := 0; start < len(convs); start += 256 {
			batch := convs[start:min(start+256, len(convs))]
			res, errs := v.StoreBatch(t.Context(), batch)
			for i := range batch {
				if errs[i] != nil || !res[i].Existed {
					t.Fatalf("round %d: re-store %q: %+v, %v", round, batch[i].ID, res[i], errs[i])
				}
			}
		}
		if _, err := v.GC(t.Context(), GCOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := countSegments(t, b); got != want {
			t.Fatalf("round %d: %d segment objects after re-importing, want %d", round, got, want)
		}
	}
}
