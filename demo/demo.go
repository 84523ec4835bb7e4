// Package demo generates realistic, deterministic demo conversations: the API-call log of three
// made-up applications (a parcel-delivery support bot with tools, a coding assistant with tools,
// and a documentation helper that answers from retrieved passages).
//
// Like an LLM gateway's log, every API call is one record: request k of a chat holds every
// message up to and including the chat's k-th assistant message, so consecutive requests share
// their prefix, and every request of an application repeats its system prompt and tool schemas.
// That is the redundancy stowken removes. Records have ids "<chat id>#<k>" and metadata with
// conversation_id and turn, in the normalized format of package conversation.
//
// All text here is written for this package; the same seed always yields the same records.
package demo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/stowken/stowken/conversation"
)

// DefaultChats is the number of chats that yields about 200 requests.
const DefaultChats = 60

// DefaultSeed is the seed the CLI's demo uses unless told otherwise.
const DefaultSeed = 1

// epoch is when the first generated chat starts.
var epoch = time.Date(2025, time.November, 3, 8, 0, 0, 0, time.UTC)

// app is one application that logs its API calls.
type app struct {
	name      string // application field
	short     string // chat id prefix
	model     string
	tokenizer string
	system    string // system prompt
	tools     string // JSON text of the tool list, sent as a second system message; "" for none
	weight    int
	chat      func(g *gen) []conversation.Message // the messages after the system prompt and tools
}

var apps = []*app{supportApp, devApp, docsApp}

// gen carries the random source and helpers of one chat.
type gen struct {
	r *rand.Rand
}

func (g *gen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func (g *gen) token(prefix string, n int) string {
	b := []byte(prefix)
	for range n {
		b = append(b, alnum[g.r.IntN(len(alnum))])
	}
	return string(b)
}

func (g *gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

// callID returns an OpenAI-style tool-call id.
func (g *gen) callID() string { return g.token("call_", 24) }

func system(text string) conversation.Message {
	return conversation.Message{Role: conversation.RoleSystem, Content: text}
}

func user(text string) conversation.Message {
	return conversation.Message{Role: conversation.RoleUser, Content: text}
}

func assistant(text string) conversation.Message {
	return conversation.Message{Role: conversation.RoleAssistant, Content: text}
}

// call returns an assistant message that calls one tool; its content is null, as the API
// returns it.
func (g *gen) call(name string, args any) (conversation.Message, string) {
	id := g.callID()
	return conversation.Message{
		Role:        conversation.RoleAssistant,
		ContentNull: true,
		ToolCalls:   []conversation.ToolCall{{ID: id, Type: "function", Name: name, Arguments: jsonText(args)}},
	}, id
}

// result returns the tool message answering call id.
func result(id, name string, v any) conversation.Message {
	text, ok := v.(string)
	if !ok {
		text = jsonText(v)
	}
	return conversation.Message{Role: conversation.RoleTool, ToolCallID: id, Name: name, Content: text}
}

// jsonText marshals v, which is always one of this package's own values.
func jsonText(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%q", err.Error())
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// compactJSON compacts the package's literal tool schemas; a mistake in them shows in the
// package's tests as a message that fails to parse.
func compactJSON(s string) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return s
	}
	return buf.String()
}

// requestMetadata is the metadata of one logged request, in this field order.
type requestMetadata struct {
	ConversationID string `json:"conversation_id"`
	Turn           int    `json:"turn"`
	UserID         string `json:"user_id"`
	Environment    string `json:"environment"`
	LatencyMS      int    `json:"latency_ms"`
	Generator      string `json:"generator"`
}

// Generate returns the requests of the given number of chats, in the order they were logged
// (all requests of a chat together). The same seed and count always give the same records.
func Generate(seed int64, chats int) []*conversation.Conversation {
	r := rand.New(rand.NewPCG(uint64(seed), 0x73746f776b656e)) // "stowken"
	total := 0
	for _, a := range apps {
		total += a.weight
	}
	var out []*conversation.Conversation
	start := epoch
	for i := range chats {
		w := r.IntN(total)
		a := apps[0]
		for _, c := range apps {
			if w < c.weight {
				a = c
				break
			}
			w -= c.weight
		}
		g := &gen{r: r}
		chatID := fmt.Sprintf("%s-%04d-%s", a.short, i+1, g.token("", 6))
		userID := "u_" + g.token("", 10)
		env := "production"
		if g.chance(0.1) {
			env = "staging"
		}
		msgs := []conversation.Message{system(a.system)}
		if a.tools != "" {
			msgs = append(msgs, system(a.tools))
		}
		msgs = append(msgs, a.chat(g)...)
		start = start.Add(time.Duration(2+r.IntN(25))*time.Minute + time.Duration(r.IntN(60_000))*time.Millisecond)
		at := start
		turn := 0
		for j, m := range msgs {
			switch m.Role {
			case conversation.RoleUser:
				at = at.Add(time.Duration(5+r.IntN(90)) * time.Second)
			case conversation.RoleTool:
				at = at.Add(time.Duration(100+r.IntN(900)) * time.Millisecond)
			}
			if m.Role != conversation.RoleAssistant {
				continue
			}
			turn++
			latency := 400 + r.IntN(2600) + 8*len(m.Content)/10
			at = at.Add(time.Duration(latency) * time.Millisecond)
			md := requestMetadata{ConversationID: chatID, Turn: turn, UserID: userID, Environment: env,
				LatencyMS: latency, Generator: "stowken demo"}
			out = append(out, &conversation.Conversation{
				ID:          fmt.Sprintf("%s#%d", chatID, turn),
				Application: a.name,
				Model:       a.model,
				Tokenizer:   a.tokenizer,
				CreatedAt:   at.Truncate(time.Millisecond),
				Messages:    append([]conversation.Message(nil), msgs[:j+1]...),
				Metadata:    []byte(jsonText(md)),
			})
		}
	}
	return out
}

// Write writes the conversations as JSONL in the normalized format: one conversation.Marshal
// object per line.
func Write(w io.Writer, convs []*conversation.Conversation) error {
	bw := bufio.NewWriter(w)
	for _, c := range convs {
		b, err := conversation.Marshal(c)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		bw.Write(b)
		if err := bw.WriteByte('\n'); err != nil {
			return fmt.Errorf("demo: write: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("demo: write: %w", err)
	}
	return nil
}
