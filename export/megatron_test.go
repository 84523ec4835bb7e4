package export

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/tokenizer"
)

// le64 returns v as 8 little-endian bytes, for spelling expected files out.
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// join concatenates byte slices.
func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestMegatronLiteralLayout(t *testing.T) {
	// r50k_base has 50257 ids: uint16. 50256 is <|endoftext|> = 0xC450.
	convs := []*conversation.Conversation{
		{ID: "a", Tokenizer: tokenizer.R50KBase, Messages: []conversation.Message{
			{Role: conversation.RoleUser, Tokens: []int{1, 2}},
			{Role: conversation.RoleAssistant, Tokens: []int{3}},
		}},
		{ID: "empty", Tokenizer: tokenizer.R50KBase, Messages: []conversation.Message{
			{Role: conversation.RoleUser, Content: ""},
		}},
		{ID: "b", Tokenizer: tokenizer.R50KBase, Messages: []conversation.Message{
			{Role: conversation.RoleUser, Tokens: []int{50256}},
		}},
	}
	var bin, idx bytes.Buffer
	writeAll(t, NewMegatron(&bin, &idx), convs)

	wantBin := []byte{0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x50, 0xC4}
	if !bytes.Equal(bin.Bytes(), wantBin) {
		t.Errorf(".bin = % x, want % x", bin.Bytes(), wantBin)
	}
	wantIdx := join(
		[]byte("MMIDIDX\x00\x00"),                  // magic
		[]byte{1, 0, 0, 0, 0, 0, 0, 0},             // version 1
		[]byte{8},                                  // dtype uint16
		[]byte{3, 0, 0, 0, 0, 0, 0, 0},             // 3 sequences
		[]byte{4, 0, 0, 0, 0, 0, 0, 0},             // 4 document indices
		[]byte{3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, // lengths int32: 3, 0, 1
		le64(0), le64(6), le64(6), // pointers int64, in bytes
		le64(0), le64(1), le64(2), le64(3), // document indices int64
	)
	if !bytes.Equal(idx.Bytes(), wantIdx) {
		t.Errorf(".idx =\n% x\nwant\n% x", idx.Bytes(), wantIdx)
	}
	if len(wantIdx) != 34+3*20+8 {
		t.Fatalf("test is wrong: %d bytes", len(wantIdx))
	}
}

func TestMegatronHeaders(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tokenizer string
		convs     int
		want      []byte
	}{
		{"cl100k_base is int32", tokenizer.CL100KBase, 2,
			join([]byte("MMIDIDX\x00\x00"), le64(1), []byte{4}, le64(2), le64(3))},
		{"o200k_base is int32", tokenizer.O200KBase, 1,
			join([]byte("MMIDIDX\x00\x00"), le64(1), []byte{4}, le64(1), le64(2))},
		{"p50k_base is uint16", tokenizer.P50KBase, 1,
			join([]byte("MMIDIDX\x00\x00"), le64(1), []byte{8}, le64(1), le64(2))},
		{"no conversations is int32", "", 0,
			join([]byte("MMIDIDX\x00\x00"), le64(1), []byte{4}, le64(0), le64(1), le64(0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bin, idx bytes.Buffer
			w := NewMegatron(&bin, &idx)
			for range tc.convs {
				c := &conversation.Conversation{Tokenizer: tc.tokenizer, Messages: []conversation.Message{
					{Role: conversation.RoleUser, Content: "hello world"}}}
				if err := w.Write(c); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := idx.Bytes()[:min(len(tc.want), idx.Len())]; !bytes.Equal(got, tc.want) {
				t.Errorf("header\n% x\nwant\n% x", got, tc.want)
			}
			if want := 34 + 20*tc.convs + 8; idx.Len() != want {
				t.Errorf(".idx is %d bytes, want %d", idx.Len(), want)
			}
		})
	}
}

func TestMegatronMixedTokenizers(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "ds")
	w, err := CreateMegatron(prefix)
	if err != nil {
		t.Fatal(err)
	}
	first := &conversation.Conversation{ID: "one", Tokenizer: tokenizer.CL100KBase,
		Messages: []conversation.Message{{Role: conversation.RoleUser, Content: "first"}}}
	other := &conversation.Conversation{ID: "two", Tokenizer: tokenizer.O200KBase,
		Messages: []conversation.Message{{Role: conversation.RoleUser, Content: "second"}}}
	if err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(other); !errors.Is(err, ErrMixedTokenizers) {
		t.Fatalf("Write(o200k after cl100k) = %v, want ErrMixedTokenizers", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ds := openDataset(t, prefix)
	if ds.Len() != 1 {
		t.Fatalf("%d sequences, want only the first conversation", ds.Len())
	}
	if got, _ := ds.Tokens(0); !reflect.DeepEqual(got, tokenIDs(t, first)) {
		t.Errorf("sequence 0 = %v, want %v", got, tokenIDs(t, first))
	}
}

func TestMegatronInvalidTokensWriteNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tokens []int
		want   error
	}{
		{"beyond uint16", []int{70000}, tokenizer.ErrTokenRange},
		{"negative", []int{-1}, tokenizer.ErrTokenRange},
		{"past vocabulary", []int{50257}, tokenizer.ErrTokenRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bin, idx bytes.Buffer
			w := NewMegatron(&bin, &idx)
			c := &conversation.Conversation{ID: "bad", Tokenizer: tokenizer.R50KBase, Messages: []conversation.Message{
				{Role: conversation.RoleUser, Content: "text first"},
				{Role: conversation.RoleAssistant, Tokens: tc.tokens},
			}}
			if err := w.Write(c); !errors.Is(err, tc.want) {
				t.Fatalf("Write = %v, want %v", err, tc.want)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if bin.Len() != 0 {
				t.Errorf(".bin holds % x for a refused conversation", bin.Bytes())
			}
			// A refused conversation fixes nothing: the index is that of an export without
			// conversations (int32), and a conversation of another tokenizer is still welcome.
			if want := join([]byte("MMIDIDX\x00\x00"), le64(1), []byte{4}, le64(0), le64(1), le64(0)); !bytes.Equal(idx.Bytes(), want) {
				t.Errorf(".idx = % x, want an empty int32 index % x", idx.Bytes(), want)
			}
			w = NewMegatron(&bin, &idx)
			if err := w.Write(c); !errors.Is(err, tc.want) {
				t.Fatalf("Write = %v, want %v", err, tc.want)
			}
			other := &conversation.Conversation{ID: "good", Tokenizer: tokenizer.CL100KBase, Messages: []conversation.Message{
				{Role: conversation.RoleUser, Content: "hello"}}}
			if err := w.Write(other); err != nil {
				t.Errorf("after a refused %s conversation, a %s one: %v", c.Tokenizer, other.Tokenizer, err)
			}
		})
	}
}

// openDataset opens PREFIX.bin and PREFIX.idx, closing them at the end of the test.
func openDataset(t *testing.T, prefix string) *MegatronDataset {
	t.Helper()
	ds, err := OpenMegatron(prefix+MegatronBinSuffix, prefix+MegatronIdxSuffix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

func TestMegatronRoundTrip(t *testing.T) {
	t.Run("samples", func(t *testing.T) { megatronRoundTrip(t, samples(t)) })
	t.Run("corpus", func(t *testing.T) {
		convs, _ := sampleCorpus(t)
		megatronRoundTrip(t, convs)
	})
}

// megatronRoundTrip exports convs with CreateMegatron and checks, with the reader, that
// sequence i holds exactly the token ids of conversation i.
func megatronRoundTrip(t *testing.T, convs []*conversation.Conversation) {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "export")
	w, err := CreateMegatron(prefix)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, convs)
	ds := openDataset(t, prefix)
	if ds.Len() != len(convs) {
		t.Fatalf("%d sequences, want %d", ds.Len(), len(convs))
	}
	if ds.Index.DType != DTypeInt32 {
		t.Errorf("dtype %v, want int32 for cl100k_base", ds.Index.DType)
	}
	var total int
	for i, c := range convs {
		got, err := ds.Tokens(i)
		if err != nil {
			t.Fatal(err)
		}
		want := tokenIDs(t, c)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("sequence %d (%s): %d ids differ from the conversation's %d", i, c.ID, len(got), len(want))
		}
		if d := ds.Index.DocumentIndices; d[i] != int64(i) || d[i+1] != int64(i+1) {
			t.Fatalf("document %d spans sequences [%d, %d), want [%d, %d)", i, d[i], d[i+1], i, i+1)
		}
		total += len(want)
	}
	st, err := os.Stat(prefix + MegatronBinSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != int64(4*total) {
		t.Errorf(".bin is %d bytes, want %d (4 per token)", st.Size(), 4*total)
	}
}

func TestReadMegatronIndexRejects(t *testing.T) {
	good := join([]byte("MMIDIDX\x00\x00"), le64(1), []byte{8}, le64(2), le64(3),
		[]byte{2, 0, 0, 0, 1, 0, 0, 0}, le64(0), le64(4), le64(0), le64(1), le64(2))
	if ix, err := ReadMegatronIndex(bytes.NewReader(good)); err != nil {
		t.Fatalf("the valid index is refused: %v", err)
	} else if want := (&MegatronIndex{DType: DTypeUint16, Lengths: []int32{2, 1}, Pointers: []int64{0, 4},
		DocumentIndices: []int64{0, 1, 2}}); !reflect.DeepEqual(ix, want) {
		t.Fatalf("index %+v, want %+v", ix, want)
	}
	edit := func(off int, b ...byte) []byte {
		out := bytes.Clone(good)
		copy(out[off:], b)
		return out
	}
	for _, tc := range []struct {
		name string
		idx  []byte
	}{
		{"empty", nil},
		{"short header", good[:20]},
		{"bad magic", edit(0, 'X')},
		{"version 2", edit(9, 2)},
		{"float32 dtype", edit(17, 7)},
		{"unknown dtype", edit(17, 9)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes (multimodal modes)", append(bytes.Clone(good), 0, 0)},
		{"count too large", edit(18, 3)},
		{"negative length", edit(34, 0xff, 0xff, 0xff, 0xff)},
		{"pointer gap", edit(34+8+8, 6)},
		{"documents not from 0", edit(34+8+16, 1)},
		{"documents do not end at the count", edit(34+8+16+16, 1)},
		{"documents decrease", edit(34+8+16+8, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadMegatronIndex(bytes.NewReader(tc.idx)); !errors.Is(err, ErrMalformedMegatron) {
				t.Errorf("ReadMegatronIndex = %v, want ErrMalformedMegatron", err)
			}
		})
	}
}

func TestOpenMegatronChecksBinSize(t *testing.T) {
	dir := t.TempDir()
	idx := join([]byte("MMIDIDX\x00\x00"), le64(1), []byte{8}, le64(1), le64(2),
		[]byte{2, 0, 0, 0}, le64(0), le64(0), le64(1))
	idxPath, binPath := filepath.Join(dir, "d.idx"), filepath.Join(dir, "d.bin")
	if err := os.WriteFile(idxPath, idx, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		bin  []byte
		want []int
	}{
		{"exact", []byte{0x34, 0x12, 0xff, 0xff}, []int{0x1234, 0xffff}},
		{"short", []byte{0x34, 0x12, 0xff}, nil},
		{"long", []byte{0x34, 0x12, 0xff, 0xff, 0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(binPath, tc.bin, 0o644); err != nil {
				t.Fatal(err)
			}
			ds, err := OpenMegatron(binPath, idxPath)
			if tc.want == nil {
				if !errors.Is(err, ErrMalformedMegatron) {
					t.Fatalf("OpenMegatron = %v, want ErrMalformedMegatron", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ds.Close()
			got, err := ds.Tokens(0)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Tokens(0) = %v, %v; want %v", got, err, tc.want)
			}
			if _, err := ds.Tokens(1); err == nil {
				t.Error("Tokens(1) of a one-sequence dataset succeeded")
			}
		})
	}
}

func TestMegatronDType(t *testing.T) {
	for _, tc := range []struct {
		vocab int
		want  DType
	}{
		{256, DTypeUint16}, {50257, DTypeUint16}, {65536, DTypeUint16}, {65537, DTypeInt32}, {100277, DTypeInt32}, {200019, DTypeInt32},
	} {
		if got := MegatronDType(tc.vocab); got != tc.want {
			t.Errorf("MegatronDType(%d) = %v, want %v", tc.vocab, got, tc.want)
		}
	}
	for d, want := range map[DType]struct {
		name string
		size int
	}{
		1: {"uint8", 1}, 2: {"int8", 1}, 3: {"int16", 2}, 4: {"int32", 4}, 5: {"int64", 8},
		6: {"float64", 8}, 7: {"float32", 4}, 8: {"uint16", 2}, 9: {"DType(9)", 0},
	} {
		if d.String() != want.name || d.Size() != want.size {
			t.Errorf("DType(%d) = %s, %d bytes; want %s, %d", uint8(d), d, d.Size(), want.name, want.size)
		}
	}
}
