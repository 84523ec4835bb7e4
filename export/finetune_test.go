package export

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/tokenizer"
)

// Messages of the fine-tuning tests.
var (
	ftSystem    = conversation.Message{Role: conversation.RoleSystem, Content: "Be brief."}
	ftUser      = conversation.Message{Role: conversation.RoleUser, Content: "Hi"}
	ftAssistant = conversation.Message{Role: conversation.RoleAssistant, Content: "Hello"}
)

// ftConversation returns a cl100k_base conversation of msgs.
func ftConversation(msgs ...conversation.Message) *conversation.Conversation {
	return &conversation.Conversation{ID: "ft", Tokenizer: tokenizer.CL100KBase, Messages: msgs}
}

// calls returns an assistant message with null content that calls tools.
func calls(tcs ...conversation.ToolCall) conversation.Message {
	return conversation.Message{Role: conversation.RoleAssistant, ContentNull: true, ToolCalls: tcs}
}

// call returns a tool call of get_weather.
func call(id string) conversation.ToolCall {
	return conversation.ToolCall{ID: id, Type: "function", Name: "get_weather", Arguments: `{"city":"Paris"}`}
}

// result returns a tool message answering the call id.
func result(id, content string) conversation.Message {
	return conversation.Message{Role: conversation.RoleTool, ToolCallID: id, Content: content}
}

func checkFT(t *testing.T, c *conversation.Conversation, maxTokens int) []Problem {
	t.Helper()
	problems, err := CheckFineTuning(c, maxTokens)
	if err != nil {
		t.Fatalf("CheckFineTuning: %v", err)
	}
	return problems
}

// Valid examples, tool calls included, have no problems.
func TestCheckFineTuningValid(t *testing.T) {
	for name, c := range map[string]*conversation.Conversation{
		"chat": ftConversation(ftSystem, ftUser, ftAssistant,
			conversation.Message{Role: conversation.RoleUser, Name: "bob", Content: " "}, ftAssistant),
		"assistant only": ftConversation(ftAssistant),
		"tool calls answered": ftConversation(ftSystem, ftUser,
			calls(call("call_1"), call("call_2")),
			result("call_2", `{"temp":18}`),
			conversation.Message{Role: conversation.RoleTool, ToolCallID: "call_1", Name: "get_weather", Content: `{"temp":12}`},
			conversation.Message{Role: conversation.RoleAssistant, Content: "Checking the time too.", ToolCalls: []conversation.ToolCall{
				{ID: "call_3", Name: "get_time", Arguments: `{}`}, // an empty type is written as "function"
			}},
			result("call_3", "12:00"),
			conversation.Message{Role: conversation.RoleAssistant, Content: "Paris 18 °C, Zürich 12 °C at noon."}),
		"ends with a call": ftConversation(ftUser, calls(call("call_1"))),
		"token ids": ftConversation(
			conversation.Message{Role: conversation.RoleUser, Tokens: encode(t, "Hi")},
			conversation.Message{Role: conversation.RoleAssistant, Tokens: encode(t, "Hello <|endoftext|>")},
			conversation.Message{Role: conversation.RoleAssistant, Tokens: []int{100257}}),
	} {
		t.Run(name, func(t *testing.T) {
			if problems := checkFT(t, c, DefaultMaxFineTuningTokens); len(problems) != 0 {
				t.Errorf("problems %v, want none", problems)
			}
		})
	}
}

