package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/tokenizer"
)

func TestOpenAILiteral(t *testing.T) {
	c := &conversation.Conversation{
		ID: "x", Application: "app", Model: "m", Tokenizer: tokenizer.CL100KBase,
		Metadata: []byte(`{"k":"v"}`),
		Messages: []conversation.Message{
			{Role: conversation.RoleSystem, Content: "Be brief."},
			{Role: conversation.RoleUser, Name: "bob", Tokens: encode(t, "Wetter in Zürich?")},
			{Role: conversation.RoleAssistant, ContentNull: true, ToolCalls: []conversation.ToolCall{
				{ID: "call_1", Type: "function", Name: "get_weather", Arguments: `{"city":"Zürich"}`},
				{ID: "call_2", Name: "get_time", Arguments: `{}`},
			}},
			{Role: conversation.RoleTool, ToolCallID: "call_1", Name: "get_weather", Content: `{"temp":12}`},
			{Role: conversation.RoleTool, ToolCallID: "call_2", Content: ""},
			{Role: conversation.RoleAssistant, Content: "12 °C <ok>"},
		},
	}
	var out bytes.Buffer
	writeAll(t, NewOpenAI(&out), []*conversation.Conversation{c})
	want := `{"messages":[` +
		`{"role":"system","content":"Be brief."},` +
		`{"role":"user","content":"Wetter in Zürich?","name":"bob"},` +
		`{"role":"assistant","content":null,"tool_calls":[` +
		`{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Zürich\"}"}},` +
		`{"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},` +
		`{"role":"tool","content":"{\"temp\":12}","name":"get_weather","tool_call_id":"call_1"},` +
		`{"role":"tool","content":"","tool_call_id":"call_2"},` +
		`{"role":"assistant","content":"12 °C <ok>"}]}` + "\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestOpenAIRoundTrip(t *testing.T) {
	convs := samples(t)
	var out bytes.Buffer
	writeAll(t, NewOpenAI(&out), convs)
	assertOpenAIRoundTrip(t, convs, out.Bytes())
}

func TestOpenAICorpusRoundTrip(t *testing.T) {
	convs, _ := sampleCorpus(t)
	var out bytes.Buffer
	writeAll(t, NewOpenAI(&out), convs)
	assertOpenAIRoundTrip(t, convs, out.Bytes())
}

// assertOpenAIRoundTrip checks that every line of out parses with ParseOpenAI to the messages of
// the conversation written, token ids decoded to text, and that the line has only the fields
// of the fine-tuning format.
func assertOpenAIRoundTrip(t *testing.T, convs []*conversation.Conversation, out []byte) {
	t.Helper()
	lines := splitLines(t, out)
	if len(lines) != len(convs) {
		t.Fatalf("%d lines, want %d", len(lines), len(convs))
	}
	toolCalls := 0
	for i, c := range convs {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(lines[i], &top); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if len(top) != 1 || top["messages"] == nil {
			t.Errorf("line %d has top-level fields %v, want only messages", i+1, keys(top))
		}
		back, err := ParseOpenAI(lines[i], c.ID, c.Application, c.Model, c.Tokenizer)
		if err != nil {
			t.Fatalf("line %d (%s): ParseOpenAI: %v", i+1, c.ID, err)
		}
		if back.ID != c.ID || back.Application != c.Application || back.Model != c.Model || back.Tokenizer != c.Tokenizer {
			t.Errorf("%s: identity not taken from the arguments: %+v", c.ID, back)
		}
		want := textMessages(t, c)
		if !reflect.DeepEqual(back.Messages, want) {
			for j := range max(len(want), len(back.Messages)) {
				if j >= len(want) || j >= len(back.Messages) || !reflect.DeepEqual(back.Messages[j], want[j]) {
					t.Fatalf("%s: message %d differs after the round trip", c.ID, j)
				}
			}
		}
		for _, m := range c.Messages {
			toolCalls += len(m.ToolCalls)
		}
	}
	if toolCalls == 0 {
		t.Error("no tool calls in the conversations: the round trip proves less than it should")
	}
}

