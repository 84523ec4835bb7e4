package export

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/tokenizer"
)

// encode returns the cl100k_base ids of text.
func encode(t *testing.T, text string) []int {
	t.Helper()
	tok, err := tokenizer.Get(tokenizer.CL100KBase)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Encode(text)
}

// samples returns conversations covering what the formats must carry: text, token ids, empty
// token ids, tool calls, tool results, empty content, null content, names, non-ASCII text.
func samples(t *testing.T) []*conversation.Conversation {
	t.Helper()
	return []*conversation.Conversation{
		{
			ID: "chat-1", Application: "support", Model: "gpt-4o", Tokenizer: tokenizer.CL100KBase,
			CreatedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
			Messages: []conversation.Message{
				{Role: conversation.RoleSystem, Content: "You are terse."},
				{Role: conversation.RoleUser, Content: "Grüße aus Köln! 世界 🌍 <b>&</b>"},
				{Role: conversation.RoleAssistant, Content: "Hallo!\nWie geht's?"},
				{Role: conversation.RoleUser, Content: ""},
			},
			Metadata: []byte(`{"source":"test","n":1}`),
		},
		{
			ID: "tools-1", Application: "agent", Model: "gpt-4o", Tokenizer: tokenizer.CL100KBase,
			Messages: []conversation.Message{
				{Role: conversation.RoleSystem, Content: `[{"name":"get_weather","parameters":{"type":"object"}}]`},
				{Role: conversation.RoleUser, Content: "Weather in Paris and Zürich?"},
				{Role: conversation.RoleAssistant, ContentNull: true, ToolCalls: []conversation.ToolCall{
					{ID: "call_1", Type: "function", Name: "get_weather", Arguments: `{"city":"Paris"}`},
					{ID: "call_2", Type: "function", Name: "get_weather", Arguments: `{"city":"Zürich"}`},
				}},
				{Role: conversation.RoleTool, ToolCallID: "call_1", Name: "get_weather", Content: `{"temp":18}`},
				{Role: conversation.RoleTool, ToolCallID: "call_2", Content: `{"temp":12}`},
				{Role: conversation.RoleAssistant, Content: "Checking one more.", ToolCalls: []conversation.ToolCall{
					{ID: "call_3", Type: "function", Name: "get_time", Arguments: `{}`},
				}},
				{Role: conversation.RoleTool, ToolCallID: "call_3", Content: ""},
				{Role: conversation.RoleAssistant, Content: "Paris 18 °C, Zürich 12 °C."},
			},
		},
		{
			ID: "ids-1", Application: "batch", Model: "", Tokenizer: tokenizer.CL100KBase,
			Messages: []conversation.Message{
				{Role: conversation.RoleDeveloper, Content: "Answer in French."},
				{Role: conversation.RoleUser, Name: "alice", Tokens: encode(t, "Token ids: ça marche, 日本語も。")},
				{Role: conversation.RoleAssistant, Tokens: []int{}},
				{Role: conversation.RoleAssistant, Tokens: encode(t, "Oui.")},
			},
		},
	}
}

// textMessages returns c's messages with every token-id message decoded to text, as the OpenAI
// format carries them.
func textMessages(t *testing.T, c *conversation.Conversation) []conversation.Message {
	t.Helper()
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]conversation.Message, len(c.Messages))
	for i, m := range c.Messages {
		if m.HasTokens() {
			text, err := tok.Decode(m.Tokens)
			if err != nil {
				t.Fatal(err)
			}
			m.Tokens, m.Content = nil, text
		}
		out[i] = m
	}
	return out
}

// tokenIDs returns all of c's token ids, tokenizing text messages: what a Megatron export holds.
func tokenIDs(t *testing.T, c *conversation.Conversation) []int {
	t.Helper()
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{}
	for _, m := range c.Messages {
		if m.HasTokens() {
			ids = append(ids, m.Tokens...)
		} else {
			ids = append(ids, tok.Encode(m.Content)...)
		}
	}
	return ids
}

