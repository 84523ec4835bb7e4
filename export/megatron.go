package export

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/tokenizer"
)

// DType is a Megatron-LM DType code: how the token ids of a .bin file are stored, recorded in
// byte 17 of the .idx file. The values are those of megatron/core/datasets/indexed_dataset.py.
type DType uint8

// Megatron-LM's DType codes.
const (
	DTypeUint8   DType = 1
	DTypeInt8    DType = 2
	DTypeInt16   DType = 3
	DTypeInt32   DType = 4
	DTypeInt64   DType = 5
	DTypeFloat64 DType = 6
	DTypeFloat32 DType = 7
	DTypeUint16  DType = 8
)

// Size returns the size of one value in bytes, 0 for a code Megatron does not define.
func (d DType) Size() int {
	switch d {
	case DTypeUint8, DTypeInt8:
		return 1
	case DTypeInt16, DTypeUint16:
		return 2
	case DTypeInt32, DTypeFloat32:
		return 4
	case DTypeInt64, DTypeFloat64:
		return 8
	}
	return 0
}

// String returns the NumPy name of the type, as Megatron's DType enum spells it.
func (d DType) String() string {
	names := [...]string{DTypeUint8: "uint8", DTypeInt8: "int8", DTypeInt16: "int16", DTypeInt32: "int32",
		DTypeInt64: "int64", DTypeFloat64: "float64", DTypeFloat32: "float32", DTypeUint16: "uint16"}
	if int(d) < len(names) && names[d] != "" {
		return names[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// MegatronDType returns the dtype a Megatron export uses for a vocabulary of vocabSize ids:
// uint16 when every id fits (vocabSize <= 65536), int32 otherwise.
func MegatronDType(vocabSize int) DType {
	if vocabSize <= 1<<16 {
		return DTypeUint16
	}
	return DTypeInt32
}

// Layout constants of the .idx file.
const (
	megatronMagic      = "MMIDIDX\x00\x00"
	megatronVersion    = 1
	megatronHeaderSize = 9 + 8 + 1 + 8 + 8 // magic, version, dtype, sequence count, document count
	// MegatronBinSuffix and MegatronIdxSuffix are appended to the prefix given to CreateMegatron
	// and OpenMegatron, as Megatron-LM names the files of a dataset prefix.
	MegatronBinSuffix = ".bin"
	MegatronIdxSuffix = ".idx"
)

// megatronWriter streams token ids into the .bin and writes the .idx on Close.
type megatronWriter struct {
	bin     *bufio.Writer
	idx     io.Writer
	tok     *tokenizer.Tokenizer
	dtype   DType
	lengths []int32 // tokens of each sequence written
	ids     []int   // the current conversation's ids, reused
	buf     []byte  // the current conversation's bytes, reused
	state
}

// NewMegatron returns a Writer of a Megatron-LM indexed dataset: token ids go to bin as they are
// written, and the index goes to idx, all at once, on Close (see the package doc for the layout).
// The dtype is chosen from the tokenizer of the first conversation written (MegatronDType); a
// conversation with another tokenizer is refused with ErrMixedTokenizers. Token ids given in a message are
// checked against the vocabulary (tokenizer.ErrTokenRange, tokenizer.ErrInvalidToken).
// Conversations that fail conversation.Validate are refused (conversation.ErrInvalid). Close
// does not close bin or idx.
func NewMegatron(bin, idx io.Writer) Writer {
	return &megatronWriter{bin: bufio.NewWriterSize(bin, bufferSize), idx: idx}
}

// Write appends one conversation as one sequence and one document.
func (w *megatronWriter) Write(c *conversation.Conversation) error {
	if err := w.ready(); err != nil {
		return err
	}
	tok, err := checkConversation(c)
	if err != nil {
		return err
	}
	if w.tok != nil && tok.Name() != w.tok.Name() {
		return fmt.Errorf("%w: conversation %q uses %s, the export %s", ErrMixedTokenizers, c.ID, c.Tokenizer, w.tok.Name())
	}
	dtype := MegatronDType(tok.VocabSize())
	w.ids = w.ids[:0]
	for i := range c.Messages {
		if m := &c.Messages[i]; m.HasTokens() {
			w.ids = append(w.ids, m.Tokens...)
		} else {
			w.ids = append(w.ids, tok.Encode(m.Content)...)
		}
	}
	if len(w.ids) > math.MaxInt32 {
		return fmt.Errorf("conversation %q: %d tokens, more than a Megatron sequence holds", c.ID, len(w.ids))
	}
	w.buf = w.buf[:0]
	for _, id := range w.ids {
		if dtype == DTypeUint16 {
			w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(id))
		} else {
			w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(int32(id)))
		}
	}
	// Only a conversation that is written fixes the export's tokenizer and dtype.
	w.tok, w.dtype = tok, dtype
	if _, err := w.bin.Write(w.buf); err != nil {
		return w.fail(err)
	}
	w.lengths = append(w.lengths, int32(len(w.ids)))
	return nil
}

// Close flushes the .bin and writes the .idx.
func (w *megatronWriter) Close() error {
	return w.close(func() error {
		if err := w.bin.Flush(); err != nil {
			return err
		}
		return w.writeIndex()
	})
}

// writeIndex writes the .idx of the sequences written.
func (w *megatronWriter) writeIndex() error {
	dtype := w.dtype
	if dtype == 0 {
		dtype = DTypeInt32 // no conversation, no tokenizer: Megatron's builder default
	}
	n := len(w.lengths)
	bw := bufio.NewWriterSize(w.idx, bufferSize)
	var b []byte
	b = append(b, megatronMagic...)
	b = binary.LittleEndian.AppendUint64(b, megatronVersion)
	b = append(b, byte(dtype))
	b = binary.LittleEndian.AppendUint64(b, uint64(n))
	b = binary.LittleEndian.AppendUint64(b, uint64(n+1))
	bw.Write(b)
	var v [8]byte
	for _, l := range w.lengths {
		binary.LittleEndian.PutUint32(v[:4], uint32(l))
		bw.Write(v[:4])
	}
	var ptr int64
	for _, l := range w.lengths {
		binary.LittleEndian.PutUint64(v[:], uint64(ptr))
		bw.Write(v[:])
		ptr += int64(l) * int64(dtype.Size())
	}
	for i := range n + 1 {
		binary.LittleEndian.PutUint64(v[:], uint64(i))
		bw.Write(v[:])
	}
	return bw.Flush() // bufio keeps the first write error and returns it here
}

// MegatronIndex is the content of a Megatron-LM .idx file.
type MegatronIndex struct {
	DType DType
	// Lengths holds the number of tokens of each sequence.
	Lengths []int32
	// Pointers holds the byte offset of each sequence in the .bin file.
	Pointers []int64
	// DocumentIndices holds, for each document boundary, the number of sequences before it:
	// 0, then the end of each document. Its length is the document count of the header.
	DocumentIndices []int64
}

// ReadMegatronIndex reads and checks a Megatron-LM .idx file: the magic, version 1, an integer
// dtype, counts that match the file's size exactly (the multimodal variant, with a mode byte per
// sequence after the document indices, is not accepted), non-negative lengths, pointers that lay
// the sequences back to back from offset 0 as Megatron's builder does, and document indices
// that start at 0, never decrease and end at the sequence count. Every error about the content
// wraps ErrMalformedMegatron.
func ReadMegatronIndex(r io.Reader) (*MegatronIndex, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: index: %s", ErrMalformedMegatron, fmt.Sprintf(format, args...))
	}
	if len(data) < megatronHeaderSize {
		return nil, bad("%d bytes, shorter than the %d-byte header", len(data), megatronHeaderSize)
	}
	if string(data[:9]) != megatronMagic {
		return nil, bad("magic %q, want %q", data[:9], megatronMagic)
	}
	le := binary.LittleEndian
	if v := le.Uint64(data[9:]); v != megatronVersion {
		return nil, bad("version %d, want %d", v, megatronVersion)
	}
	ix := &MegatronIndex{DType: DType(data[17])}
	switch ix.DType {
	case DTypeUint8, DTypeInt8, DTypeInt16, DTypeUint16, DTypeInt32, DTypeInt64:
	default:
		return nil, bad("dtype code %d (%v) is not an integer type", data[17], ix.DType)
	}
	seqs, docs := le.Uint64(data[18:]), le.Uint64(data[26:])
	body := uint64(len(data) - megatronHeaderSize)
	if seqs > body/12 || docs > body/8 || 12*seqs+8*docs != body {
		return nil, bad("%d sequences and %d documents do not fill the %d bytes after the header", seqs, docs, body)
	}
	if docs == 0 {
		return nil, bad("no document indices (want at least the leading 0)")
	}
	n := int(seqs)
	p := data[megatronHeaderSize:]
	ix.Lengths = make([]int32, n)
	ix.Pointers = make([]int64, n)
	ix.DocumentIndices = make([]int64, docs)
	var next int64
	for i := range n {
		ix.Lengths[i] = int32(le.Uint32(p[4*i:]))
		if ix.Lengths[i] < 0 {
			return nil, bad("sequence %d has length %d", i, ix.Lengths[i])
		}
	}
	p = p[4*n:]
	for i := range n {
		ix.Pointers[i] = int64(le.Uint64(p[8*i:]))
		if ix.Pointers[i] != next {
			return nil, bad("sequence %d starts at byte %d, want %d (right after sequence %d)", i, ix.Pointers[i], next, i-1)
		}
		next += int64(ix.Lengths[i]) * int64(ix.DType.Size())
	}
	p = p[8*n:]
	for i := range ix.DocumentIndices {
		d := int64(le.Uint64(p[8*i:]))
		switch {
		case i == 0 && d != 0:
			return nil, bad("document indices start at %d, want 0", d)
		case i > 0 && d < ix.DocumentIndices[i-1]:
			return nil, bad("document index %d (%d) is below the one before it (%d)", i, d, ix.DocumentIndices[i-1])
		}
		ix.DocumentIndices[i] = d
	}
	if last := ix.DocumentIndices[docs-1]; last != int64(n) {
		return nil, bad("document indices end at %d, want the sequence count %d", last, n)
	}
	return ix, nil
}