// A conversation that breaks exactly one rule gives exactly that rule's problem.
func TestCheckFineTuningRules(t *testing.T) {
	withTokens := func(role string, tokens []int) conversation.Message {
		return conversation.Message{Role: role, Tokens: tokens}
	}
	for _, tc := range []struct {
		name string
		c    *conversation.Conversation
		want Problem
	}{
		{"no messages", ftConversation(), Problem{ReasonNoMessages, -1}},
		{"developer role", ftConversation(conversation.Message{Role: conversation.RoleDeveloper, Content: "Be brief."}, ftUser, ftAssistant),
			Problem{ReasonUnrecognizedRole, 0}},
		{"tool_call_id on a user message", ftConversation(ftSystem, conversation.Message{Role: conversation.RoleUser, Content: "Hi", ToolCallID: "call_1"}, ftAssistant),
			Problem{ReasonUnrecognizedKey, 1}},
		{"tool_calls on a user message", ftConversation(ftSystem, conversation.Message{Role: conversation.RoleUser, Content: "Hi", ToolCalls: []conversation.ToolCall{call("call_1")}}, ftAssistant),
			Problem{ReasonUnrecognizedKey, 1}},
		{"empty user content", ftConversation(ftSystem, conversation.Message{Role: conversation.RoleUser}, ftAssistant),
			Problem{ReasonMissingContent, 1}},
		{"null system content", ftConversation(conversation.Message{Role: conversation.RoleSystem, ContentNull: true}, ftUser, ftAssistant),
			Problem{ReasonMissingContent, 0}},
		// ContentNull wins over a stale Content: the writer writes null.
		{"null user content", ftConversation(conversation.Message{Role: conversation.RoleUser, ContentNull: true, Content: "stale"}, ftAssistant),
			Problem{ReasonMissingContent, 0}},
		{"no user token ids", ftConversation(ftSystem, withTokens(conversation.RoleUser, []int{}), ftAssistant),
			Problem{ReasonMissingContent, 1}},
		{"empty tool result", ftConversation(ftUser, calls(call("call_1")), result("call_1", ""), ftAssistant),
			Problem{ReasonMissingContent, 2}},
		{"empty assistant content", ftConversation(ftUser, conversation.Message{Role: conversation.RoleAssistant}, ftUser, ftAssistant),
			Problem{ReasonEmptyAssistantMessage, 1}},
		{"null assistant content", ftConversation(ftUser, ftAssistant, ftUser, conversation.Message{Role: conversation.RoleAssistant, ContentNull: true, Content: "stale"}),
			Problem{ReasonEmptyAssistantMessage, 3}},
		{"white-space assistant content", ftConversation(ftUser, conversation.Message{Role: conversation.RoleAssistant, Content: " \n\t\u00a0"}),
			Problem{ReasonEmptyAssistantMessage, 1}},
		{"white-space assistant token ids", ftConversation(ftUser, withTokens(conversation.RoleAssistant, encode(t, "  \n\n"))),
			Problem{ReasonEmptyAssistantMessage, 1}},
		{"no assistant token ids", ftConversation(ftUser, withTokens(conversation.RoleAssistant, []int{}), ftAssistant),
			Problem{ReasonEmptyAssistantMessage, 1}},
		{"tool call without id", ftConversation(ftUser, calls(conversation.ToolCall{Type: "function", Name: "get_weather", Arguments: "{}"})),
			Problem{ReasonToolCallWithoutID, 1}},
		{"tool call without name", ftConversation(ftUser, calls(conversation.ToolCall{ID: "call_1", Type: "function", Arguments: "{}"}), result("call_1", "18"), ftAssistant),
			Problem{ReasonToolCallWithoutName, 1}},
		{"custom tool call", ftConversation(ftUser, calls(conversation.ToolCall{ID: "call_1", Type: "custom", Name: "grep", Arguments: "x"}), result("call_1", "18"), ftAssistant),
			Problem{ReasonToolCallNotFunction, 1}},
		{"tool message without tool_call_id", ftConversation(ftUser, calls(call("call_1")), result("", "18"), ftAssistant),
			Problem{ReasonToolMessageWithoutCall, 2}},
		{"tool message answering another id", ftConversation(ftUser, calls(call("call_1")), result("call_1", "18"), result("call_2", "12"), ftAssistant),
			Problem{ReasonToolMessageWithoutCall, 3}},
		{"tool message after a user message", ftConversation(ftUser, calls(call("call_1")), ftUser, result("call_1", "18"), ftAssistant),
			Problem{ReasonToolMessageWithoutCall, 3}},
		{"tool message after an assistant answer", ftConversation(ftUser, calls(call("call_1")), result("call_1", "18"), ftAssistant, result("call_1", "18")),
			Problem{ReasonToolMessageWithoutCall, 4}},
		{"tool message before any call", ftConversation(ftSystem, result("call_1", "18"), ftAssistant),
			Problem{ReasonToolMessageWithoutCall, 1}},
		{"no assistant message", ftConversation(ftSystem, ftUser), Problem{ReasonNoAssistantMessage, -1}},
		{"too many tokens", ftConversation(ftSystem, ftUser, ftAssistant), Problem{ReasonTooManyTokens, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			maxTokens := DefaultMaxFineTuningTokens
			if tc.want.Reason == ReasonTooManyTokens {
				maxTokens = 19 // the conversation has 20 (TestFineTuningTokens)
			}
			if got := checkFT(t, tc.c, maxTokens); !reflect.DeepEqual(got, []Problem{tc.want}) {
				t.Errorf("problems %v, want %v", got, []Problem{tc.want})
			}
		})
	}
}

