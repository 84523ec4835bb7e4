// Package export writes conversations in formats that other tools read, one conversation at a
// time: nothing but a small per-sequence index is held in memory, whatever the size of the
// export.
//
// # Formats
//
// Formats lists the export formats and Lookup finds one by name (ignoring case): each Format
// has a one-line description, its Kind (a Stream written to any io.Writer, or a FileSet of
// files named by a prefix) and the constructor of its Writer. An unknown name is an error
// wrapping ErrUnknownFormat that lists the known ones.
//
// FormatJSONL (NewJSONL) is the normalized format of the corpus: exactly conversation.Marshal
// per line, so that `stowken import` reads an export back byte-for-byte. Nothing is lost.
//
// FormatOpenAI (NewOpenAI) is OpenAI's chat fine-tuning JSONL: one {"messages":[...]} object
// per line. Each message has "role" and "content" (a string, or null where the conversation
// records a null content, as an assistant message that only calls tools does), "name" and
// "tool_call_id" where set, and an assistant's calls as "tool_calls":
// [{"id","type":"function","function":{"name","arguments"}}] (a call with an empty type is
// written as "function"). Messages given as token ids are decoded to text with the
// conversation's tokenizer. Roles are written as they are stored (system, developer, user,
// assistant, tool). What the format has no place for is lost: the conversation's id,
// application, model, tokenizer, created_at and metadata, and whether a message was given as
// text or as token ids. No "tools" field is written: the normalized format keeps tool
// definitions, where the source had any, as the text of a system message, and an export does not
// invent a schema for them. ParseOpenAI reads such a line back, given what was lost.
//
// The OpenAI writer writes every conversation it can, whether OpenAI's fine-tuning API would
// accept it as an example or not: CheckFineTuning checks one against the rules of the chat
// fine-tuning format (ported from OpenAI's cookbook, extended to tool calls; see the Reason
// constants) and returns its problems, each with a stable reason string, so that a caller (stowken
// export) can leave out what the API would refuse the whole file for. Token ids that are special
// tokens (such as <|endoftext|>) are written as their text, which encodes to other ids: the
// writer, an *OpenAIWriter, counts them (SpecialTokens).
//
// FormatParquet (NewParquet) is one Parquet file with a row per conversation (ParquetRow): its
// fields, and its messages as a list of structs with their tool calls. Nothing is lost but
// created_at's time zone offset and what is finer than a microsecond (the instant is kept, in
// UTC), and DuckDB, Athena, Spark and pandas read it as it is.
//
// FormatMegatron (NewMegatron, CreateMegatron) is the indexed dataset of Megatron-LM
// (megatron/core/datasets/indexed_dataset.py: IndexedDatasetBuilder writes it, IndexedDataset
// with _IndexReader reads it; older releases call it MMapIndexedDataset). Each conversation is
// one sequence and one document: the token ids of its messages, concatenated in message order
// (messages given as text are encoded with the conversation's tokenizer, exactly as the vault
// stores them). Roles, names, tool calls and tool-call ids are not token ids of any message and
// are not written, and no chat template, separator or end-of-document token is added: render a
// template into the messages before exporting if the training run needs one. A conversation
// without tokens is an empty sequence, so that sequence i is always the i-th conversation
// written. Every conversation of one export must use the same tokenizer (ErrMixedTokenizers).
//
// The .bin file holds the token ids of every sequence back to back, each a little-endian
// integer of the dataset's dtype, with no header and no padding. The .idx file is, byte by
// byte (all integers little-endian, N = number of sequences):
//
//	offset        size  content
//	0             9     magic "MMIDIDX\x00\x00"
//	9             8     version, uint64 = 1
//	17            1     dtype code, uint8: 8 (uint16) when the tokenizer's vocabulary size is
//	                    at most 65536, else 4 (int32); 4 for an export without conversations
//	18            8     sequence count N, uint64
//	26            8     document count N+1, uint64
//	34            4*N   sequence lengths in tokens, int32 each
//	34+4N         8*N   sequence pointers, int64 each: byte offset of sequence i in .bin
//	                    (0 for the first, then the previous pointer + length * dtype size)
//	34+12N        8*N+8 document indices, int64 each: 0, 1, ..., N (document i is sequence i)
//
// and nothing after. Megatron's DType codes are 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
// 6 float64, 7 float32, 8 uint16 (see DType). OpenMegatron is the reference decoder: it checks
// every field above and returns each sequence's token ids.
//
// A Writer is not safe for concurrent use. A Write that fails because of the conversation
// (invalid, undecodable or out-of-vocabulary tokens, another tokenizer) writes nothing of it,
// fixes nothing (not a Megatron export's tokenizer) and the Writer stays usable; a Write or
// Close that fails because the output failed leaves the Writer failed, and every later call
// returns that error.
//
// docs/design.md ("Packages") places the format registry in the design; docs/export.md
// describes the formats.
package export

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/tokenizer"
)