// BinSize returns the size in bytes of the .bin file the index describes.
func (ix *MegatronIndex) BinSize() int64 {
	var n int64
	for _, l := range ix.Lengths {
		n += int64(l)
	}
	return n * int64(ix.DType.Size())
}

// MegatronDataset is a Megatron-LM indexed dataset opened for reading: the reference decoder of
// what NewMegatron and CreateMegatron write, and a reader of the integer datasets Megatron-LM's
// own builder writes.
type MegatronDataset struct {
	Index *MegatronIndex
	bin   *os.File
}

// OpenMegatron reads and checks the index at idxPath (ReadMegatronIndex), checks that the file
// at binPath has exactly the size the index describes, and keeps it open for Tokens. Close it.
func OpenMegatron(binPath, idxPath string) (*MegatronDataset, error) {
	f, err := os.Open(idxPath)
	if err != nil {
		return nil, err
	}
	ix, err := ReadMegatronIndex(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", idxPath, err)
	}
	bin, err := os.Open(binPath)
	if err != nil {
		return nil, err
	}
	st, err := bin.Stat()
	if err == nil && st.Size() != ix.BinSize() {
		err = fmt.Errorf("%w: %s is %d bytes, the index describes %d", ErrMalformedMegatron, binPath, st.Size(), ix.BinSize())
	}
	if err != nil {
		bin.Close()
		return nil, err
	}
	return &MegatronDataset{Index: ix, bin: bin}, nil
}

