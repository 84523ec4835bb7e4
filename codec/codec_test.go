package codec

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func randomTokens(r *rand.Rand, n, vocab int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = r.IntN(vocab)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	dict := make([]byte, 4096)
	for i := range dict {
		dict[i] = byte(i * 7)
	}
	if err := c.AddModel(&Model{ID: 40000, TokenDict: dict}); err != nil {
		t.Fatal(err)
	}
	// Model 40001 ranks tokens 7, 199999 and 3 first; the rest keep their order after them.
	if err := c.AddModel(&Model{ID: 40001, TokenDict: dict, Ranks: []int{7, 199_999, 3}}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 100, 5000} {
		for _, d := range []uint32{0, 40000, 40001} {
			tokens := randomTokens(r, n, 200_000)
			frame, err := c.Encode(tokens, d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Decode(frame)
			if err != nil {
				t.Fatalf("n=%d dict=%d: %v", n, d, err)
			}
			if len(got) != n || (n > 0 && !reflect.DeepEqual(got, tokens)) {
				t.Fatalf("n=%d dict=%d: round trip differs", n, d)
			}
			h, err := ReadHeader(frame)
			want := ZstdVarint
			if d == 40001 {
				want = ZstdRanked
			}
			if err != nil || h.Tokens != n || h.Dict != d || h.Codec != want || h.Version != FrameVersion {
				t.Fatalf("header %+v, %v", h, err)
			}
		}
	}
}

func TestCorruptFramesRejected(t *testing.T) {
	c, _ := New()
	frame, _ := c.Encode(randomTokens(rand.New(rand.NewPCG(3, 4)), 1000, 100_000), 0)
	for i := range frame {
		bad := append([]byte(nil), frame...)
		bad[i] ^= 0x01
		if _, err := c.Decode(bad); err == nil {
			t.Fatalf("flipping a bit of byte %d went unnoticed", i)
		}
	}
	for n := 0; n < len(frame); n++ {
		if _, err := c.Decode(frame[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}
}

func TestUnknownDictAndVersion(t *testing.T) {
	c, _ := New()
	other, _ := New()
	other.AddModel(&Model{ID: 50000, TokenDict: []byte("some dictionary content")})
	frame, _ := other.Encode([]int{1, 2, 3}, 50000)
	var unknown *UnknownDictError
	if _, err := c.Decode(frame); !errors.As(err, &unknown) || unknown.Dict != 50000 {
		t.Fatalf("err = %v, want UnknownDictError{50000}", err)
	}
	if _, err := c.Encode([]int{1}, 12345); !errors.As(err, &unknown) {
		t.Fatalf("encode with a missing dict: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	c, _ := New()
	for _, n := range []int{0, 1, 50, 700} {
		frame, _ := c.Encode(randomTokens(rand.New(rand.NewPCG(uint64(n), 9)), n, 100_000), 0)
		f.Add(frame)
	}
	f.Add([]byte("STKF"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		tokens, err := c.Decode(frame)
		if err != nil {
			return
		}
		again, err := c.Encode(tokens, 0)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Decode(again)
		if err != nil || !reflect.DeepEqual(back, tokens) && len(tokens) > 0 {
			t.Fatalf("re-encoded frame does not decode to the same tokens: %v", err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	c, _ := New()
	tokens := randomTokens(rand.New(rand.NewPCG(5, 6)), 2000, 30_000)
	b.SetBytes(int64(len(tokens)))
	for b.Loop() {
		c.Encode(tokens, 0)
	}
}

func BenchmarkDecode(b *testing.B) {
	c, _ := New()
	frame, _ := c.Encode(randomTokens(rand.New(rand.NewPCG(5, 6)), 2000, 30_000), 0)
	b.SetBytes(2000)
	for b.Loop() {
		c.Decode(frame)
	}
}