// sampleCorpus returns the first 300 conversations of the shared sample, with their lines.
func sampleCorpus(t *testing.T) ([]*conversation.Conversation, [][]byte) {
	t.Helper()
	path := corpus.Path(t, "sample.jsonl")
	var convs []*conversation.Conversation
	var lines [][]byte
	err := corpus.Lines(path, func(line []byte, n int) error {
		if len(convs) == 300 {
			return nil
		}
		c, err := conversation.Parse(line)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		convs = append(convs, c)
		lines = append(lines, bytes.Clone(line))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 300 {
		t.Fatalf("sample has %d conversations, want at least 300", len(convs))
	}
	return convs, lines
}

// writeAll writes convs with w and closes it.
func writeAll(t *testing.T, w Writer, convs []*conversation.Conversation) {
	t.Helper()
	for _, c := range convs {
		if err := w.Write(c); err != nil {
			t.Fatalf("Write(%s): %v", c.ID, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// splitLines returns the lines of out, each of which must end in a newline.
func splitLines(t *testing.T, out []byte) [][]byte {
	t.Helper()
	if len(out) == 0 {
		return nil
	}
	if out[len(out)-1] != '\n' {
		t.Fatalf("output does not end in a newline: %q", out[max(0, len(out)-40):])
	}
	return bytes.Split(out[:len(out)-1], []byte("\n"))
}

func TestJSONLIsMarshalPerLine(t *testing.T) {
	convs := samples(t)
	var out bytes.Buffer
	writeAll(t, NewJSONL(&out), convs)
	lines := splitLines(t, out.Bytes())
	if len(lines) != len(convs) {
		t.Fatalf("%d lines, want %d", len(lines), len(convs))
	}
	for i, c := range convs {
		want, err := conversation.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(lines[i], want) {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want)
		}
		back, err := conversation.Parse(lines[i])
		if err != nil {
			t.Fatalf("line %d does not parse: %v", i, err)
		}
		again, _ := conversation.Marshal(back)
		if !bytes.Equal(again, lines[i]) {
			t.Errorf("line %d does not re-marshal identically:\n got %s\nwant %s", i, again, lines[i])
		}
	}
	if !strings.Contains(string(lines[0]), "Grüße aus Köln! 世界 🌍 <b>&</b>") {
		t.Errorf("non-ASCII or HTML characters escaped: %s", lines[0])
	}
}

func TestJSONLCorpusByteIdentical(t *testing.T) {
	convs, lines := sampleCorpus(t)
	var out bytes.Buffer
	writeAll(t, NewJSONL(&out), convs)
	want := append(bytes.Join(lines, []byte("\n")), '\n')
	if !bytes.Equal(out.Bytes(), want) {
		got := splitLines(t, out.Bytes())
		for i := range lines {
			if i >= len(got) || !bytes.Equal(got[i], lines[i]) {
				t.Fatalf("line %d differs from the corpus", i+1)
			}
		}
		t.Fatalf("output differs from the corpus (%d lines, want %d)", len(got), len(lines))
	}
}

func TestWriterRefusesInvalidAndStaysUsable(t *testing.T) {
	invalid := &conversation.Conversation{ID: "bad", Tokenizer: tokenizer.CL100KBase,
		Messages: []conversation.Message{{Role: "robot", Content: "beep"}}}
	good := samples(t)[0]
	for _, tc := range []struct {
		name string
		new  func(w io.Writer) Writer
	}{
		{FormatJSONL, NewJSONL},
		{FormatOpenAI, NewOpenAI},
		{FormatMegatron, func(w io.Writer) Writer { return NewMegatron(w, io.Discard) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := tc.new(&out)
			if err := w.Write(invalid); !errors.Is(err, conversation.ErrInvalid) {
				t.Fatalf("Write(invalid) = %v, want ErrInvalid", err)
			}
			if err := w.Write(good); err != nil {
				t.Fatalf("Write after a refused conversation: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if out.Len() == 0 {
				t.Fatal("nothing written for the valid conversation")
			}
			if err := w.Write(good); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close = %v, want ErrClosed", err)
			}
			if err := w.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("second Close = %v, want ErrClosed", err)
			}
		})
	}
}

// What the JSONL and Megatron writers write imports again: they refuse what the vault would.
func TestWritersRefuseWhatImportRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *conversation.Conversation
		want error
	}{
		{"unknown tokenizer", &conversation.Conversation{ID: "a", Tokenizer: "no_such_tokenizer",
			Messages: []conversation.Message{{Role: conversation.RoleUser, Content: "hi"}}}, tokenizer.ErrUnknown},
		{"token past the vocabulary", &conversation.Conversation{ID: "b", Tokenizer: tokenizer.R50KBase,
			Messages: []conversation.Message{{Role: conversation.RoleUser, Tokens: []int{999999}}}}, tokenizer.ErrTokenRange},
	} {
		for _, format := range []string{FormatJSONL, FormatMegatron} {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				var out bytes.Buffer
				w := NewJSONL(&out)
				if format == FormatMegatron {
					w = NewMegatron(&out, io.Discard)
				}
				if err := w.Write(tc.c); !errors.Is(err, tc.want) {
					t.Errorf("Write = %v, want %v", err, tc.want)
				}
				if err := w.Close(); err != nil || out.Len() != 0 {
					t.Errorf("Close = %v, %d bytes written", err, out.Len())
				}
			})
		}
	}
}

