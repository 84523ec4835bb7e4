// Package manifest is the per-conversation document: what a stored conversation consists of and
// where its tokens are. The manifests of one batch are stored together, in its batch object
// (batch.go); a conversation's pointer item names the batch (refcount.Pointer).
//
// A manifest is a JSON document (schema version SchemaVersion). Its stored form is one zstd
// frame, with a content checksum, of the compact JSON, a newline, and the inline tokens as
// unsigned LEB128 varints (so small unique data costs neither a request nor base64). Decode
// validates everything it reads; a manifest written by a newer, unknown schema version is
// rejected with ErrNewerVersion rather than misread. MarshalJSON gives the JSON of a decoded
// manifest (vault.Manifest reads one).
//
// The token stream of a conversation is the concatenation of its messages' tokens, in order.
// Chunks cover that stream exactly, in order: a chunk is either a reference to a segment object
// (by its SHA-256 id) or a run of tokens stored inline, in the manifest itself (all inline runs
// of a conversation, concatenated in order, in Inline).
//
// docs/design.md ("Layout") describes where manifests are stored.
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/conversation"
)

// SchemaVersion is the manifest schema this package writes and the newest it reads.
const SchemaVersion = 1

// MaxSize is the largest encoded or decoded manifest accepted.
const MaxSize = 256 << 20

// Sentinel errors.
var (
	// ErrInvalid: the manifest is malformed or inconsistent.
	ErrInvalid = errors.New("manifest: invalid")
	// ErrNewerVersion: the manifest has a schema version newer than this build understands.
	ErrNewerVersion = errors.New("manifest: newer schema version")
)