// Every rule a conversation breaks is reported, once per message or tool call, messages first.
func TestCheckFineTuningSeveralProblems(t *testing.T) {
	c := ftConversation(
		conversation.Message{Role: conversation.RoleDeveloper, Content: "x"},
		conversation.Message{Role: conversation.RoleUser},
		result("call_1", "18"),
		conversation.Message{Role: conversation.RoleUser, ToolCallID: "call_1"},
	)
	want := []Problem{
		{ReasonUnrecognizedRole, 0},
		{ReasonMissingContent, 1},
		{ReasonToolMessageWithoutCall, 2},
		{ReasonUnrecognizedKey, 3},
		{ReasonMissingContent, 3},
		{ReasonNoAssistantMessage, -1},
	}
	if got := checkFT(t, c, DefaultMaxFineTuningTokens); !reflect.DeepEqual(got, want) {
		t.Errorf("problems %v, want %v", got, want)
	}
	twoCalls := ftConversation(ftUser, calls(conversation.ToolCall{Name: "f"}, conversation.ToolCall{Name: "g"}), result("", "x"))
	want = []Problem{{ReasonToolCallWithoutID, 1}, {ReasonToolCallWithoutID, 1}, {ReasonToolMessageWithoutCall, 2}}
	if got := checkFT(t, twoCalls, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("two calls without id, answered without id: %v, want %v", got, want)
	}
}

// Tokens are counted as the cookbook's num_tokens_from_messages does, extended to tool calls, and
// an example of exactly the limit passes.
func TestFineTuningTokens(t *testing.T) {
	tok, err := tokenizer.Get(tokenizer.CL100KBase)
	if err != nil {
		t.Fatal(err)
	}
	count := func(s string) int { return len(tok.Encode(s)) }
	// system 1 + "Be brief." 3, user 1 + "Hi" 1, assistant 1 + "Hello" 1: 3 per message, 3 for
	// the reply.
	chat := ftConversation(ftSystem, ftUser, ftAssistant)
	if n := exampleTokens(chat, count); n != 20 {
		t.Errorf("chat: %d tokens, want 20", n)
	}
	named := ftConversation(ftSystem, conversation.Message{Role: conversation.RoleUser, Content: "Hi", Name: "bob"}, ftAssistant)
	if n := exampleTokens(named, count); n != 22 { // a name adds 1 and its own token
		t.Errorf("with a name: %d tokens, want 22", n)
	}
	ids := []int{1, 2, 3, 100257, 5}
	tools := ftConversation(ftUser, calls(conversation.ToolCall{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}),
		result("call_1", "18"), conversation.Message{Role: conversation.RoleAssistant, Tokens: ids})
	want := 3 + // the reply
		3 + count("user") + count("Hi") +
		3 + count("assistant") + count("call_1") + count("function") + count("get_weather") + count(`{"city":"Paris"}`) +
		3 + count("tool") + count("call_1") + count("18") +
		3 + count("assistant") + len(ids)
	if n := exampleTokens(tools, count); n != want {
		t.Errorf("tool calls: %d tokens, want %d", n, want)
	}
	for _, c := range []*conversation.Conversation{chat, named, tools} {
		n := exampleTokens(c, count)
		if got := checkFT(t, c, n); len(got) != 0 {
			t.Errorf("%d tokens, limit %d: %v", n, n, got)
		}
		if got := checkFT(t, c, n-1); !reflect.DeepEqual(got, []Problem{{ReasonTooManyTokens, -1}}) {
			t.Errorf("%d tokens, limit %d: %v", n, n-1, got)
		}
	}
	long := ftConversation(ftUser, conversation.Message{Role: conversation.RoleAssistant, Content: strings.Repeat(" word", 70_000)})
	if got := checkFT(t, long, 0); len(got) != 0 {
		t.Errorf("no limit: %v", got)
	}
	if got := checkFT(t, long, DefaultMaxFineTuningTokens); !reflect.DeepEqual(got, []Problem{{ReasonTooManyTokens, -1}}) {
		t.Errorf("past the default limit: %v", got)
	}
}

// CheckFineTuning fails where the OpenAI writer fails, for the same errors.
func TestCheckFineTuningErrors(t *testing.T) {
	partial := encode(t, "🌍")[0]
	for _, tc := range []struct {
		name      string
		tokenizer string
		tokens    []int
		want      error
	}{
		{"unknown tokenizer", "no_such_base", []int{1}, tokenizer.ErrUnknown},
		{"out of range", tokenizer.CL100KBase, []int{1 << 30}, tokenizer.ErrTokenRange},
		{"gap in vocabulary", tokenizer.CL100KBase, []int{100256}, tokenizer.ErrInvalidToken},
		{"cut inside a character", tokenizer.CL100KBase, []int{partial}, tokenizer.ErrInvalidUTF8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &conversation.Conversation{ID: "bad", Tokenizer: tc.tokenizer, Messages: []conversation.Message{
				ftUser, {Role: conversation.RoleAssistant, Tokens: tc.tokens}}}
			if _, err := CheckFineTuning(c, DefaultMaxFineTuningTokens); !errors.Is(err, tc.want) {
				t.Errorf("CheckFineTuning = %v, want %v", err, tc.want)
			}
		})
	}
}
