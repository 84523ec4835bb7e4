package codec

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Model is a compression prior trained on a store's own data (by Sample.Train): a raw zstd
// dictionary for token frames, one for manifests, and a rank table that recodes the most
// frequent token ids as small numbers, so that they take one varint byte instead of two or
// three. Models are immutable; their id is derived from their encoded content (ModelID), so two
// writers building the same model agree on its id.
//
// The encoded form (model object version 2):
//
//	magic    4 bytes  "STKM"
//	version  1 byte   2
//	length   uvarint  length of the compressed body
//	body     zstd frame (no dictionary) of: tokenizer, token dictionary, manifest dictionary,
//	         each a uvarint length and the bytes; generation (uvarint); the rank table: a
//	         uvarint count, then that many token ids as uvarints, most frequent first
//	crc      4 bytes  CRC-32C of everything above, little endian
//
// Version 1 objects ("STKM", 1, then tokenizer, application, token dictionary and manifest
// dictionary, uvarint-length-prefixed and uncompressed, then the CRC-32C) are read too; they
// have no rank table.
type Model struct {
	// ID is the model's id, ModelID of its encoded form; set by DecodeModel.
	ID         uint32
	Tokenizer  string
	Generation int
	TokenDict  []byte
	// ManifestDict is the manifests' dictionary; codec does not use it (see package manifest).
	ManifestDict []byte
	// Ranks lists token ids, most frequent first: token Ranks[i] is coded as i.
	Ranks []int
}

// MaxRanks is the longest rank table a model may hold.
const MaxRanks = 1 << 16

var modelMagic = [4]byte{'S', 'T', 'K', 'M'}

// Encode returns the model object. m.ID is not part of it; ModelID derives it.
func (m *Model) Encode() ([]byte, error) {
	var body []byte
	for _, part := range [][]byte{[]byte(m.Tokenizer), m.TokenDict, m.ManifestDict} {
		body = binary.AppendUvarint(body, uint64(len(part)))
		body = append(body, part...)
	}
	body = binary.AppendUvarint(body, uint64(m.Generation))
	if len(m.Ranks) > MaxRanks {
		return nil, fmt.Errorf("codec: model rank table of %d tokens, more than %d", len(m.Ranks), MaxRanks)
	}
	body = binary.AppendUvarint(body, uint64(len(m.Ranks)))
	body = AppendVarints(body, m.Ranks)
	z, err := plainZstd()
	if err != nil {
		return nil, err
	}
	packed := z.Compress(body)
	b := append(modelMagic[:], 2)
	b = binary.AppendUvarint(b, uint64(len(packed)))
	b = append(b, packed...)
	return binary.LittleEndian.AppendUint32(b, Checksum(b)), nil
}

// ModelID derives a model's id from its encoded form: a value in zstd's unreserved dictionary
// id range [32768, 2^31).
func ModelID(encoded []byte) uint32 {
	h := sha256.Sum256(encoded[:max(0, len(encoded)-4)])
	return 32768 + binary.LittleEndian.Uint32(h[:4])%(1<<31-32768)
}