// Manifest describes one stored conversation.
type Manifest struct {
	SchemaVersion int    `json:"schema_version"`
	ID            string `json:"id"`
	// Nonce tells the stored copies of one id apart (the catalog keys its rows by id and
	// nonce). A manifest in a batch object has none: readers set it from the conversation's
	// pointer. Manifests of the layout before batches (one object per conversation) carry it.
	Nonce string `json:"nonce,omitempty"`
	// Batch is the batch that stored the conversation: the owner of the references that keep
	// its segments. Readers set it from the pointer; it is not part of the stored form.
	Batch       string `json:"-"`
	Application string `json:"application"`
	Model       string `json:"model"`
	Tokenizer   string `json:"tokenizer"`
	// CreatedAt is the caller-given creation time (RFC 3339), empty when none was given.
	CreatedAt string `json:"created_at,omitempty"`
	// StoredAt is when the vault stored the conversation, in Unix milliseconds.
	StoredAt int64           `json:"stored_at"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Messages []Message       `json:"messages"`
	Chunks   []Chunk         `json:"chunks"`
	// Inline holds every inline chunk's tokens, in order. It is stored after the JSON text.
	Inline []int  `json:"-"`
	Totals Totals `json:"totals"`
}

// Message is one message's place in the token stream and everything about it that is not tokens.
type Message struct {
	Role string `json:"role"`
	// Tokens is the number of tokens the message contributes to the stream.
	Tokens int `json:"tokens"`
	// AsTokens is set when the caller gave token ids; the message is then returned as tokens,
	// otherwise as text.
	AsTokens    bool       `json:"as_tokens,omitempty"`
	ContentNull bool       `json:"content_null,omitempty"`
	Name        string     `json:"name,omitempty"`
	ToolCallID  string     `json:"tool_call_id,omitempty"`
	ToolCalls   []ToolCall `json:"tool_calls,omitempty"`
}

// ToolCall is a function call of an assistant message.
type ToolCall struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Chunk is one piece of the token stream: Tokens tokens of a segment from Offset on (Segment
// set; a whole segment, or a slice of a pack segment shared by several conversations), or an
// inline run.
type Chunk struct {
	// Segment is the segment id, 64 hex digits; empty for an inline run.
	Segment string `json:"segment,omitempty"`
	Offset  int    `json:"offset,omitempty"`
	Tokens  int    `json:"tokens"`
}

// Totals are the manifest's sums, for statistics without decoding.
type Totals struct {
	Tokens int `json:"tokens"`
	// SegmentBytes is the encoded size of the referenced segments (counted once per distinct
	// segment of this conversation).
	SegmentBytes int64 `json:"segment_bytes"`
}

// LegacyOwner is the owner of the references of a manifest stored in the layout before batches,
// as one object per conversation: "nonce:id".
func (m *Manifest) LegacyOwner() string { return m.Nonce + ":" + m.ID }

// Roles returns the role of each message, in order.
func (m *Manifest) Roles() []string {
	out := make([]string, len(m.Messages))
	for i, msg := range m.Messages {
		out[i] = msg.Role
	}
	return out
}

// Segments returns the distinct segment ids the manifest references, in first-use order.
func (m *Manifest) Segments() []string {
	seen := make(map[string]bool, len(m.Chunks))
	var out []string
	for _, c := range m.Chunks {
		if c.Segment != "" && !seen[c.Segment] {
			seen[c.Segment] = true
			out = append(out, c.Segment)
		}
	}
	return out
}

// Validate checks the manifest's internal consistency.
func (m *Manifest) Validate() error {
	if m.SchemaVersion > SchemaVersion {
		return fmt.Errorf("%w: schema_version %d (this build reads up to %d)", ErrNewerVersion, m.SchemaVersion, SchemaVersion)
	}
	if m.SchemaVersion < 1 {
		return fmt.Errorf("%w: schema_version %d", ErrInvalid, m.SchemaVersion)
	}
	if err := conversation.ValidateID(m.ID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if m.Tokenizer == "" {
		return fmt.Errorf("%w: tokenizer must be set", ErrInvalid)
	}
	stream := 0
	for i, msg := range m.Messages {
		if msg.Tokens < 0 {
			return fmt.Errorf("%w: message %d has %d tokens", ErrInvalid, i, msg.Tokens)
		}
		stream += msg.Tokens
	}
	chunks, inline := 0, 0
	for i, c := range m.Chunks {
		if c.Tokens <= 0 || c.Offset < 0 || c.Offset > 0 && c.Segment == "" {
			return fmt.Errorf("%w: chunk %d has %d tokens at offset %d", ErrInvalid, i, c.Tokens, c.Offset)
		}
		if c.Segment == "" {
			inline += c.Tokens
		} else if b, err := hex.DecodeString(c.Segment); err != nil || len(b) != 32 {
			return fmt.Errorf("%w: chunk %d: segment id %q is not 64 hex digits", ErrInvalid, i, c.Segment)
		}
		chunks += c.Tokens
	}
	if chunks != stream || stream != m.Totals.Tokens {
		return fmt.Errorf("%w: messages hold %d tokens, chunks %d, totals %d", ErrInvalid, stream, chunks, m.Totals.Tokens)
	}
	if inline != len(m.Inline) {
		return fmt.Errorf("%w: inline chunks hold %d tokens, the manifest %d", ErrInvalid, inline, len(m.Inline))
	}
	return nil
}

// Encoder writes and reads manifests, optionally compressed with a dictionary trained on the
// store's own manifests (see vault). It is safe for concurrent use.
type Encoder struct {
	mu    sync.RWMutex
	zstds map[uint32]*codec.Zstd
}

// NewEncoder returns an Encoder with no dictionaries yet.
func NewEncoder() (*Encoder, error) {
	z, err := codec.NewZstd(codec.LevelDocuments, 0, nil, true)
	if err != nil {
		return nil, err
	}
	return &Encoder{zstds: map[uint32]*codec.Zstd{0: z}}, nil
}

// AddDict makes a raw-content dictionary available under id (non-zero); again is a no-op.
func (e *Encoder) AddDict(id uint32, content []byte) error {
	if id == 0 {
		return errors.New("manifest: dictionary id 0 is reserved")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.zstds[id]; ok {
		return nil
	}
	z, err := codec.NewZstd(codec.LevelDocuments, id, content, true)
	if err != nil {
		return err
	}
	e.zstds[id] = z
	return nil
}

func (e *Encoder) zstd(id uint32) (*codec.Zstd, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	z, ok := e.zstds[id]
	if !ok {
		return nil, &codec.UnknownDictError{Dict: id}
	}
	return z, nil
}

// Encode validates m and returns its stored form, compressed with dictionary dict (0 for none).
func (e *Encoder) Encode(m *Manifest, dict uint32) ([]byte, error) {
	payload, err := Payload(m)
	if err != nil {
		return nil, err
	}
	z, err := e.zstd(dict)
	if err != nil {
		return nil, err
	}
	return z.Compress(payload), nil
}

// Payload validates m and returns its uncompressed stored form: JSON, newline, inline varints.
func Payload(m *Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	js, err := MarshalJSON(m)
	if err != nil {
		return nil, err
	}
	return codec.AppendVarints(append(js, '\n'), m.Inline), nil
}

// MarshalJSON returns the manifest's JSON form (not compressed).
func MarshalJSON(m *Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("manifest %q: %w", m.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode parses and validates a stored manifest (or its uncompressed payload). A manifest with
// a newer schema version is ErrNewerVersion; one compressed with a dictionary not added is a
// *codec.UnknownDictError.
func (e *Encoder) Decode(data []byte) (*Manifest, error) {
	js := data
	if len(data) >= 4 && bytes.Equal(data[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		dict, err := codec.FrameDict(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		z, err := e.zstd(dict)
		if err != nil {
			return nil, err
		}
		if js, err = z.Decompress(data, MaxSize); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if len(js) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(js), MaxSize)
	}
	js, varints, _ := bytes.Cut(js, []byte{'\n'})
	inline, err := readVarints(varints)
	if err != nil {
		return nil, err
	}
	var probe struct {
		SchemaVersion int `json:"schema_version"`
	}
	if err := json.Unmarshal(js, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if probe.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%w: schema_version %d (this build reads up to %d); upgrade stowken", ErrNewerVersion, probe.SchemaVersion, SchemaVersion)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalid)
	}
	m.Inline = inline
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func readVarints(b []byte) ([]int, error) {
	var out []int
	for len(b) > 0 {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > 1<<32-1 {
			return nil, fmt.Errorf("%w: bad inline token at index %d", ErrInvalid, len(out))
		}
		out = append(out, int(v))
		b = b[n:]
	}
	return out, nil
}

// Object keys of manifests stored one per conversation, the layout before batches (vault's
// migration reads them): Prefix + id + Suffix for ids of up to maxKeyID bytes.
const (
	Prefix = "manifests/"
	Suffix = ".json.zst"
	// maxKeyID is the longest id used as it is in a manifest key.
	maxKeyID = 150
)

// Key is the object key of a conversation's manifest in the layout before batches: manifests/<id>.json.zst for ids of up to
// maxKeyID bytes. A longer id (up to 512 bytes are allowed) is shortened to its first maxKeyID
// bytes, "~" and 32 hex digits of its SHA-256, so that every key element fits in a file name
// (255 bytes) on the local store; the manifest itself holds the whole id. Short ids never
// reach the length of a shortened one, so the two cannot collide.
func Key(id string) string {
	if len(id) <= maxKeyID {
		return Prefix + id + Suffix
	}
	cut := maxKeyID
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(id))
	return Prefix + id[:cut] + "~" + hex.EncodeToString(sum[:16]) + Suffix
}
