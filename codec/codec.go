// Package codec turns token ids into bytes and back: the segment frame and the compression
// codecs inside it. It knows nothing of storage.
//
// # The frame
//
// Every encoded token run, a segment object or a manifest's inline run, is one frame:
//
//	magic    4 bytes  "STKF"
//	version  1 byte   FrameVersion (1)
//	codec    1 byte   codec id (see ID)
//	dict     uvarint  dictionary/model id, 0 = none
//	tokens   uvarint  number of token ids
//	length   uvarint  payload length in bytes
//	payload  length bytes, codec-specific
//	crc      4 bytes  CRC-32C (Castagnoli) of everything above, little endian
//
// A frame is self-describing: a decoder needs nothing but the frame. Decode rejects anything
// malformed, truncated, or with a wrong checksum with an error wrapping ErrCorrupt, and rejects
// frames of a newer version or an unknown codec with ErrUnsupported; it never panics on input.
//
// # Codecs and dictionaries
//
// Codecs are chosen by id, so frames written by an older codec stay readable when a better one
// becomes the default. Ids are never reused. A frame may name a Model (trained by a Sample of
// the store's own data) by its id, in the dict field; the model must be added with AddModel
// before such a frame can be decoded, and Decode reports a missing one with an
// *UnknownDictError.
//
// docs/design.md describes the whole design.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
)

// Sentinel errors.
var (
	// ErrCorrupt: the frame is malformed, truncated or fails its checksum.
	ErrCorrupt = errors.New("codec: corrupt frame")
	// ErrUnsupported: the frame was written by a newer version or with an unknown codec.
	ErrUnsupported = errors.New("codec: unsupported frame")
)

// FrameVersion is the frame layout version this package writes.
const FrameVersion = 1

// MaxTokens is the largest token count a frame may declare.
const MaxTokens = 64 << 20

// ID identifies a codec inside a frame.
type ID byte

// Codec ids. Never reuse a retired id.
const (
	// ZstdVarint: each token id as an unsigned LEB128 varint, the whole run compressed as one
	// zstd frame (no zstd checksum: the stowken frame has its own).
	ZstdVarint ID = 1
	// ZstdRanked: like ZstdVarint, but each token id is first recoded by the model's rank
	// table (see Model): the most frequent tokens become the smallest numbers. Written when
	// the frame's model has a rank table.
	ZstdRanked ID = 2
)