// Len returns the number of sequences.
func (d *MegatronDataset) Len() int { return len(d.Index.Lengths) }

// Tokens returns the token ids of sequence i (0 <= i < Len).
func (d *MegatronDataset) Tokens(i int) ([]int, error) {
	if i < 0 || i >= d.Len() {
		return nil, fmt.Errorf("export: sequence %d out of range [0, %d)", i, d.Len())
	}
	size := d.Index.DType.Size()
	raw := make([]byte, int(d.Index.Lengths[i])*size)
	if _, err := d.bin.ReadAt(raw, d.Index.Pointers[i]); err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: %s ends inside sequence %d", ErrMalformedMegatron, d.bin.Name(), i)
		}
		return nil, err
	}
	return decodeIDs(raw, d.Index.DType), nil
}

// Close closes the .bin file.
func (d *MegatronDataset) Close() error { return d.bin.Close() }

// decodeIDs converts little-endian values of an integer dtype to ints.
func decodeIDs(raw []byte, dtype DType) []int {
	le := binary.LittleEndian
	ids := make([]int, len(raw)/dtype.Size())
	for i := range ids {
		switch dtype {
		case DTypeUint8:
			ids[i] = int(raw[i])
		case DTypeInt8:
			ids[i] = int(int8(raw[i]))
		case DTypeUint16:
			ids[i] = int(le.Uint16(raw[2*i:]))
		case DTypeInt16:
			ids[i] = int(int16(le.Uint16(raw[2*i:])))
		case DTypeInt32:
			ids[i] = int(int32(le.Uint32(raw[4*i:])))
		case DTypeInt64:
			ids[i] = int(int64(le.Uint64(raw[8*i:])))
		}
	}
	return ids
}