func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestOpenAITokenErrors(t *testing.T) {
	tok, err := tokenizer.Get(tokenizer.CL100KBase)
	if err != nil {
		t.Fatal(err)
	}
	// A token that is one byte of a multi-byte character: valid id, invalid UTF-8 on its own.
	partial := tok.Encode("🌍")[0]
	for _, tc := range []struct {
		name      string
		tokenizer string
		tokens    []int
		want      error
	}{
		{"out of range", tokenizer.CL100KBase, []int{1, 1 << 30}, tokenizer.ErrTokenRange},
		{"gap in vocabulary", tokenizer.CL100KBase, []int{100256}, tokenizer.ErrInvalidToken},
		{"cut inside a character", tokenizer.CL100KBase, []int{partial}, tokenizer.ErrInvalidUTF8},
		{"unknown tokenizer", "no_such_base", []int{1}, tokenizer.ErrUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &conversation.Conversation{ID: "bad", Tokenizer: tc.tokenizer, Messages: []conversation.Message{
				{Role: conversation.RoleUser, Content: "fine"},
				{Role: conversation.RoleAssistant, Tokens: tc.tokens},
			}}
			var out bytes.Buffer
			w := NewOpenAI(&out)
			if err := w.Write(c); !errors.Is(err, tc.want) {
				t.Fatalf("Write = %v, want %v", err, tc.want)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %q for a refused conversation", out.String())
			}
		})
	}
}

func TestParseOpenAI(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want []conversation.Message // nil: an error wrapping conversation.ErrInvalid
	}{
		{"absent content is null",
			`{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`,
			[]conversation.Message{{Role: "assistant", ContentNull: true,
				ToolCalls: []conversation.ToolCall{{ID: "c", Type: "function", Name: "f", Arguments: "{}"}}}}},
		{"fine-tuning fields ignored",
			`{"messages":[{"role":"user","content":"hi","weight":0}],"tools":[{"type":"function"}],"parallel_tool_calls":false}`,
			[]conversation.Message{{Role: "user", Content: "hi"}}},
		{"empty messages", `{"messages":[]}`, []conversation.Message{}},
		{"no messages", `{}`, nil},
		{"unknown field", `{"messages":[],"id":"x"}`, nil},
		{"unknown message field", `{"messages":[{"role":"user","content":"hi","refusal":null}]}`, nil},
		{"content parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`, nil},
		{"unknown role", `{"messages":[{"role":"robot","content":"hi"}]}`, nil},
		{"trailing data", `{"messages":[]} {}`, nil},
		{"not JSON", `{"messages":`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseOpenAI([]byte(tc.line), "id", "app", "model", tokenizer.CL100KBase)
			if tc.want == nil {
				if !errors.Is(err, conversation.ErrInvalid) {
					t.Fatalf("ParseOpenAI = %v, %v; want an error wrapping ErrInvalid", c, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Messages, tc.want) {
				t.Errorf("messages %+v, want %+v", c.Messages, tc.want)
			}
		})
	}
}

func TestOpenAINoToolsInvented(t *testing.T) {
	var out bytes.Buffer
	writeAll(t, NewOpenAI(&out), samples(t)[1:2])
	if strings.Contains(out.String(), `"tools"`) {
		t.Errorf("a tools field was written: %s", out.String())
	}
}

// The OpenAI writer counts the messages and tokens whose ids are special tokens, decoded to their
// literal text; special-token text given as text is not counted, nor what a refused conversation
// held.
func TestOpenAISpecialTokens(t *testing.T) {
	eot, eop := 100257, 100276 // <|endoftext|>, <|endofprompt|>
	hello := encode(t, "Hello")
	c := &conversation.Conversation{ID: "special", Tokenizer: tokenizer.CL100KBase, Messages: []conversation.Message{
		{Role: conversation.RoleUser, Content: "say <|endoftext|>"},
		{Role: conversation.RoleAssistant, Tokens: append(append([]int{eop}, hello...), eot)},
		{Role: conversation.RoleUser, Tokens: hello},
		{Role: conversation.RoleAssistant, Tokens: []int{eot}},
	}}
	refused := &conversation.Conversation{ID: "refused", Tokenizer: tokenizer.CL100KBase, Messages: []conversation.Message{
		{Role: conversation.RoleAssistant, Tokens: []int{eot}},
		{Role: conversation.RoleAssistant, Tokens: []int{1 << 30}},
	}}
	var out bytes.Buffer
	w := NewOpenAI(&out).(*OpenAIWriter)
	if err := w.Write(refused); !errors.Is(err, tokenizer.ErrTokenRange) {
		t.Fatalf("Write(refused) = %v", err)
	}
	if got := w.SpecialTokens(); got != (SpecialTokens{}) {
		t.Errorf("after a refused conversation: %+v, want none", got)
	}
	writeAll(t, w, []*conversation.Conversation{c, samples(t)[0]})
	if got, want := w.SpecialTokens(), (SpecialTokens{Messages: 2, Tokens: 3, Example: "<|endofprompt|>"}); got != want {
		t.Errorf("SpecialTokens() = %+v, want %+v", got, want)
	}
	if !strings.Contains(out.String(), `"content":"<|endofprompt|>Hello<|endoftext|>"`) {
		t.Errorf("special tokens not written as their text: %s", out.String())
	}
}