var magic = [4]byte{'S', 'T', 'K', 'F'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC-32C (Castagnoli) of b, the checksum of frames and of other stowken
// binary objects.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// UnknownDictError is returned by Decode for a frame whose dictionary was not added.
type UnknownDictError struct{ Dict uint32 }

func (e *UnknownDictError) Error() string {
	return fmt.Sprintf("codec: dictionary %08x is not loaded", e.Dict)
}

// Codec encodes and decodes frames. It is safe for concurrent use; make one and share it.
type Codec struct {
	mu     sync.RWMutex
	models map[uint32]*codecModel // by model id; 0 = no model
}

type codecModel struct {
	zstd    *Zstd
	ranking *ranking // nil when the model has no rank table
}

// New returns a Codec with no models yet: it writes ZstdVarint frames without a dictionary.
func New() (*Codec, error) {
	z, err := NewZstd(LevelTokens, 0, nil, false)
	if err != nil {
		return nil, err
	}
	return &Codec{models: map[uint32]*codecModel{0: {zstd: z}}}, nil
}

// AddModel makes m available to Encode and Decode under m.ID (non-zero). Adding an id again is
// a no-op.
func (c *Codec) AddModel(m *Model) error {
	if m.ID == 0 {
		return errors.New("codec: model id 0 is reserved")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.models[m.ID]; ok {
		return nil
	}
	z, err := NewZstd(LevelTokens, m.ID, m.TokenDict, false)
	if err != nil {
		return err
	}
	cm := &codecModel{zstd: z}
	if len(m.Ranks) > 0 {
		cm.ranking = newRanking(m.Ranks)
	}
	c.models[m.ID] = cm
	return nil
}

func (c *Codec) model(id uint32) (*codecModel, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.models[id]
	if !ok {
		return nil, &UnknownDictError{Dict: id}
	}
	return m, nil
}

// Encode returns the frame of tokens, compressed with model dict (0 for none; it must have
// been added). Token ids must be non-negative and below 2^32.
func (c *Codec) Encode(tokens []int, dict uint32) ([]byte, error) {
	m, err := c.model(dict)
	if err != nil {
		return nil, err
	}
	id, raw := ZstdVarint, make([]byte, 0, len(tokens)*3)
	if r := m.ranking; r != nil {
		id, raw = ZstdRanked, r.appendCodes(raw, tokens)
	} else {
		raw = AppendVarints(raw, tokens)
	}
	payload := m.zstd.Compress(raw)

	frame := make([]byte, 0, len(payload)+24)
	frame = append(frame, magic[:]...)
	frame = append(frame, FrameVersion, byte(id))
	frame = binary.AppendUvarint(frame, uint64(dict))
	frame = binary.AppendUvarint(frame, uint64(len(tokens)))
	frame = binary.AppendUvarint(frame, uint64(len(payload)))
	frame = append(frame, payload...)
	return binary.LittleEndian.AppendUint32(frame, Checksum(frame)), nil
}

// AppendVarints appends every token id as an unsigned LEB128 varint.
func AppendVarints(dst []byte, tokens []int) []byte {
	for _, t := range tokens {
		dst = binary.AppendUvarint(dst, uint64(uint32(t)))
	}
	return dst
}

// Header is what a frame says about itself.
type Header struct {
	Version byte
	Codec   ID
	Dict    uint32
	Tokens  int
}

// Decode checks the frame and returns its tokens.
func (c *Codec) Decode(frame []byte) ([]int, error) {
	h, payload, err := parse(frame)
	if err != nil {
		return nil, err
	}
	if h.Codec != ZstdVarint && h.Codec != ZstdRanked {
		return nil, fmt.Errorf("%w: unknown codec id %d", ErrUnsupported, h.Codec)
	}
	return c.decodeZstd(h, payload)
}

// ReadHeader checks the frame's structure and checksum and returns its header.
func ReadHeader(frame []byte) (Header, error) {
	h, _, err := parse(frame)
	return h, err
}

func parse(frame []byte) (Header, []byte, error) {
	var h Header
	if len(frame) < len(magic)+2+3+4 {
		return h, nil, fmt.Errorf("%w: %d bytes is too short for a frame", ErrCorrupt, len(frame))
	}
	if [4]byte(frame[:4]) != magic {
		return h, nil, fmt.Errorf("%w: bad magic %q", ErrCorrupt, frame[:4])
	}
	body, sum := frame[:len(frame)-4], binary.LittleEndian.Uint32(frame[len(frame)-4:])
	if got := Checksum(body); got != sum {
		return h, nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, sum, got)
	}
	h.Version, h.Codec = body[4], ID(body[5])
	if h.Version != FrameVersion {
		return h, nil, fmt.Errorf("%w: frame version %d (this build reads version %d)", ErrUnsupported, h.Version, FrameVersion)
	}
	rest := body[6:]
	var fields [3]uint64
	for i := range fields {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return h, nil, fmt.Errorf("%w: truncated header", ErrCorrupt)
		}
		fields[i], rest = v, rest[n:]
	}
	if fields[0] > 1<<32-1 {
		return h, nil, fmt.Errorf("%w: dictionary id %d out of range", ErrCorrupt, fields[0])
	}
	h.Dict = uint32(fields[0])
	if fields[1] > MaxTokens {
		return h, nil, fmt.Errorf("%w: declares %d tokens, more than %d", ErrCorrupt, fields[1], MaxTokens)
	}
	h.Tokens = int(fields[1])
	if fields[2] != uint64(len(rest)) {
		return h, nil, fmt.Errorf("%w: payload length %d, but %d bytes follow", ErrCorrupt, fields[2], len(rest))
	}
	return h, rest, nil
}

// decodeZstd decodes the payload of a ZstdVarint or ZstdRanked frame.
func (c *Codec) decodeZstd(h Header, payload []byte) ([]int, error) {
	m, err := c.model(h.Dict)
	if err != nil {
		return nil, err
	}
	r := m.ranking
	if h.Codec == ZstdRanked && r == nil {
		return nil, fmt.Errorf("%w: ranked frame, but model %08x has no rank table", ErrCorrupt, h.Dict)
	}
	raw, err := m.zstd.Decompress(payload, h.Tokens*(binary.MaxVarintLen32+1))
	if err != nil {
		return nil, err
	}
	tokens := make([]int, 0, h.Tokens)
	for len(raw) > 0 {
		v, n := binary.Uvarint(raw)
		t, ok := int(v), v <= 1<<32-1
		if h.Codec == ZstdRanked {
			t, ok = r.token(v)
		}
		if n <= 0 || !ok {
			return nil, fmt.Errorf("%w: bad varint at token %d", ErrCorrupt, len(tokens))
		}
		tokens = append(tokens, t)
		raw = raw[n:]
	}
	if len(tokens) != h.Tokens {
		return nil, fmt.Errorf("%w: frame declares %d tokens, payload holds %d", ErrCorrupt, h.Tokens, len(tokens))
	}
	return tokens, nil
}
