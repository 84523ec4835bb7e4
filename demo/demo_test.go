package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/tokenizer"
)

func TestDeterministic(t *testing.T) {
	var a, b, c bytes.Buffer
	if err := Write(&a, Generate(7, 20)); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, Generate(7, 20)); err != nil {
		t.Fatal(err)
	}
	if err := Write(&c, Generate(8, 20)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two runs with seed 7 differ")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("seeds 7 and 8 give the same output")
	}
}

func TestDefaultSize(t *testing.T) {
	convs := Generate(DefaultSeed, DefaultChats)
	if n := len(convs); n < 150 || n > 260 {
		t.Errorf("default demo has %d requests, want about 200", n)
	}
	seen := map[string]int{}
	for _, c := range convs {
		seen[c.Application]++
	}
	if len(seen) != len(apps) {
		t.Errorf("default demo covers applications %v, want all %d", seen, len(apps))
	}
}

// TestValid checks that every generated record survives Marshal and Parse unchanged, that the
// vault would accept it (tokenizer known), and that the log has the shape of an API-call log.
func TestValid(t *testing.T) {
	convs := Generate(3, 80)
	ids := map[string]bool{}
	var prev *conversation.Conversation
	toolCalls, toolResults := 0, 0
	for _, c := range convs {
		data, err := conversation.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal %s: %v", c.ID, err)
		}
		back, err := conversation.Parse(data)
		if err != nil {
			t.Fatalf("Parse(Marshal(%s)): %v", c.ID, err)
		}
		again, err := conversation.Marshal(back)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("%s does not round-trip: %v\n%s\n%s", c.ID, err, data, again)
		}
		if _, err := tokenizer.Get(c.Tokenizer); err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		if ids[c.ID] {
			t.Fatalf("duplicate id %s", c.ID)
		}
		ids[c.ID] = true

		var md struct {
			ConversationID string `json:"conversation_id"`
			Turn           int    `json:"turn"`
		}
		if err := json.Unmarshal(c.Metadata, &md); err != nil {
			t.Fatalf("%s: metadata: %v", c.ID, err)
		}
		if want := fmt.Sprintf("%s#%d", md.ConversationID, md.Turn); c.ID != want {
			t.Errorf("id %q, want %q from the metadata", c.ID, want)
		}
		assistants := 0
		for _, m := range c.Messages {
			if m.Role == conversation.RoleAssistant {
				assistants++
			}
			toolCalls += len(m.ToolCalls)
			if m.Role == conversation.RoleTool {
				toolResults++
			}
			for _, tc := range m.ToolCalls {
				if !json.Valid([]byte(tc.Arguments)) {
					t.Errorf("%s: tool call arguments are not JSON: %s", c.ID, tc.Arguments)
				}
			}
		}
		if assistants != md.Turn || c.Messages[len(c.Messages)-1].Role != conversation.RoleAssistant {
			t.Errorf("%s: request %d has %d assistant messages and ends with %s", c.ID, md.Turn, assistants, c.Messages[len(c.Messages)-1].Role)
		}
		if c.Messages[0].Role != conversation.RoleSystem {
			t.Errorf("%s: first message is %s, want the system prompt", c.ID, c.Messages[0].Role)
		}
		// Request k+1 of a chat extends request k.
		if md.Turn > 1 {
			if prev == nil || !strings.HasPrefix(c.ID, strings.TrimSuffix(prev.ID, fmt.Sprintf("#%d", md.Turn-1))+"#") {
				t.Fatalf("%s does not follow request %d of its chat", c.ID, md.Turn-1)
			}
			p, _ := conversation.Marshal(&conversation.Conversation{Tokenizer: "x", Messages: prev.Messages})
			q, _ := conversation.Marshal(&conversation.Conversation{Tokenizer: "x", Messages: c.Messages[:len(prev.Messages)]})
			if !bytes.Equal(p, q) {
				t.Errorf("%s does not extend %s", c.ID, prev.ID)
			}
		}
		prev = c
	}
	if toolCalls == 0 || toolResults == 0 {
		t.Errorf("no tool calls (%d) or tool results (%d) in %d requests", toolCalls, toolResults, len(convs))
	}
}

func TestSystemPromptsAreLong(t *testing.T) {
	tok, err := tokenizer.Get("o200k_base")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if n := len(tok.Encode(a.system)); n < 250 {
			t.Errorf("%s: system prompt has %d tokens, want several hundred", a.name, n)
		}
		if a.tools != "" && !json.Valid([]byte(a.tools)) {
			t.Errorf("%s: tool schemas are not valid JSON", a.name)
		}
	}
}

func TestWriteIsJSONL(t *testing.T) {
	convs := Generate(5, 10)
	var buf bytes.Buffer
	if err := Write(&buf, convs); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<24)
	n := 0
	for sc.Scan() {
		want, _ := conversation.Marshal(convs[n])
		if !bytes.Equal(sc.Bytes(), want) {
			t.Fatalf("line %d is not conversation.Marshal of record %d", n+1, n)
		}
		n++
	}
	if n != len(convs) {
		t.Errorf("wrote %d lines for %d conversations", n, len(convs))
	}
}
