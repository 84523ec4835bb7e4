package manifest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/codec"
)

// TestBatchRoundTrip: a batch object gives back every manifest, without its nonce, with and
// without a dictionary.
func TestBatchRoundTrip(t *testing.T) {
	e, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.AddDict(40000, []byte(`{"schema_version":1,"messages":[{"role":"user","tokens":`)); err != nil {
		t.Fatal(err)
	}
	a, b := sample(), sample()
	b.ID, b.Inline, b.Chunks = "conv-2", []int{7, 8, 9, 10, 11}, []Chunk{{Segment: strings.Repeat("cd", 32), Offset: 12, Tokens: 300}, {Tokens: 5}}
	for _, dict := range []uint32{0, 40000} {
		data, err := e.EncodeBatch(Batch{Deadline: 1764000600000, Manifests: []*Manifest{a, b}}, dict)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := codec.FrameDict(data); got != dict {
			t.Fatalf("dictionary %d, want %d", got, dict)
		}
		got, err := e.DecodeBatch(data)
		if err != nil {
			t.Fatal(err)
		}
		if got.Deadline != 1764000600000 || len(got.Manifests) != 2 {
			t.Fatalf("dict %d: deadline %d, %d manifests", dict, got.Deadline, len(got.Manifests))
		}
		for i, want := range []*Manifest{a, b} {
			w := *want
			w.Nonce = ""
			if !reflect.DeepEqual(got.Manifests[i], &w) {
				t.Fatalf("dict %d: manifest %d: got %+v, want %+v", dict, i, got.Manifests[i], &w)
			}
		}
	}
	if a.Nonce == "" {
		t.Fatal("EncodeBatch changed its argument")
	}
}

// TestBatchRejects: a batch object that is cut, altered, of another format or holding one id
// twice is refused with the right error, and so is encoding two manifests of one id.
func TestBatchRejects(t *testing.T) {
	e, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.EncodeBatch(Batch{Manifests: []*Manifest{sample(), sample()}}, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("one id twice: %v", err)
	}
	z, err := codec.NewZstd(codec.LevelDocuments, 0, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	good, err := e.EncodeBatch(Batch{Deadline: 1, Manifests: []*Manifest{sample()}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte{}, good...)
	flipped[len(flipped)-6] ^= 0x40
	payload, _ := Payload(sample())
	twice := append(append([]byte(batchHeader+"\x01"), appendLen(payload)...), appendLen(payload)...)
	for name, tc := range map[string]struct {
		data []byte
		want error
	}{
		"cut":          {good[:len(good)/2], ErrInvalid},
		"flipped bit":  {flipped, ErrInvalid},
		"no header":    {z.Compress([]byte("hello")), ErrInvalid},
		"newer format": {z.Compress([]byte("stowken-batch 2\n")), ErrNewerVersion},
		"no deadline":  {z.Compress([]byte(batchHeader)), ErrInvalid},
		"cut manifest": {z.Compress(append([]byte(batchHeader), 1, 0x7f, '{')), ErrInvalid},
		"one id twice": {z.Compress(twice), ErrInvalid},
	} {
		if _, err := e.DecodeBatch(tc.data); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// appendLen is a manifest's entry in a batch object: its length as a varint, then itself.
func appendLen(payload []byte) []byte {
	var out []byte
	n := uint64(len(payload))
	for n >= 0x80 {
		out = append(out, byte(n)|0x80)
		n >>= 7
	}
	return append(append(out, byte(n)), payload...)
}

// TestBatchIDs: batch ids are recognized, are never segment ids, and differ.
func TestBatchIDs(t *testing.T) {
	a, b := NewBatchID(), NewBatchID()
	if a == b || !IsBatchID(a) || !IsBatchID(b) {
		t.Fatalf("%q, %q", a, b)
	}
	for _, id := range []string{strings.Repeat("ab", 32), "b-", "b-xyz", "gc-lease", a + "0", "B" + a[1:]} {
		if IsBatchID(id) {
			t.Errorf("IsBatchID(%q)", id)
		}
	}
	if BatchKey(a) != "batches/"+a {
		t.Fatal(BatchKey(a))
	}
}

// TestSoloBatchIDs: a Store's batch id carries its time, lists in time order after SoloKey, and
// round-trips through its bytes like a StoreBatch's.
func TestSoloBatchIDs(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 8, 0, 0, 123_000_000, time.UTC)
	a, b := NewSoloBatchID(t0), NewSoloBatchID(t0.Add(time.Millisecond))
	if !IsBatchID(a) || !strings.HasPrefix(BatchKey(a), SoloPrefix) || strings.HasPrefix(BatchKey(NewBatchID()), SoloPrefix) {
		t.Fatalf("%q: not a solo batch id", a)
	}
	if got, ok := SoloTime(a); !ok || !got.Equal(t0) {
		t.Errorf("SoloTime(%q) = %v, %v; want %v", a, got, ok, t0)
	}
	if _, ok := SoloTime(NewBatchID()); ok {
		t.Error("SoloTime of a StoreBatch's id")
	}
	// Listed after SoloKey(t): the ids of t and later, not those before.
	if !(BatchKey(a) > SoloKey(t0) && BatchKey(b) > SoloKey(t0) && BatchKey(a) < SoloKey(t0.Add(time.Millisecond)) && BatchKey(b) > SoloKey(t0.Add(time.Millisecond))) {
		t.Errorf("keys %q, %q against SoloKey %q, %q", BatchKey(a), BatchKey(b), SoloKey(t0), SoloKey(t0.Add(time.Millisecond)))
	}
	for _, id := range []string{a, NewBatchID()} {
		raw, ok := BatchIDBytes(id)
		if !ok || BatchIDFromBytes(raw) != id {
			t.Errorf("BatchIDBytes(%q) = %x, %v; back %q", id, raw, ok, BatchIDFromBytes(raw))
		}
	}
	for _, raw := range [][]byte{nil, make([]byte, 11), append([]byte{'b'}, make([]byte, 12)...), make([]byte, 14)} {
		if id := BatchIDFromBytes(raw); id != "" {
			t.Errorf("BatchIDFromBytes(%x) = %q, want none", raw, id)
		}
	}
	for _, id := range []string{"s-", "s-" + strings.Repeat("A", 24), "S" + a[1:], a + "0"} {
		if _, ok := BatchIDBytes(id); ok {
			t.Errorf("BatchIDBytes(%q)", id)
		}
		if IsBatchID(id) && id != "s-"+strings.Repeat("A", 24) {
			t.Errorf("IsBatchID(%q)", id)
		}
	}
}
