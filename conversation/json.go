package conversation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// The wire structs fix the field order of the JSON form: the corpus order, so that a
// conversation read from the corpus is written back byte-for-byte.
type wireConversation struct {
	ID          *string         `json:"id,omitempty"`
	Application string          `json:"application"`
	Model       string          `json:"model"`
	Tokenizer   string          `json:"tokenizer"`
	CreatedAt   string          `json:"created_at,omitempty"`
	Messages    []wireMessage   `json:"messages"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

type wireMessage struct {
	Role string `json:"role"`
	// Content is a *string on output (nil pointer = null, absent interface = omitted) and raw
	// JSON on input, so that null, absent and "" are told apart.
	Content    any            `json:"content,omitempty"`
	Tokens     *[]int         `json:"tokens,omitempty"`
	Name       string         `json:"name,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
}

type wireToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Parse reads one conversation from its JSON form and validates it. Every error wraps
// ErrInvalid and says what is wrong.
func Parse(data []byte) (*Conversation, error) {
	var w wireConversation
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data after the conversation object", ErrInvalid)
	}
	c := &Conversation{
		Application: w.Application,
		Model:       w.Model,
		Tokenizer:   w.Tokenizer,
		Messages:    make([]Message, len(w.Messages)),
	}
	if w.ID != nil {
		if *w.ID == "" {
			return nil, fmt.Errorf("%w: id is empty (omit it to have one generated)", ErrInvalid)
		}
		c.ID = *w.ID
	}
	if w.CreatedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, w.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("%w: created_at %q is not an RFC 3339 time", ErrInvalid, w.CreatedAt)
		}
		c.CreatedAt = t
	}
	if len(w.Metadata) > 0 && string(w.Metadata) != "null" {
		var buf bytes.Buffer
		if err := json.Compact(&buf, w.Metadata); err != nil {
			return nil, fmt.Errorf("%w: metadata: %v", ErrInvalid, err)
		}
		c.Metadata = buf.Bytes()
	}
	for i, wm := range w.Messages {
		m, err := wm.message()
		if err != nil {
			return nil, fmt.Errorf("%w: message %d: %v", ErrInvalid, i, err)
		}
		c.Messages[i] = m
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (wm *wireMessage) message() (Message, error) {
	m := Message{Role: wm.Role, Name: wm.Name, ToolCallID: wm.ToolCallID}
	switch content := wm.Content.(type) {
	case nil:
		// "content": null decodes to a nil interface, exactly like an absent field.
		m.ContentNull = wm.Tokens == nil
	case string:
		m.Content = content
	default:
		return m, fmt.Errorf("content must be a string or null, not %T", content)
	}
	if wm.Tokens != nil {
		if wm.Content != nil {
			return m, errors.New("message has both content and tokens")
		}
		m.Tokens = *wm.Tokens
		if m.Tokens == nil {
			m.Tokens = []int{}
		}
	}
	for _, tc := range wm.ToolCalls {
		m.ToolCalls = append(m.ToolCalls, ToolCall{ID: tc.ID, Type: tc.Type, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	return m, nil
}

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q must be %s, not JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return err.Error()
}

// Marshal writes the conversation's compact JSON form (no trailing newline).
func Marshal(c *Conversation) ([]byte, error) {
	w := wireConversation{
		Application: c.Application,
		Model:       c.Model,
		Tokenizer:   c.Tokenizer,
		Messages:    make([]wireMessage, len(c.Messages)),
		Metadata:    c.Metadata,
	}
	if c.ID != "" {
		w.ID = &c.ID
	}
	if !c.CreatedAt.IsZero() {
		w.CreatedAt = c.CreatedAt.Format(time.RFC3339Nano)
	}
	for i := range c.Messages {
		m := &c.Messages[i]
		wm := wireMessage{Role: m.Role, Name: m.Name, ToolCallID: m.ToolCallID}
		switch {
		case m.Tokens != nil:
			wm.Tokens = &m.Tokens
		case m.ContentNull:
			wm.Content = (*string)(nil)
		default:
			wm.Content = &m.Content
		}
		for _, tc := range m.ToolCalls {
			wm.ToolCalls = append(wm.ToolCalls, wireToolCall{ID: tc.ID, Type: tc.Type, Function: wireFunction{Name: tc.Name, Arguments: tc.Arguments}})
		}
		w.Messages[i] = wm
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return nil, fmt.Errorf("encode conversation %q: %w", c.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkMetadata reports whether md is a JSON object.
func checkMetadata(md []byte) error {
	if len(md) == 0 || md[0] != '{' {
		return fmt.Errorf("%w: metadata must be a JSON object", ErrInvalid)
	}
	if !json.Valid(md) {
		return fmt.Errorf("%w: metadata is not valid JSON", ErrInvalid)
	}
	return nil
}
