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

// TestSplitCL100K: the hand-written matcher cuts random text of the characters the pattern
// tells apart exactly where regexp2 running patCL100K does.
func TestSplitCL100K(t *testing.T) {
	e, err := newEncoder(nil, patCL100K)
	if err != nil {
		t.Fatal(err)
	}
	alphabet := []rune("aZsStTrReEvVmMlLdD'’ 0123456789٣\u00a0\t\r\n\u0085\u2028\u3000.,!?-_/\\\"()#@€🙂éßИж漢かカ\u0301\ufffd")
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		runes := make([]rune, 1+r.IntN(24))
		for i := range runes {
			runes[i] = alphabet[r.IntN(len(alphabet))]
		}
		var want, got []string
		m, _ := e.pattern.FindRunesMatch(runes)
		for m != nil {
			want = append(want, string(runes[m.Index:m.Index+m.Length]))
			m, _ = e.pattern.FindNextMatch(m)
		}
		for i := 0; i < len(runes); {
			j := splitCL100K(runes, i)
			got = append(got, string(runes[i:j]))
			i = j
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q: split into %q, the pattern into %q", string(runes), got, want)
		}
	}
}