// failWriter fails every write.
type failWriter struct{}

var errDiskFull = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestOutputErrorIsSticky(t *testing.T) {
	// A conversation larger than the write buffer reaches the failing writer in Write itself.
	big := &conversation.Conversation{ID: "big", Tokenizer: tokenizer.CL100KBase,
		Messages: []conversation.Message{{Role: conversation.RoleUser, Content: strings.Repeat("word ", 3*bufferSize)}}}
	for _, tc := range []struct {
		name string
		w    Writer
	}{
		{FormatJSONL, NewJSONL(failWriter{})},
		{FormatOpenAI, NewOpenAI(failWriter{})},
		{FormatMegatron, NewMegatron(failWriter{}, io.Discard)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.w.Write(big); !errors.Is(err, errDiskFull) {
				t.Fatalf("Write = %v, want the output's error", err)
			}
			if err := tc.w.Write(samples(t)[0]); !errors.Is(err, errDiskFull) {
				t.Errorf("second Write = %v, want the output's error again", err)
			}
			if err := tc.w.Close(); !errors.Is(err, errDiskFull) {
				t.Errorf("Close = %v, want the output's error", err)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	content := []byte(`{"a":"ü"}` + "\n" + `{"b":2}` + "\n")
	for _, tc := range []struct {
		name string
		gzip bool
	}{
		{"out.jsonl", false},
		{"out.jsonl.gz", true},
		{"out.gz.txt", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			w, err := Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(content); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := raw
			if tc.gzip {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatalf("not gzip: %v", err)
				}
				if got, err = io.ReadAll(zr); err != nil {
					t.Fatalf("reading gzip: %v", err)
				}
			}
			if !bytes.Equal(got, content) {
				t.Errorf("content %q, want %q", got, content)
			}
		})
	}
	t.Run("nothing at the path before Close; Discard keeps what was there", func(t *testing.T) {
		path := filepath.Join(dir, "kept.jsonl")
		if err := os.WriteFile(path, []byte("earlier export\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(content); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != "earlier export\n" {
			t.Errorf("before Close the path holds %q", got)
		}
		w.Discard()
		if got, _ := os.ReadFile(path); string(got) != "earlier export\n" {
			t.Errorf("after Discard the path holds %q", got)
		}
		if left, _ := filepath.Glob(path + ".tmp-*"); len(left) != 0 {
			t.Errorf("Discard left %v", left)
		}
	})
	t.Run("stdout refused", func(t *testing.T) {
		if _, err := Create("-"); !errors.Is(err, os.ErrInvalid) {
			t.Errorf(`Create("-") = %v, want os.ErrInvalid`, err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		if _, err := Create(filepath.Join(dir, "no", "such.jsonl.gz")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Create in a missing directory = %v, want ErrNotExist", err)
		}
	})
}

func TestGzipExportReadable(t *testing.T) {
	convs := samples(t)
	path := filepath.Join(t.TempDir(), "export.jsonl.gz")
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, NewJSONL(f), convs)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	zr, err := gzip.NewReader(raw)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	n := 0
	for ; sc.Scan(); n++ {
		c, err := conversation.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if c.ID != convs[n].ID {
			t.Errorf("line %d is %q, want %q", n+1, c.ID, convs[n].ID)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(convs) {
		t.Errorf("%d conversations read back, want %d", n, len(convs))
	}
}
