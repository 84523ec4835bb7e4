package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/testenv"
)

// parquetConversations are the conversations the Parquet tests write: the hand-made samples
// and the shared sample corpus.
func parquetConversations(t *testing.T) []*conversation.Conversation {
	t.Helper()
	convs, _ := sampleCorpus(t)
	return append(samples(t), convs...)
}

// writeParquet writes convs as one Parquet export and returns its bytes.
func writeParquet(t *testing.T, convs []*conversation.Conversation) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewParquet(&buf)
	for _, c := range convs {
		if err := w.Write(c); err != nil {
			t.Fatalf("write %q: %v", c.ID, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	return buf.Bytes()
}

// conversationOfRow is the conversation a row holds: what a reader gets back.
func conversationOfRow(r ParquetRow) *conversation.Conversation {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	c := &conversation.Conversation{ID: r.ID, Application: str(r.Application), Model: str(r.Model), Tokenizer: r.Tokenizer,
		Messages: make([]conversation.Message, len(r.Messages))}
	if r.CreatedAt != nil {
		c.CreatedAt = *r.CreatedAt
	}
	if r.Metadata != nil {
		c.Metadata = []byte(*r.Metadata)
	}
	for i, m := range r.Messages {
		cm := conversation.Message{Role: m.Role, Content: str(m.Content), ContentNull: m.Content == nil, Name: str(m.Name), ToolCallID: str(m.ToolCallID)}
		if m.Tokens != nil {
			cm.Tokens = make([]int, len(m.Tokens))
			for j, tok := range m.Tokens {
				cm.Tokens[j] = int(tok)
			}
		}
		for _, tc := range m.ToolCalls {
			cm.ToolCalls = append(cm.ToolCalls, conversation.ToolCall{ID: tc.ID, Type: tc.Type, Name: tc.Name, Arguments: tc.Arguments})
		}
		c.Messages[i] = cm
	}
	return c
}

// TestParquetRoundTrip: every conversation comes back from the file as it went in (its
// normalized JSON byte for byte), read with parquet-go; a time given with an offset comes
// back as the same instant in UTC, to the microsecond.
func TestParquetRoundTrip(t *testing.T) {
	convs := parquetConversations(t)
	zoned := *convs[0]
	zoned.ID = "zoned"
	zoned.CreatedAt = time.Date(2025, 3, 1, 14, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	convs = append(convs, &zoned)
	data := writeParquet(t, convs)
	rows := make([]ParquetRow, len(convs)+1)
	n, err := parquet.NewGenericReader[ParquetRow](bytes.NewReader(data)).Read(rows)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if n != len(convs) {
		t.Fatalf("%d rows, want %d", n, len(convs))
	}
	for i, c := range convs {
		if c == &zoned {
			if got := rows[i].CreatedAt; got == nil || !got.Equal(c.CreatedAt.Truncate(time.Microsecond)) || got.Location() != time.UTC {
				t.Errorf("created_at %v read back as %v, want %v in UTC", c.CreatedAt, got, c.CreatedAt.Truncate(time.Microsecond))
			}
			continue
		}
		want, _ := conversation.Marshal(c)
		got, err := conversation.Marshal(conversationOfRow(rows[i]))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("row %d (%q) reads back as\n%s\nwant\n%s\n(%v)", i, c.ID, got, want, err)
		}
	}
	t.Logf("%d conversations in %d bytes of Parquet", len(convs), len(data))
}

// TestParquetRefuses: an invalid conversation is refused and writes nothing; the writer stays
// usable.
func TestParquetRefuses(t *testing.T) {
	var buf bytes.Buffer
	w := NewParquet(&buf)
	if err := w.Write(&conversation.Conversation{ID: "x", Tokenizer: "no-such-tokenizer"}); err == nil {
		t.Fatal("an unknown tokenizer was accepted")
	}
	good := samples(t)[0]
	if err := w.Write(good); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	n, _ := parquet.NewGenericReader[ParquetRow](bytes.NewReader(buf.Bytes())).Read(make([]ParquetRow, 2))
	if n != 1 {
		t.Errorf("%d rows, want the valid conversation's one", n)
	}
}

// duckRow is a row of duckDBExportQuery as scripts/duckdb-query.mjs prints it.
type duckRow struct {
	ID          string  `json:"id"`
	Application *string `json:"application"`
	Model       *string `json:"model"`
	Tokenizer   string  `json:"tokenizer"`
	CreatedMs   *string `json:"created_ms"`
	Metadata    *string `json:"metadata"`
	Messages    string  `json:"messages"`
}

// duckMessage is a message of DuckDB's to_json of the messages list.
type duckMessage struct {
	Role       string  `json:"role"`
	Content    *string `json:"content"`
	Tokens     []int   `json:"tokens"`
	Name       *string `json:"name"`
	ToolCallID *string `json:"tool_call_id"`
	ToolCalls  []struct {
		ID, Type, Name, Arguments string
	} `json:"tool_calls"`
}

// TestParquetReadByDuckDB: DuckDB, an independent reader, reads every row of the file as the
// conversation it came from.
func TestParquetReadByDuckDB(t *testing.T) {
	duckdb := testenv.FindNodeScript(t, "duckdb-query.mjs", "duckdb", "@duckdb/node-api", duckDBVersion, "DUCKDB_NODE_PATH")
	convs := parquetConversations(t)
	path := filepath.Join(t.TempDir(), "export.parquet")
	if err := os.WriteFile(path, writeParquet(t, convs), 0o644); err != nil {
		t.Fatal(err)
	}
	quoted := "'" + strings.ReplaceAll(path, "'", "''") + "'"
	cmd := duckdb.Command(context.Background(), `SELECT id, application, model, tokenizer, epoch_ms(created_at) AS created_ms, metadata,
		to_json(messages) AS messages FROM read_parquet(`+quoted+`, file_row_number = true) ORDER BY file_row_number`)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb-query.mjs: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	i := 0
	for ; sc.Scan(); i++ {
		if i >= len(convs) {
			t.Fatalf("DuckDB read more than the %d rows written", len(convs))
		}
		var r duckRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("row %d: %v: %s", i, err, sc.Bytes())
		}
		checkDuckRow(t, convs[i], r)
	}
	if i != len(convs) {
		t.Fatalf("DuckDB read %d rows, want %d", i, len(convs))
	}
}

// checkDuckRow compares a row DuckDB read with the conversation written.
func checkDuckRow(t *testing.T, c *conversation.Conversation, r duckRow) {
	t.Helper()
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	var created *string // null for a conversation without a time
	if !c.CreatedAt.IsZero() {
		ms := strconv.FormatInt(c.CreatedAt.UnixMilli(), 10) // getRowObjectsJson writes a BIGINT as a string
		created = &ms
	}
	if r.ID != c.ID || !reflect.DeepEqual(r.Application, opt(c.Application)) || !reflect.DeepEqual(r.Model, opt(c.Model)) ||
		r.Tokenizer != c.Tokenizer || !reflect.DeepEqual(r.CreatedMs, created) || !reflect.DeepEqual(r.Metadata, opt(string(c.Metadata))) {
		t.Fatalf("DuckDB read %+v for %q (created %v)", r, c.ID, c.CreatedAt)
	}
	var msgs []duckMessage
	if err := json.Unmarshal([]byte(r.Messages), &msgs); err != nil || len(msgs) != len(c.Messages) {
		t.Fatalf("%q: DuckDB's messages %s (%v), want %d", c.ID, r.Messages, err, len(c.Messages))
	}
	for j, m := range c.Messages {
		d := msgs[j]
		content := &m.Content
		if m.ContentNull {
			content = nil
		}
		ok := d.Role == m.Role && reflect.DeepEqual(d.Content, content) && reflect.DeepEqual(d.Name, opt(m.Name)) &&
			reflect.DeepEqual(d.ToolCallID, opt(m.ToolCallID)) && len(d.ToolCalls) == len(m.ToolCalls) && len(d.Tokens) == len(m.Tokens)
		for k := 0; ok && k < len(m.Tokens); k++ {
			ok = d.Tokens[k] == m.Tokens[k]
		}
		for k := 0; ok && k < len(m.ToolCalls); k++ {
			tc, dc := m.ToolCalls[k], d.ToolCalls[k]
			ok = dc.ID == tc.ID && dc.Type == tc.Type && dc.Name == tc.Name && dc.Arguments == tc.Arguments
		}
		if !ok {
			t.Fatalf("%q message %d: DuckDB read %+v, want %+v", c.ID, j, d, m)
		}
	}
}

// duckDBVersion is the @duckdb/node-api scripts/tools.sh installs.
const duckDBVersion = "1.5.6-r.1"
