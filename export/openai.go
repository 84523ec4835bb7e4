package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/tokenizer"
)

// The OpenAI wire structs. Content is a *string so that it is always written: a string, or null.
type openAILine struct {
	Messages []openAIMessage `json:"messages"`
}

type openAIMessage struct {
	Role       string           `json:"role"`
	Content    *string          `json:"content"`
	Name       string           `json:"name,omitempty"`
	ToolCallID string           `json:"tool_call_id,omitempty"`
	ToolCalls  []openAIToolCall `json:"tool_calls,omitempty"`
}

type openAIToolCall struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Function openAIFunction `json:"function"`
}

type openAIFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// OpenAIWriter writes OpenAI chat fine-tuning lines (see NewOpenAI) and counts the special
// tokens of what it wrote.
type OpenAIWriter struct {
	lines
	buf     bytes.Buffer
	special SpecialTokens
}

// SpecialTokens counts special tokens (tokenizer.IsSpecial, such as <|endoftext|>) among the
// token ids of the messages an OpenAIWriter wrote. The writer writes them as their text, which
// the export cannot tell from the same text typed by a user: encoding the export again gives
// ordinary ids for it, not the special ones.
type SpecialTokens struct {
	// Messages counts the messages holding at least one special token, Tokens the special
	// tokens.
	Messages, Tokens int
	// Example is the text of the first special token written; "" when none was.
	Example string
}

// add adds the counts of o to s, keeping the first example.
func (s *SpecialTokens) add(o SpecialTokens) {
	s.Messages += o.Messages
	s.Tokens += o.Tokens
	if s.Example == "" {
		s.Example = o.Example
	}
}

// NewOpenAI returns a Writer of OpenAI's chat fine-tuning JSONL (see the package doc for the
// mapping and for what the format loses), an *OpenAIWriter. It writes every conversation that
// can be written, valid for fine-tuning or not: CheckFineTuning tells which are. Conversations
// that fail conversation.Validate are refused (conversation.ErrInvalid). A message given as token
// ids is decoded with the conversation's tokenizer; ids outside the vocabulary
// (tokenizer.ErrTokenRange, tokenizer.ErrInvalidToken) or ids whose bytes are not valid UTF-8
// text (tokenizer.ErrInvalidUTF8) are errors, and nothing of that conversation is written.
func NewOpenAI(w io.Writer) Writer { return &OpenAIWriter{lines: newLines(w)} }

// Write writes one conversation.
func (w *OpenAIWriter) Write(c *conversation.Conversation) error {
	if err := w.ready(); err != nil {
		return err
	}
	line, special, err := openAIMessages(c)
	if err != nil {
		return fmt.Errorf("conversation %q: %w", c.ID, err)
	}
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(line); err != nil {
		return fmt.Errorf("conversation %q: %w", c.ID, err)
	}
	if err := w.emit(bytes.TrimSuffix(w.buf.Bytes(), []byte("\n"))); err != nil {
		return err
	}
	w.special.add(special)
	return nil
}

// SpecialTokens returns the special tokens of the conversations written so far.
func (w *OpenAIWriter) SpecialTokens() SpecialTokens { return w.special }

// openAIMessages converts c to its OpenAI form, counting the special tokens of its messages.
func openAIMessages(c *conversation.Conversation) (*openAILine, SpecialTokens, error) {
	var special SpecialTokens
	if err := c.Validate(); err != nil {
		return nil, special, err
	}
	var tok *tokenizer.Tokenizer
	line := &openAILine{Messages: make([]openAIMessage, len(c.Messages))}
	for i := range c.Messages {
		m := &c.Messages[i]
		om := openAIMessage{Role: m.Role, Name: m.Name, ToolCallID: m.ToolCallID}
		switch {
		case m.HasTokens():
			if tok == nil {
				var err error
				if tok, err = tokenizer.Get(c.Tokenizer); err != nil {
					return nil, special, err
				}
			}
			text, err := tok.Decode(m.Tokens)
			if err != nil {
				return nil, special, fmt.Errorf("message %d: %w", i, err)
			}
			om.Content = &text
			special.add(specialTokens(tok, m.Tokens))
		case !m.ContentNull:
			om.Content = &m.Content
		}
		for _, tc := range m.ToolCalls {
			om.ToolCalls = append(om.ToolCalls, openAIToolCall{ID: tc.ID, Type: toolCallType(tc),
				Function: openAIFunction{Name: tc.Name, Arguments: tc.Arguments}})
		}
		line.Messages[i] = om
	}
	return line, special, nil
}

