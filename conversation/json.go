package conversation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
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
// ErrInvalid and says what is wrong. Text must be valid Unicode: invalid UTF-8 and \u escapes
// of unpaired surrogates are refused (decoding would replace them with U+FFFD, and the text
// would come back changed).
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
	if err := checkRaw(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
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
	// The metadata is raw JSON, written as it was given; everything else is encoded here, and
	// encoding/json escapes U+2028 and U+2029 in strings even without HTML escaping: they are
	// written back as characters, as the input has them (metadata, the last field, is added
	// after that).
	w.Metadata = nil
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return nil, fmt.Errorf("encode conversation %q: %w", c.ID, err)
	}
	out := unescapeLineSeparators(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if len(c.Metadata) > 0 {
		out = append(out[:len(out)-1], `,"metadata":`...)
		out = append(append(out, c.Metadata...), '}')
	}
	return out, nil
}

// unescapeLineSeparators replaces the escapes \u2028 and \u2029 in encoded JSON with the
// characters (UTF-8); every other escape, an escaped backslash included, is copied as it is.
func unescapeLineSeparators(js []byte) []byte {
	out := make([]byte, 0, len(js))
	for i := 0; i < len(js); i++ {
		if js[i] != '\\' || i+1 == len(js) {
			out = append(out, js[i])
			continue
		}
		if esc := string(js[i:min(i+6, len(js))]); esc == `\u2028` || esc == `\u2029` {
			out = append(out, 0xE2, 0x80, 0xA8+esc[5]-'8')
			i += 5
			continue
		}
		out = append(out, js[i], js[i+1]) // a two-character escape, or the start of \uXXXX
		i++
	}
	return out
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

// keySchema names the keys an object of the JSON form may have, and for each the schema of
// the objects in its value (nil: any JSON, not checked).
type keySchema map[string]keySchema

var conversationKeys = keySchema{
	"id": nil, "application": nil, "model": nil, "tokenizer": nil, "created_at": nil, "metadata": nil,
	"messages": {
		"role": nil, "content": nil, "tokens": nil, "name": nil, "tool_call_id": nil,
		"tool_calls": {"id": nil, "type": nil, "function": {"name": nil, "arguments": nil}},
	},
}

// checkRaw checks, in one pass over js (a well-formed JSON text), what encoding/json hides
// while decoding it, so that nothing is stored other than it was given:
//   - invalid UTF-8, and \u escapes of unpaired UTF-16 surrogates (decoded as U+FFFD);
//   - in the objects conversationKeys describes, keys that match a field only without regard to
//     case, and keys given twice (the last one would win);
//   - a message with both content and tokens, also when content is null (decoded as absent).
func checkRaw(js []byte) error {
	if !utf8.Valid(js) {
		for i := 0; ; {
			r, n := utf8.DecodeRune(js[i:])
			if r == utf8.RuneError && n <= 1 {
				return fmt.Errorf("invalid UTF-8 at byte %d", i)
			}
			i += n
		}
	}
	type container struct {
		schema keySchema       // nil: not checked
		seen   map[string]bool // the keys of a checked object
		array  bool
	}
	var stack []container
	next := conversationKeys // the schema of the value that starts next
	for i := 0; i < len(js); i++ {
		switch js[i] {
		case '"':
			end, err := stringEnd(js, i)
			if err != nil {
				return err
			}
			quoted := js[i : end+1]
			for i = end + 1; i < len(js) && (js[i] == ' ' || js[i] == '\t' || js[i] == '\r' || js[i] == '\n'); i++ {
			}
			if i == len(js) || js[i] != ':' || len(stack) == 0 {
				i-- // a string value; the loop goes on after it
				continue
			}
			c := &stack[len(stack)-1]
			if c.schema == nil {
				continue
			}
			key := string(quoted[1 : len(quoted)-1])
			if strings.IndexByte(key, '\\') >= 0 {
				if err := json.Unmarshal(quoted, &key); err != nil {
					return err
				}
			}
			sub, known := c.schema[key]
			switch {
			case !known:
				return fmt.Errorf("unknown field %s", quoted)
			case c.seen[key]:
				return fmt.Errorf("field %q given twice", key)
			}
			c.seen[key] = true
			next = sub
		case '{', '[':
			c := container{schema: next, array: js[i] == '['}
			if next != nil && !c.array {
				c.seen = map[string]bool{}
			}
			stack = append(stack, c)
			if !c.array {
				next = nil
			}
		case ',':
			if c := stack[len(stack)-1]; c.array {
				next = c.schema
			}
		case '}', ']':
			if c := stack[len(stack)-1]; c.seen["content"] && c.seen["tokens"] {
				return errors.New("a message has both content and tokens")
			}
			stack = stack[:len(stack)-1]
		}
	}
	return nil
}

// stringEnd returns the index of the quote that ends the JSON string starting at js[start],
// checking that its \u escapes of UTF-16 surrogates come in pairs.
func stringEnd(js []byte, start int) (int, error) {
	hex4 := func(i int) rune { // the code unit of the \uXXXX escape at i, or -1
		if i+6 > len(js) || js[i] != '\\' || js[i+1] != 'u' {
			return -1
		}
		v, err := strconv.ParseUint(string(js[i+2:i+6]), 16, 16)
		if err != nil {
			return -1
		}
		return rune(v)
	}
	for i := start + 1; i < len(js); i++ {
		quote := bytes.IndexByte(js[i:], '"')
		if quote < 0 {
			break
		}
		escape := bytes.IndexByte(js[i:i+quote], '\\')
		if escape < 0 {
			return i + quote, nil
		}
		i += escape
		switch r := hex4(i); {
		case r < 0:
			i++ // a two-character escape
		case utf16.IsSurrogate(r) && r < 0xDC00:
			if low := hex4(i + 6); low < 0xDC00 || low > 0xDFFF {
				return 0, fmt.Errorf("\\u%04x at byte %d is a high surrogate without its low one", r, i)
			}
			i += 11
		case utf16.IsSurrogate(r):
			return 0, fmt.Errorf("\\u%04x at byte %d is a low surrogate without its high one", r, i)
		default:
			i += 5
		}
	}
	return 0, errors.New("unterminated string")
}