var (
	// ErrMixedTokenizers is returned (wrapped, naming both tokenizers) by a Megatron Writer given
	// a conversation whose tokenizer is not the one of the conversations before it.
	ErrMixedTokenizers = errors.New("export: conversations use different tokenizers")
	// ErrClosed is returned by Write and Close on a Writer that is already closed.
	ErrClosed = errors.New("export: writer is closed")
	// ErrMalformedMegatron is wrapped by every error of the Megatron reader about the content
	// of a .idx or .bin file.
	ErrMalformedMegatron = errors.New("export: malformed Megatron indexed dataset")
)

// Writer writes conversations one at a time. Close flushes what is buffered and finishes the
// output (the Megatron .idx is written then); it closes the underlying files only when the
// Writer opened them itself (CreateMegatron).
type Writer interface {
	Write(c *conversation.Conversation) error
	Close() error
}

// bufferSize is the write buffer of every Writer.
const bufferSize = 1 << 16

// state is what every Writer keeps of itself: whether it is closed, and the output's first
// error, which is sticky.
type state struct {
	err    error // the output's first error
	closed bool
}

// ready reports whether a conversation may be written.
func (s *state) ready() error {
	if s.closed {
		return ErrClosed
	}
	return s.err
}

// fail records err, an error of the output (nil is none), and returns it.
func (s *state) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return err
}

// close marks the Writer closed and, unless its output failed, runs finish, whose error is
// then sticky too.
func (s *state) close(finish func() error) error {
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	if s.err == nil {
		s.err = finish()
	}
	return s.err
}

// lines writes one line per conversation through a buffer.
type lines struct {
	state
	bw *bufio.Writer
}

func newLines(w io.Writer) lines { return lines{bw: bufio.NewWriterSize(w, bufferSize)} }

// emit writes line and a newline.
func (l *lines) emit(line []byte) error {
	if _, err := l.bw.Write(line); err != nil {
		return l.fail(err)
	}
	return l.fail(l.bw.WriteByte('\n'))
}

// Close flushes the buffer.
func (l *lines) Close() error { return l.close(l.bw.Flush) }

// jsonlWriter writes the normalized format.
type jsonlWriter struct{ lines }

// NewJSONL returns a Writer of the normalized format: each conversation as conversation.Marshal
// writes it, then a newline. Conversations that fail conversation.Validate
// (conversation.ErrInvalid), name an unknown tokenizer (tokenizer.ErrUnknown) or give token ids
// outside its vocabulary (tokenizer.ErrTokenRange, tokenizer.ErrInvalidToken) are refused, so
// that everything written imports again.
func NewJSONL(w io.Writer) Writer { return &jsonlWriter{newLines(w)} }

// Write writes one conversation.
func (w *jsonlWriter) Write(c *conversation.Conversation) error {
	if err := w.ready(); err != nil {
		return err
	}
	if _, err := checkConversation(c); err != nil {
		return err
	}
	line, err := conversation.Marshal(c)
	if err != nil {
		return err
	}
	return w.emit(line)
}

// checkConversation checks what the vault checks before storing a conversation: that it is
// valid, that its tokenizer is known and that token ids given in messages are in the
// vocabulary. It returns the conversation's tokenizer.
func checkConversation(c *conversation.Conversation) (*tokenizer.Tokenizer, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("conversation %q: %w", c.ID, err)
	}
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("conversation %q: %w", c.ID, err)
	}
	for i := range c.Messages {
		if m := &c.Messages[i]; m.HasTokens() {
			if err := tok.Validate(m.Tokens); err != nil {
				return nil, fmt.Errorf("conversation %q: message %d: %w", c.ID, i, err)
			}
		}
	}
	return tok, nil
}