// DecodeModel checks and decodes the model object stored under id: its checksum, and that its
// content matches the id. Anything malformed is ErrCorrupt.
func DecodeModel(id uint32, data []byte) (*Model, error) {
	bad := func(what string) (*Model, error) {
		return nil, fmt.Errorf("%w: model %08x: %s", ErrCorrupt, id, what)
	}
	if len(data) < 9 || !bytes.Equal(data[:4], modelMagic[:]) {
		return bad("bad header")
	}
	body := data[:len(data)-4]
	if Checksum(body) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return bad("checksum mismatch")
	}
	if ModelID(data) != id {
		return bad("content does not match its id")
	}
	m := &Model{ID: id}
	rest := body[5:]
	switch data[4] {
	case 1:
		parts, rest, err := lengthPrefixed(rest, 4)
		if err != nil || len(rest) != 0 {
			return bad("truncated")
		}
		m.Tokenizer, m.TokenDict, m.ManifestDict = string(parts[0]), parts[2], parts[3]
		return m, nil
	case 2:
		n, k := binary.Uvarint(rest)
		if k <= 0 || n != uint64(len(rest)-k) {
			return bad("truncated")
		}
		z, err := plainZstd()
		if err != nil {
			return nil, err
		}
		plain, err := z.Decompress(rest[k:], 64<<20)
		if err != nil {
			return bad(err.Error())
		}
		parts, rest, err := lengthPrefixed(plain, 3)
		if err != nil {
			return bad("truncated")
		}
		m.Tokenizer, m.TokenDict, m.ManifestDict = string(parts[0]), parts[1], parts[2]
		var fields [2]uint64
		for i := range fields {
			v, k := binary.Uvarint(rest)
			if k <= 0 {
				return bad("truncated")
			}
			fields[i], rest = v, rest[k:]
		}
		if fields[1] > MaxRanks {
			return bad("rank table too long")
		}
		m.Generation = int(min(fields[0], 1<<20))
		m.Ranks = make([]int, 0, fields[1])
		seen := map[uint64]bool{}
		for range fields[1] {
			v, k := binary.Uvarint(rest)
			if k <= 0 || v > 1<<32-1 || seen[v] {
				return bad("bad rank table")
			}
			seen[v] = true
			m.Ranks = append(m.Ranks, int(v))
			rest = rest[k:]
		}
		if len(rest) != 0 {
			return bad("trailing data")
		}
		return m, nil
	default:
		return bad(fmt.Sprintf("version %d", data[4]))
	}
}

// lengthPrefixed reads n uvarint-length-prefixed byte strings from b.
func lengthPrefixed(b []byte, n int) ([][]byte, []byte, error) {
	parts := make([][]byte, n)
	for i := range parts {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, nil, ErrCorrupt
		}
		parts[i], b = b[k:k+int(l)], b[k+int(l):]
	}
	return parts, b, nil
}

// Coder returns a function appending tokens to dst as the frames of this model hold them before
// compression: each token's code (see ZstdRanked) as an unsigned varint, or the token id
// itself when the model has no rank table.
func (m *Model) Coder() func(dst []byte, tokens []int) []byte {
	if len(m.Ranks) == 0 {
		return AppendVarints
	}
	return newRanking(m.Ranks).appendCodes
}

// ranking recodes token ids by a model's rank table.
type ranking struct {
	ranks  []int   // rank -> token
	rankOf []int32 // token -> rank + 1, 0 when not ranked
}

func newRanking(ranks []int) *ranking {
	r := &ranking{ranks: ranks}
	top := 0
	for _, t := range ranks {
		top = max(top, t)
	}
	r.rankOf = make([]int32, top+1)
	for i, t := range ranks {
		r.rankOf[t] = int32(i + 1)
	}
	return r
}

// code maps a token id to its code: its rank if ranked, else len(ranks) + the id.
func (r *ranking) code(t int) uint64 {
	if t < len(r.rankOf) && r.rankOf[t] != 0 {
		return uint64(r.rankOf[t] - 1)
	}
	return uint64(len(r.ranks)) + uint64(uint32(t))
}

func (r *ranking) appendCodes(dst []byte, tokens []int) []byte {
	for _, t := range tokens {
		dst = binary.AppendUvarint(dst, r.code(t))
	}
	return dst
}

// token is the inverse of code.
func (r *ranking) token(c uint64) (int, bool) {
	if c < uint64(len(r.ranks)) {
		return r.ranks[c], true
	}
	t := c - uint64(len(r.ranks))
	return int(t), t <= 1<<32-1
}

// plainZstd returns a compressor without a dictionary, for model objects.
func plainZstd() (*Zstd, error) { return NewZstd(LevelDocuments, 0, nil, true) }

// ModelPrefix is the key prefix of the objects that hold models in a store's bucket.
const ModelPrefix = "models/"

// ModelKey is the object key of the model with the given id: models/<id, 8 hex digits>.
func ModelKey(id uint32) string { return fmt.Sprintf("%s%08x", ModelPrefix, id) }

// ParseModelKey returns the id of the model stored under key, and false when key is not a model
// key (ModelPrefix and the id in hex).
func ParseModelKey(key string) (uint32, bool) {
	hexID, ok := strings.CutPrefix(key, ModelPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(hexID, 16, 32)
	return uint32(id), err == nil
}
