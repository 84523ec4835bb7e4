package export

import (
	"io"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/stowken/stowken/conversation"
)

// ParquetRow is one conversation of a Parquet export (FormatParquet): a row with the
// conversation's fields and its messages as a list. created_at is the instant, in UTC, to the
// microsecond (the time zone offset the conversation was given with is not kept). Optional
// fields are null where the conversation has none; a message's content is null where the conversation records a null
// content, and its tokens are set only for a message given as token ids (one given as text has
// its text in content and no tokens).
type ParquetRow struct {
	ID          string           `parquet:"id"`
	Application *string          `parquet:"application,optional"`
	Model       *string          `parquet:"model,optional"`
	Tokenizer   string           `parquet:"tokenizer"`
	CreatedAt   *time.Time       `parquet:"created_at,optional,timestamp(microsecond)"`
	Metadata    *string          `parquet:"metadata,optional"`
	Messages    []ParquetMessage `parquet:"messages,list"`
}

// ParquetMessage is one message of a ParquetRow.
type ParquetMessage struct {
	Role       string            `parquet:"role"`
	Content    *string           `parquet:"content,optional"`
	Tokens     []int32           `parquet:"tokens,optional,list"`
	Name       *string           `parquet:"name,optional"`
	ToolCallID *string           `parquet:"tool_call_id,optional"`
	ToolCalls  []ParquetToolCall `parquet:"tool_calls,list"`
}

// ParquetToolCall is one tool call of a ParquetMessage.
type ParquetToolCall struct {
	ID        string `parquet:"id"`
	Type      string `parquet:"type"`
	Name      string `parquet:"name"`
	Arguments string `parquet:"arguments"`
}

// parquetRowGroup is how many conversations one row group holds (the writer also starts a new
// one when its buffered pages grow large).
const parquetRowGroup = 10_000

// parquetWriter writes one Parquet file.
type parquetWriter struct {
	state
	w    *parquet.GenericWriter[ParquetRow]
	rows int
}

// NewParquet returns a Writer of one Parquet file (zstd-compressed, a row group per
// parquetRowGroup conversations), one ParquetRow per conversation, readable by DuckDB, Athena,
// Spark and pandas. Conversations are refused as by NewJSONL. The file's footer is written by
// Close: an export that is not closed is not a Parquet file.
func NewParquet(w io.Writer) Writer {
	return &parquetWriter{w: parquet.NewGenericWriter[ParquetRow](w, parquet.Compression(&parquet.Zstd))}
}

// Write writes one conversation.
func (w *parquetWriter) Write(c *conversation.Conversation) error {
	if err := w.ready(); err != nil {
		return err
	}
	if _, err := checkConversation(c); err != nil {
		return err
	}
	if _, err := w.w.Write([]ParquetRow{parquetRowOf(c)}); err != nil {
		return w.fail(err)
	}
	if w.rows++; w.rows%parquetRowGroup == 0 {
		return w.fail(w.w.Flush())
	}
	return nil
}

// Close writes the footer.
func (w *parquetWriter) Close() error { return w.close(w.w.Close) }

// parquetRowOf returns the row of c.
func parquetRowOf(c *conversation.Conversation) ParquetRow {
	r := ParquetRow{ID: c.ID, Application: optional(c.Application), Model: optional(c.Model), Tokenizer: c.Tokenizer,
		Metadata: optional(string(c.Metadata)), Messages: make([]ParquetMessage, len(c.Messages))}
	if !c.CreatedAt.IsZero() {
		created := c.CreatedAt.UTC()
		r.CreatedAt = &created
	}
	for i, m := range c.Messages {
		pm := ParquetMessage{Role: m.Role, Name: optional(m.Name), ToolCallID: optional(m.ToolCallID)}
		if !m.ContentNull {
			content := m.Content
			pm.Content = &content
		}
		if m.HasTokens() {
			pm.Tokens = make([]int32, len(m.Tokens))
			for j, t := range m.Tokens {
				pm.Tokens[j] = int32(t)
			}
		}
		for _, tc := range m.ToolCalls {
			pm.ToolCalls = append(pm.ToolCalls, ParquetToolCall{ID: tc.ID, Type: tc.Type, Name: tc.Name, Arguments: tc.Arguments})
		}
		r.Messages[i] = pm
	}
	return r
}

// optional is nil for "", else a pointer to s.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
