package codec

import (
	"errors"
	"reflect"
	"testing"
)

func TestModelRoundTrip(t *testing.T) {
	m := &Model{Tokenizer: "cl100k_base", Generation: 2, TokenDict: []byte("token data"),
		ManifestDict: []byte(`{"schema_version":1}`), Ranks: []int{13, 11, 100_000, 0}}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	id := ModelID(data)
	got, err := DecodeModel(id, data)
	if err != nil {
		t.Fatal(err)
	}
	m.ID = id
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("decoded %+v, want %+v", got, m)
	}
	if id < 32768 || id >= 1<<31 {
		t.Fatalf("id %d outside zstd's unreserved range", id)
	}
	if _, err := DecodeModel(id+1, data); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong id: %v", err)
	}
	for i := range data {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x10
		if _, err := DecodeModel(ModelID(bad), bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	if _, err := (&Model{Ranks: make([]int, MaxRanks+1)}).Encode(); err == nil {
		t.Fatal("an oversized rank table was encoded")
	}
}

// TestModelVersion1 pins the layout of version 1 model objects, which DecodeModel reads too.
func TestModelVersion1(t *testing.T) {
	data := []byte("STKM\x01\x0bcl100k_base\x03app\x05token\x08manifest")
	data = append(data, 0, 0, 0, 0)
	sum := Checksum(data[:len(data)-4])
	data[len(data)-4], data[len(data)-3], data[len(data)-2], data[len(data)-1] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
	m, err := DecodeModel(ModelID(data), data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Tokenizer != "cl100k_base" || string(m.TokenDict) != "token" || string(m.ManifestDict) != "manifest" || m.Ranks != nil {
		t.Fatalf("decoded %+v", m)
	}
}

func TestRanking(t *testing.T) {
	r := newRanking([]int{5, 2, 9})
	for tok, want := range map[int]uint64{5: 0, 2: 1, 9: 2, 0: 3, 3: 6, 1 << 20: 3 + 1<<20} {
		c := r.code(tok)
		if c != want {
			t.Errorf("code(%d) = %d, want %d", tok, c, want)
		}
		if back, ok := r.token(c); !ok || back != tok {
			t.Errorf("token(%d) = %d, %v, want %d", c, back, ok, tok)
		}
	}
	if _, ok := r.token(3 + 1<<32); ok {
		t.Error("a code past 2^32 decoded")
	}
}

// TestModelKey: model keys are part of the stored layout, and ParseModelKey reads them back.
func TestModelKey(t *testing.T) {
	if k := ModelKey(0xab12); k != "models/0000ab12" {
		t.Fatalf("ModelKey = %s", k)
	}
	if id, ok := ParseModelKey(ModelKey(0xdeadbeef)); !ok || id != 0xdeadbeef {
		t.Fatalf("ParseModelKey = %08x, %v", id, ok)
	}
	for _, key := range []string{"models/", "models/xyz", "models/100000000", "segments/0000ab12"} {
		if _, ok := ParseModelKey(key); ok {
			t.Errorf("ParseModelKey(%q) is a model", key)
		}
	}
}
