package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/vault"
)

// chat returns a conversation of the given messages, alternating user and assistant after an
// optional system prompt.
func chat(id, app, system string, turns ...string) *conversation.Conversation {
	c := &conversation.Conversation{ID: id, Application: app, Model: "test-model", Tokenizer: "cl100k_base"}
	if system != "" {
		c.Messages = append(c.Messages, conversation.Message{Role: conversation.RoleSystem, Content: system})
	}
	for i, text := range turns {
		role := conversation.RoleUser
		if i%2 == 1 {
			role = conversation.RoleAssistant
		}
		c.Messages = append(c.Messages, conversation.Message{Role: role, Content: text})
	}
	return c
}

// TestDedupSharedSystemPrompt stores conversations that share a long system prompt, through
// two vaults (two processes), and checks that the prompt's segment objects are stored once:
// every later conversation adds exactly the segments of its own unique content.
func TestDedupSharedSystemPrompt(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	prompt := words(1, 2500)
	if n := len(strings.Fields(prompt)); n < 2000 {
		t.Fatalf("the shared prompt has %d words, want at least 2000", n)
	}
	writers := []*vault.Vault{st.open(t, vault.Options{}), st.open(t, vault.Options{})}

	// The first conversation: the prompt and a short question, which stays inline in the manifest.
	first := chat("dedup-0", "dedup", prompt, "What is the first rule?", "The first rule is kept.")
	res, err := writers[0].Store(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	promptSegments := len(st.segmentObjects(t))
	if promptSegments < 2 || res.NewSegments != promptSegments || res.Segments != promptSegments {
		t.Fatalf("first conversation (a %d-token prompt): %d segments, %d new, %d objects in the bucket; want the same number, at least 2",
			res.Tokens, res.Segments, res.NewSegments, promptSegments)
	}
	all := []*conversation.Conversation{first}
	lines := [][]byte{mustMarshal(t, first)}

	// Each later conversation: the same prompt, a long unique user message (segments of its
	// own) and a short reply. Its new segments must be exactly those that are not the prompt's.
	const n = 16
	unique := 0
	for i := 1; i < n; i++ {
		c := chat(fmt.Sprintf("dedup-%d", i), "dedup", prompt,
			fmt.Sprintf("Please review document %d:\n%s", i, words(100+i, 2500)), fmt.Sprintf("Reviewed %d.", i))
		lines = append(lines, mustMarshal(t, c))
		all = append(all, c)
		res, err := writers[i%2].Store(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if res.NewSegments == 0 || res.Segments-res.NewSegments != promptSegments {
			t.Errorf("conversation %s: %d segments, %d new; want exactly the %d prompt segments reused and at least one new",
				c.ID, res.Segments, res.NewSegments, promptSegments)
		}
		unique += res.NewSegments
	}
	// The prompt with a different short question adds nothing.
	again := chat("dedup-again", "dedup", prompt, "And the second rule?")
	lines = append(lines, mustMarshal(t, again))
	all = append(all, again)
	if res, err := writers[1].Store(ctx, again); err != nil {
		t.Fatal(err)
	} else if res.NewSegments != 0 {
		t.Errorf("the shared prompt with a short question added %d segments, want 0", res.NewSegments)
	}

	want := promptSegments + unique
	if got := len(st.segmentObjects(t)); got != want {
		t.Errorf("bucket holds %d segment objects, want %d (%d of the prompt, stored once, + %d of the unique messages)", got, want, promptSegments, unique)
	}
	stats, err := writers[0].Stats(ctx, vault.StatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Segments != int64(want) {
		t.Errorf("Stats().Segments = %d, want %d", stats.Segments, want)
	}
	t.Logf("%d conversations sharing a %d-word prompt (%d segments): %d segment objects, where storing the prompt with each would take %d; dedup saving %.1f%%",
		len(all), len(strings.Fields(prompt)), promptSegments, want, len(all)*promptSegments+unique, 100*stats.DedupSaving)

	reader := st.open(t, vault.Options{})
	got, errs := reader.RetrieveBatch(ctx, ids(all))
	for i, c := range all {
		if errs[i] != nil {
			t.Fatalf("retrieve %q: %v", c.ID, errs[i])
		}
		if !checkRetrieved(t, c.ID, got[i], lines[i]) {
			t.Errorf("conversation %q is not byte-identical", c.ID)
		}
	}
}
