package export

import (
	"strings"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/tokenizer"
)

// The reasons of CheckFineTuning's problems, one per rule. OpenAI's fine-tuning API refuses a
// whole training file for one example that breaks its chat format; the rules port the format
// checks (format_errors) of OpenAI's cookbook notebook "Data preparation and analysis for chat
// model fine-tuning" (examples/Chat_finetuning_data_prep.ipynb), extended to tool calls as the
// API reference's training format describes them (FineTuneChatRequestInput: system, user,
// assistant, tool and function messages). They apply to a conversation as the OpenAI writer
// writes it:
//
//	reason                     rule: why
//	no_messages                the conversation has no messages: the example is its messages
//	                           (cookbook missing_messages_list)
//	unrecognized_role          a role other than system, user, assistant and tool: the training
//	                           format has no developer message (cookbook unrecognized_role; its
//	                           function role conversation.Validate refuses)
//	unrecognized_key           tool_calls on a message that is not an assistant's, tool_call_id on
//	                           one that is not a tool message: only those message types have the
//	                           field (cookbook message_unrecognized_key)
//	missing_content            a system, user or tool message whose content is null or "": content
//	                           must be text (cookbook missing_content)
//	empty_assistant_message    an assistant message without tool calls whose content is null, ""
//	                           or white space only: content may be null only beside tool calls,
//	                           and a blank reply is no training target (cookbook missing_content)
//	tool_call_without_id       a tool call with an empty id: tool messages answer a call by its id
//	tool_call_without_name     a tool call with an empty function name: the name is required
//	tool_call_not_function     a tool call whose type is neither "function" nor empty (written as
//	                           "function"): the format's calls are functions, as the writer
//	                           writes every call
//	tool_message_without_call  a tool message whose tool_call_id is empty or names no call of the
//	                           assistant message before it (only tool messages may stand between
//	                           them): a tool message is the result of such a call
//	no_assistant_message       no assistant message: nothing to train on (cookbook
//	                           example_missing_assistant_message)
//	too_many_tokens            more tokens than the limit: OpenAI caps the tokens of an example
//	                           (the cookbook warns past its limit; DefaultMaxFineTuningTokens)
//
// The cookbook's other checks have no counterpart: the writer writes one object with a messages
// list per example (data_type) and a role and a content, null where there is none, in every
// message (message_missing_key); stowken keeps no per-message "weight", so none can be other
// than 0 or 1. A "name" is accepted on every message, as the cookbook accepts it.
//
// Tokens are counted as the cookbook's num_tokens_from_messages counts them: 3 per message plus
// the tokens of each of its values (role, content and name; extended to tool_call_id and each
// tool call's id, type, function name and arguments), 1 more for a name, and 3 for the reply.
// Text is encoded with the conversation's tokenizer (tokenizer.Encode); content given as token
// ids counts its ids.
const (
	ReasonNoMessages             = "no_messages"
	ReasonUnrecognizedRole       = "unrecognized_role"
	ReasonUnrecognizedKey        = "unrecognized_key"
	ReasonMissingContent         = "missing_content"
	ReasonEmptyAssistantMessage  = "empty_assistant_message"
	ReasonToolCallWithoutID      = "tool_call_without_id"
	ReasonToolCallWithoutName    = "tool_call_without_name"
	ReasonToolCallNotFunction    = "tool_call_not_function"
	ReasonToolMessageWithoutCall = "tool_message_without_call"
	ReasonNoAssistantMessage     = "no_assistant_message"
	ReasonTooManyTokens          = "too_many_tokens"
)

// DefaultMaxFineTuningTokens is the token limit of an example that stowken export applies by
// default: 65,536.
const DefaultMaxFineTuningTokens = 65536

// Problem is a rule of the fine-tuning format that an example breaks.
type Problem struct {
	// Reason is one of the Reason constants.
	Reason string
	// Message is the index of the message that breaks the rule; -1 for a rule of the whole
	// example (no_messages, no_assistant_message, too_many_tokens).
	Message int
}

