package manifest

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/stowken/stowken/codec"
)

// A batch object holds the manifests of the conversations one StoreBatch stored (a Store is a
// batch of one), compressed together, so that a batch costs one PUT however many conversations
// it has. Its stored form is one zstd frame, with a content checksum, of the line
// "stowken-batch 1", the batch's writer deadline in Unix milliseconds as an unsigned LEB128
// varint, then for each manifest the length of its payload (Payload) as a varint and the
// payload. The manifests in it carry no nonce: the pointer of each
// stored conversation does (refcount.Pointer).

// Object keys of batch objects: BatchPrefix + the batch id.
const BatchPrefix = "batches/"

// batchHeader starts every batch object's content.
const batchHeader = "stowken-batch 1\n"

// batchIDPrefix starts every batch id; '-' is not a hex digit, so no segment id (64 hex
// digits) is a batch id.
const batchIDPrefix = "b-"

// BatchIDSize is how many random bytes a batch id carries.
const BatchIDSize = 12

// NewBatchID returns a new random batch id: "b-" and 24 lowercase hex digits (96 random bits).
func NewBatchID() string {
	b := make([]byte, BatchIDSize)
	rand.Read(b)
	return BatchIDFromBytes(b)
}

// BatchIDFromBytes returns the batch id that carries the 12 bytes b (BatchIDBytes undoes it).
func BatchIDFromBytes(b []byte) string { return batchIDPrefix + hex.EncodeToString(b) }

// BatchIDBytes returns the 12 bytes a batch id of NewBatchID's form carries. It reports false
// for any other id, uppercase hex digits included, so that BatchIDFromBytes gives id back.
func BatchIDBytes(id string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(id, batchIDPrefix)
	if !ok || len(rest) != 2*BatchIDSize {
		return nil, false
	}
	b, err := hex.DecodeString(rest)
	if err != nil || hex.EncodeToString(b) != rest {
		return nil, false
	}
	return b, true
}

// IsBatchID reports whether id has the form of a batch id.
func IsBatchID(id string) bool {
	if len(id) != len(batchIDPrefix)+24 || id[:len(batchIDPrefix)] != batchIDPrefix {
		return false
	}
	_, err := hex.DecodeString(id[len(batchIDPrefix):])
	return err == nil
}

// BatchKey is the object key of the batch object with id.
func BatchKey(id string) string { return BatchPrefix + id }

// Batch is a decoded batch object.
type Batch struct {
	// Deadline is the writer deadline of the StoreBatch that wrote it, in Unix milliseconds:
	// no pointer naming the batch is written after it.
	Deadline  int64
	Manifests []*Manifest
}

// EncodeBatch validates the batch's manifests and returns the stored form of its batch object,
// compressed with dictionary dict (0 for none). The manifests' nonces are left out. Two
// manifests with one id are invalid.
func (e *Encoder) EncodeBatch(b Batch, dict uint32) ([]byte, error) {
	z, err := e.zstd(dict)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(b.Manifests))
	buf := binary.AppendUvarint([]byte(batchHeader), uint64(b.Deadline))
	for _, m := range b.Manifests {
		if seen[m.ID] {
			return nil, fmt.Errorf("%w: conversation %q twice in one batch", ErrInvalid, m.ID)
		}
		seen[m.ID] = true
		c := *m
		c.Nonce = ""
		payload, err := Payload(&c)
		if err != nil {
			return nil, err
		}
		buf = binary.AppendUvarint(buf, uint64(len(payload)))
		buf = append(buf, payload...)
	}
	return z.Compress(buf), nil
}

// DecodeBatch checks and decodes a batch object: its checksum, its header and every manifest
// in it. A batch object compressed with a dictionary not added is a *codec.UnknownDictError; one
// of a newer format or schema version is ErrNewerVersion.
func (e *Encoder) DecodeBatch(data []byte) (Batch, error) {
	dict, err := codec.FrameDict(data)
	if err != nil {
		return Batch{}, fmt.Errorf("%w: batch object: %v", ErrInvalid, err)
	}
	z, err := e.zstd(dict)
	if err != nil {
		return Batch{}, err
	}
	content, err := z.Decompress(data, MaxSize)
	if err != nil {
		return Batch{}, fmt.Errorf("%w: batch object: %v", ErrInvalid, err)
	}
	rest, ok := bytes.CutPrefix(content, []byte(batchHeader))
	if !ok {
		if bytes.HasPrefix(content, []byte("stowken-batch ")) {
			return Batch{}, fmt.Errorf("%w: batch object format %q", ErrNewerVersion, bytes.SplitN(content, []byte("\n"), 2)[0])
		}
		return Batch{}, fmt.Errorf("%w: not a batch object", ErrInvalid)
	}
	deadline, k := binary.Uvarint(rest)
	if k <= 0 || deadline > 1<<62 {
		return Batch{}, fmt.Errorf("%w: batch object: bad writer deadline", ErrInvalid)
	}
	rest = rest[k:]
	var ms []*Manifest
	seen := map[string]bool{}
	for len(rest) > 0 {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return Batch{}, fmt.Errorf("%w: batch object: manifest %d is cut short", ErrInvalid, len(ms))
		}
		m, err := e.Decode(rest[k : k+int(n)])
		if err != nil {
			return Batch{}, fmt.Errorf("batch object: manifest %d: %w", len(ms), err)
		}
		if seen[m.ID] {
			return Batch{}, fmt.Errorf("%w: batch object holds %q twice", ErrInvalid, m.ID)
		}
		seen[m.ID] = true
		ms = append(ms, m)
		rest = rest[k+int(n):]
	}
	return Batch{Deadline: int64(deadline), Manifests: ms}, nil
}
