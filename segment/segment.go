// Package segment cuts a conversation's token stream into segments and names them: the
// content-defined chunker (Cut), segment ids (ID, the hash of the tokens) and the object key of
// a segment in the bucket (Key, and KeyID back). It needs no store: package vault writes what
// it cuts. docs/design.md ("Data flow", Store) explains the choices.
package segment

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// Chunking parameters, in tokens. A message of at least longMessage tokens is cut on its own, so
// that the same long message (a system prompt, a tool schema, a pasted document) yields the same
// segments wherever it appears; shorter messages are grouped into runs and cut together.
// Inside a message or run, cut points are content-defined (a rolling gear hash over the token
// ids), so a passage shared by different messages yields the same segments in both. Pieces of
// at least MinTokens tokens become segment objects; shorter pieces are stored inline in the
// manifest, where they cost no request and compress together with their neighbours.
const (
	longMessage = 256
	// MinTokens is the length of the shortest segment: shorter pieces are stored inline.
	MinTokens  = 256
	maxSegment = 8192
	// cutBits sets the average piece length past MinTokens: 2^cutBits tokens.
	cutBits = 11
)

// Piece is a run of a conversation's token stream.
type Piece struct {
	Tokens []int
	// ID is the segment id when the piece is a segment object (at least MinTokens long), ""
	// when it is stored inline.
	ID string
}

// Cut splits the messages' token streams (of one tokenizer) into pieces, in stream order.
func Cut(tokenizer string, messages [][]int) []Piece {
	var out []Piece
	var run []int
	flush := func(tokens []int) {
		for _, chunk := range cdc(tokens) {
			p := Piece{Tokens: chunk}
			if len(chunk) >= MinTokens {
				p.ID = ID(tokenizer, chunk)
			}
			out = append(out, p)
		}
	}
	for _, m := range messages {
		if len(m) < longMessage {
			run = append(run, m...)
			continue
		}
		if len(run) > 0 {
			flush(run)
			run = nil
		}
		flush(m)
	}
	if len(run) > 0 {
		flush(run)
	}
	return out
}

// cdc cuts tokens at content-defined points: after at least MinTokens tokens, where the top
// cutBits bits of a gear hash over the last 64 tokens are zero, and at the latest after
// maxSegment tokens.
func cdc(tokens []int) [][]int {
	const mask = ^(^uint64(0) >> cutBits)
	var out [][]int
	start := 0
	var h uint64
	for i, t := range tokens {
		h = h<<1 + mix(uint64(t))
		n := i - start + 1
		if n >= MinTokens && h&mask == 0 || n >= maxSegment {
			out = append(out, tokens[start:i+1])
			start, h = i+1, 0
		}
	}
	if start < len(tokens) {
		out = append(out, tokens[start:])
	}
	return out
}

// mix is splitmix64's finaliser: a fixed pseudo-random 64-bit value per token id.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// ID is the id of a segment: the SHA-256, in hex, of the canonical encoding of
// (tokenizer, token ids): "stowken/segment/v1", NUL, the tokenizer name, NUL, then every token
// id as a 4-byte little-endian integer. It depends on the tokens only, never on their
// compressed bytes, so a new codec never breaks deduplication.
func ID(tokenizer string, tokens []int) string {
	h := sha256.New()
	h.Write([]byte("stowken/segment/v1\x00"))
	h.Write([]byte(tokenizer))
	h.Write([]byte{0})
	buf := make([]byte, 0, 4*min(len(tokens), 4096))
	for i, t := range tokens {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(t))
		if len(buf) == cap(buf) || i == len(tokens)-1 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Prefix is the key prefix of every segment object.
const Prefix = "segments/"

// Key is the object key of a segment. Keys fan out over 65,536 prefixes by the id's first four
// hex digits, since S3's request rates are per prefix.
func Key(id string) string {
	return Prefix + id[:2] + "/" + id[2:4] + "/" + id
}

// KeyID returns the segment id of an object key under Prefix: its last path element.
func KeyID(key string) string {
	return key[strings.LastIndexByte(key, '/')+1:]
}
