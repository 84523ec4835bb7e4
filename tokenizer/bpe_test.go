package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestBytePairEncodeLong: the heap finds the merges the scan finds, in the same order, on long
// pieces of cl100k_base's own tokens and bytes (the exact test checks both against tiktoken on
// the corpus).
func TestBytePairEncodeLong(t *testing.T) {
	tok, err := Get(CL100KBase)
	if err != nil {
		t.Fatal(err)
	}
	ranks := tok.enc.ranks
	var pieces []string
	for _, b := range tok.decoder[:50000] {
		if len(b) > 1 {
			pieces = append(pieces, string(b))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var sb strings.Builder
		for sb.Len() < longPiece+r.IntN(400) {
			if i%2 == 0 {
				sb.WriteString(pieces[r.IntN(len(pieces))])
			} else {
				sb.WriteByte(byte(r.IntN(256)))
			}
		}
		piece := sb.String()
		if long, scan := bytePairEncodeLong(piece, ranks), bytePairEncodeScan(piece, ranks); !slices.Equal(long, scan) {
			t.Fatalf("piece %q: heap %v, scan %v", piece, long, scan)
		}
	}
}
