package segment

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// golden is the SHA-256 of "stowken/segment/v1", NUL, "cl100k_base", NUL and the ids 1, 2, 3,
// 100000 as 4-byte little-endian integers (computed outside Go).
const golden = "5c29d63165a3edf7c80fb481aeba1a2d9537977e284c82e0981f18e7a2e93223"

// TestID pins the segment id of a few tokens: it is part of the stored format (object keys,
// references), so it must never change.
func TestID(t *testing.T) {
	got := ID("cl100k_base", []int{1, 2, 3, 100000})
	if got != golden {
		t.Fatalf("ID = %s, want %s", got, golden)
	}
	if ID("o200k_base", []int{1, 2, 3, 100000}) == got {
		t.Fatal("the tokenizer's name is not part of the id")
	}
	if k := Key(got); k != "segments/"+got[:2]+"/"+got[2:4]+"/"+got || !strings.HasPrefix(k, Prefix) || KeyID(k) != got {
		t.Fatalf("Key = %s", k)
	}
}

// TestCut: the pieces cover the token stream exactly and in order; long messages are cut on
// their own, so the same long message yields the same segments after different histories;
// segment pieces are named by their tokens' id and bounded in length.
func TestCut(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	long := make([]int, 20000)
	for i := range long {
		long[i] = rnd.IntN(100000)
	}
	short := []int{5, 6, 7}
	var firstIDs []string
	for _, messages := range [][][]int{{short, long, short}, {short, short, short, long}} {
		pieces := Cut("cl100k_base", messages)
		var stream, got []int
		for _, m := range messages {
			stream = append(stream, m...)
		}
		var ids []string
		for _, p := range pieces {
			got = append(got, p.Tokens...)
			switch {
			case p.ID != "" && (len(p.Tokens) < MinTokens || len(p.Tokens) > maxSegment || p.ID != ID("cl100k_base", p.Tokens)):
				t.Errorf("segment piece of %d tokens, id %s", len(p.Tokens), p.ID)
			case p.ID == "" && len(p.Tokens) >= MinTokens:
				t.Errorf("inline piece of %d tokens", len(p.Tokens))
			case p.ID != "":
				ids = append(ids, p.ID)
			}
		}
		if !slices.Equal(got, stream) {
			t.Fatalf("pieces do not cover the stream")
		}
		if len(ids) < 3 {
			t.Fatalf("%d segments of a 20,000-token message", len(ids))
		}
		if firstIDs == nil {
			firstIDs = ids
		} else if !slices.Equal(firstIDs, ids) {
			t.Errorf("the same long message cut into other segments after another history")
		}
	}
}
