package manifest

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

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

// Batch ids. A StoreBatch's is "b-" and 24 lowercase hex digits: 12 random bytes. A Store's
// (a batch of one conversation) is "s-" and 24 hex digits: the Unix millisecond of its start
// in 6 bytes, big-endian, then 6 random bytes, so that the batch objects of conversations
// stored alone, whose catalog entries are in them until GC gathers them into the catalog's
// files, list in time order under SoloPrefix. '-' is not a hex digit, so no segment id (64 hex
// digits) is a batch id.
const (
	batchIDPrefix = "b-"
	soloIDPrefix  = "s-"
)

// BatchIDSize is how many bytes a batch id carries.
const BatchIDSize = 12

// SoloPrefix is the key prefix of the batch objects of conversations stored alone (Store).
const SoloPrefix = BatchPrefix + soloIDPrefix

// NewBatchID returns a new random batch id for a StoreBatch: "b-" and 24 lowercase hex digits
// (96 random bits).
func NewBatchID() string {
	b := make([]byte, BatchIDSize)
	rand.Read(b)
	return batchIDPrefix + hex.EncodeToString(b)
}

// NewSoloBatchID returns a new batch id for a conversation stored alone at t: "s-", 12 hex
// digits of t's Unix millisecond (0 before 1970) and 12 random ones (48 random bits).
func NewSoloBatchID(t time.Time) string {
	b := make([]byte, BatchIDSize)
	binary.BigEndian.PutUint64(b[:8], uint64(max(t.UnixMilli(), 0))<<16)
	rand.Read(b[6:])
	return soloIDPrefix + hex.EncodeToString(b)
}

// SoloKey returns the key every batch object of a conversation stored alone at t or later
// sorts after (and every one stored before t does not): the key to list after
// (objstore.Bucket.ListAfter) for those stored since t.
func SoloKey(t time.Time) string {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(max(t.UnixMilli(), 0))<<16)
	return SoloPrefix + hex.EncodeToString(b[:6])
}

// SoloTime returns the time a solo batch id (NewSoloBatchID) carries, to the millisecond, and
// false for any other id.
func SoloTime(id string) (time.Time, bool) {
	b, ok := BatchIDBytes(id)
	if !ok || len(b) != 1+BatchIDSize {
		return time.Time{}, false
	}
	ms := binary.BigEndian.Uint64(append(b[1:7:7], 0, 0)) >> 16
	return time.UnixMilli(int64(ms)).UTC(), true
}

// BatchIDFromBytes returns the batch id whose bytes BatchIDBytes returned: 12 bytes for a
// StoreBatch's id, 13 ('s' and 12) for a Store's; "" for anything else.
func BatchIDFromBytes(b []byte) string {
	switch {
	case len(b) == BatchIDSize:
		return batchIDPrefix + hex.EncodeToString(b)
	case len(b) == 1+BatchIDSize && b[0] == soloIDPrefix[0]:
		return soloIDPrefix + hex.EncodeToString(b[1:])
	}
	return ""
}

// BatchIDBytes returns the bytes that identify a batch id of NewBatchID's form (its 12 bytes)
// or NewSoloBatchID's ('s' and its 12 bytes). It reports false for any other id, uppercase hex
// digits included, so that BatchIDFromBytes gives id back.
func BatchIDBytes(id string) ([]byte, bool) {
	var lead []byte
	rest, ok := strings.CutPrefix(id, batchIDPrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(id, soloIDPrefix); !ok {
			return nil, false
		}
		lead = []byte{soloIDPrefix[0]}
	}
	if len(rest) != 2*BatchIDSize {
		return nil, false
	}
	b, err := hex.DecodeString(rest)
	if err != nil || hex.EncodeToString(b) != rest {
		return nil, false
	}
	return append(lead, b...), true
}

// IsBatchID reports whether id has the form of a batch id (of a StoreBatch or of a Store).
func IsBatchID(id string) bool {
	if len(id) != len(batchIDPrefix)+2*BatchIDSize || id[:len(batchIDPrefix)] != batchIDPrefix && id[:len(soloIDPrefix)] != soloIDPrefix {
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