// CheckFineTuning returns the problems of c as an example of OpenAI's chat fine-tuning format
// (the rules of the Reason constants): one for each rule a message or tool call breaks, in
// message order, then those of the whole example; none for a valid example. maxTokens limits
// the example's tokens (0: no limit). It fails for an unknown tokenizer (tokenizer.ErrUnknown:
// the tokens are counted with it), and for token ids of an assistant message that the OpenAI
// writer refuses too: ids not in the vocabulary (tokenizer.ErrTokenRange,
// tokenizer.ErrInvalidToken) or not valid UTF-8 text (tokenizer.ErrInvalidUTF8).
func CheckFineTuning(c *conversation.Conversation, maxTokens int) ([]Problem, error) {
	if len(c.Messages) == 0 {
		return []Problem{{ReasonNoMessages, -1}}, nil
	}
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		return nil, err
	}
	var problems []Problem
	add := func(reason string, message int) { problems = append(problems, Problem{reason, message}) }
	hasAssistant := false
	var calls map[string]bool // the ids of the calls a tool message may answer
	for i := range c.Messages {
		m := &c.Messages[i]
		if len(m.ToolCalls) > 0 && m.Role != conversation.RoleAssistant ||
			m.ToolCallID != "" && m.Role != conversation.RoleTool {
			add(ReasonUnrecognizedKey, i)
		}
		switch m.Role {
		case conversation.RoleSystem, conversation.RoleUser:
			if isEmpty(m) {
				add(ReasonMissingContent, i)
			}
		case conversation.RoleAssistant:
			hasAssistant = true
			if len(m.ToolCalls) == 0 {
				blank, err := isBlank(tok, m)
				if err != nil {
					return nil, err
				}
				if blank {
					add(ReasonEmptyAssistantMessage, i)
				}
			}
			calls = make(map[string]bool, len(m.ToolCalls))
			for _, tc := range m.ToolCalls {
				if tc.ID == "" {
					add(ReasonToolCallWithoutID, i)
				}
				if tc.Name == "" {
					add(ReasonToolCallWithoutName, i)
				}
				if toolCallType(tc) != "function" {
					add(ReasonToolCallNotFunction, i)
				}
				calls[tc.ID] = true
			}
			continue
		case conversation.RoleTool:
			if isEmpty(m) {
				add(ReasonMissingContent, i)
			}
			if m.ToolCallID == "" || !calls[m.ToolCallID] {
				add(ReasonToolMessageWithoutCall, i)
			}
			continue
		default:
			add(ReasonUnrecognizedRole, i)
		}
		calls = nil // a message other than a tool result ends the calls' answers
	}
	if !hasAssistant {
		add(ReasonNoAssistantMessage, -1)
	}
	// A text has at most as many tokens as bytes, so counting bytes bounds the tokens cheaply:
	// the text is encoded only when the bound is past the limit.
	if maxTokens > 0 && exampleTokens(c, func(s string) int { return len(s) }) > maxTokens &&
		exampleTokens(c, func(s string) int { return len(tok.Encode(s)) }) > maxTokens {
		add(ReasonTooManyTokens, -1)
	}
	return problems, nil
}

// isEmpty reports whether m's content is null or empty.
func isEmpty(m *conversation.Message) bool {
	if m.HasTokens() {
		return len(m.Tokens) == 0
	}
	return m.ContentNull || m.Content == ""
}

// isBlank reports whether m's content is null, empty or only white space.
func isBlank(tok *tokenizer.Tokenizer, m *conversation.Message) (bool, error) {
	if !m.HasTokens() {
		return m.ContentNull || strings.TrimSpace(m.Content) == "", nil
	}
	text, err := tok.Decode(m.Tokens)
	return strings.TrimSpace(text) == "", err
}

// exampleTokens returns the tokens of c as the cookbook's num_tokens_from_messages counts them
// (see the Reason constants), count giving the tokens of a text.
func exampleTokens(c *conversation.Conversation, count func(string) int) int {
	n := 3 // the reply is primed with 3 tokens
	for i := range c.Messages {
		m := &c.Messages[i]
		n += 3 + count(m.Role) + count(m.Content) + len(m.Tokens) + count(m.ToolCallID)
		if m.Name != "" {
			n += 1 + count(m.Name)
		}
		for _, tc := range m.ToolCalls {
			n += count(tc.ID) + count(toolCallType(tc)) + count(tc.Name) + count(tc.Arguments)
		}
	}
	return n
}