// specialTokens counts the special tokens of one message's valid token ids.
func specialTokens(tok *tokenizer.Tokenizer, tokens []int) SpecialTokens {
	var s SpecialTokens
	for _, id := range tokens {
		if tok.IsSpecial(id) {
			if s.Example == "" {
				text, _ := tok.Decode([]int{id}) // a special token's text is valid UTF-8
				s.Example = text
			}
			s.Messages, s.Tokens = 1, s.Tokens+1
		}
	}
	return s
}

// toolCallType returns the type a tool call is written with: its own, or "function" when it
// has none.
func toolCallType(tc conversation.ToolCall) string {
	if tc.Type == "" {
		return "function"
	}
	return tc.Type
}

// The fields ParseOpenAI accepts. Content is raw so that null, absent and a string are told
// apart; the fields stowken does not keep are accepted and ignored.
type openAIInLine struct {
	Messages          *[]openAIInMessage `json:"messages"`
	Tools             json.RawMessage    `json:"tools"`
	ParallelToolCalls json.RawMessage    `json:"parallel_tool_calls"`
	Functions         json.RawMessage    `json:"functions"`
}

type openAIInMessage struct {
	Role       string           `json:"role"`
	Content    json.RawMessage  `json:"content"`
	Name       string           `json:"name"`
	ToolCallID string           `json:"tool_call_id"`
	ToolCalls  []openAIToolCall `json:"tool_calls"`
	Weight     json.RawMessage  `json:"weight"`
}

// ParseOpenAI reads one line of OpenAI chat fine-tuning JSONL (as NewOpenAI writes it) back
// into a conversation, with the id, application, model and tokenizer the format does not carry.
// Every message comes back as text (Content, or ContentNull for a null or absent content), with
// its role, name, tool_call_id and tool calls. The fine-tuning fields stowken has no place for
// ("tools", "parallel_tool_calls", "functions", and a message's "weight") are accepted and
// ignored; any other field, content that is not a string or null (such as an array of content
// parts), and a conversation that fails conversation.Validate are errors wrapping
// conversation.ErrInvalid.
func ParseOpenAI(line []byte, id, application, model, tokenizerName string) (*conversation.Conversation, error) {
	var in openAIInLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%w: OpenAI line: %v", conversation.ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: OpenAI line: trailing data after the object", conversation.ErrInvalid)
	}
	if in.Messages == nil {
		return nil, fmt.Errorf("%w: OpenAI line: no \"messages\"", conversation.ErrInvalid)
	}
	c := &conversation.Conversation{ID: id, Application: application, Model: model, Tokenizer: tokenizerName,
		Messages: make([]conversation.Message, len(*in.Messages))}
	for i, im := range *in.Messages {
		m := conversation.Message{Role: im.Role, Name: im.Name, ToolCallID: im.ToolCallID}
		if len(im.Content) == 0 || string(im.Content) == "null" {
			m.ContentNull = true
		} else if err := json.Unmarshal(im.Content, &m.Content); err != nil {
			return nil, fmt.Errorf("%w: OpenAI line: message %d: content must be a string or null", conversation.ErrInvalid, i)
		}
		for _, tc := range im.ToolCalls {
			m.ToolCalls = append(m.ToolCalls, conversation.ToolCall{ID: tc.ID, Type: tc.Type,
				Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		c.Messages[i] = m
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}
