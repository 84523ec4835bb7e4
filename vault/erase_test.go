package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/stowken/stowken/catalog"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/tokenizer"
)

// TestDeleteErases stores 50 conversations that share a system prompt, each with a secret of
// its own in its text and its metadata, one at a time or as one batch, deletes one, and runs
// GC without a grace period: no object of the bucket holds the deleted conversation's secret
// text (every segment decoded), its manifest, or its id and metadata (every catalog file
// decoded, and every object as bytes); the others are intact.
func TestDeleteErases(t *testing.T) {
	t.Run("Store", func(t *testing.T) { testDeleteErases(t, false) })
	t.Run("StoreBatch", func(t *testing.T) { testDeleteErases(t, true) })
}

func testDeleteErases(t *testing.T, batch bool) {
	clock := &fakeclock.Clock{}
	v, b, _ := newMemVault(t, Options{Now: clock.Now})
	ctx := context.Background()
	prompt := words(7, 400)
	secret := func(i int) string { return fmt.Sprintf("the launch code of agent %d is %s", i, words(9000+i, 400)) }
	conv := func(i int) *conversation.Conversation {
		return &conversation.Conversation{ID: fmt.Sprintf("erase-%02d", i), Tokenizer: "cl100k_base",
			Metadata: []byte(fmt.Sprintf(`{"ticket":"T-%05d-secret"}`, 31000+i)),
			Messages: []conversation.Message{{Role: "system", Content: prompt}, {Role: "user", Content: secret(i)},
				{Role: "assistant", Content: "Noted."}}}
	}
	var all []*conversation.Conversation
	for i := range 50 {
		all = append(all, conv(i))
	}
	if batch {
		if _, errs := v.StoreBatch(ctx, all); errors.Join(errs...) != nil {
			t.Fatal(errors.Join(errs...))
		}
	} else {
		for _, c := range all {
			if _, err := v.Store(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	const gone = 17
	if err := v.Delete(ctx, conv(gone).ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(retireAfter)
	if rep, err := v.GC(ctx, GCOptions{}); err != nil || rep.Deleted != 1 || batch && rep.Moved != 49 {
		t.Fatalf("gc: %+v, %v; want the deleted conversation's batch retired (the others moved out of it first) and its batch object deleted", rep, err)
	}
	// Stored alone, the secret was inline in its batch object; in a batch, in packs, which the
	// next run deletes.
	if rep, err := v.GC(ctx, GCOptions{}); err != nil || batch && rep.Deleted == 0 {
		t.Fatalf("gc: %+v, %v; want the secret's packs deleted", rep, err)
	}

	tok, err := tokenizer.Get("cl100k_base")
	if err != nil {
		t.Fatal(err)
	}
	secretTokens := tok.Encode(secret(gone))
	for _, key := range listKeys(t, b, "") {
		data, _, err := b.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{conv(gone).ID, "T-31017-secret", "launch code of agent 17"} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds %q of the deleted conversation", key, s)
			}
		}
		if strings.HasPrefix(key, catalog.FilePrefix) {
			rows, err := parquet.Read[catparquet.Row](bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			for _, r := range rows {
				if r.ID == conv(gone).ID {
					t.Errorf("catalog file %s holds the deleted conversation's row", key)
				}
			}
		}
		if strings.HasPrefix(key, segment.Prefix) {
			id := segment.KeyID(key)
			tokens, err := v.readSegment(ctx, "cl100k_base", id)
			if err != nil {
				t.Fatalf("segment %s: %v", id, err)
			}
			if containsRun(tokens, secretTokens[5:25]) {
				t.Errorf("segment %s holds the deleted conversation's secret text", id)
			}
		}
	}
	if _, err := v.Retrieve(ctx, conv(gone).ID); err == nil {
		t.Fatal("the deleted conversation is retrieved")
	}
	var listed []string
	if err := v.ListAll(ctx, catalog.Query{}, func(e catalog.Entry) error {
		listed = append(listed, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 49 || slices.Contains(listed, conv(gone).ID) {
		t.Fatalf("the catalog lists %d conversations (the deleted one: %v)", len(listed), slices.Contains(listed, conv(gone).ID))
	}
	for i := range 50 {
		if i == gone {
			continue
		}
		got, err := v.Retrieve(ctx, conv(i).ID)
		if err != nil || got.Messages[1].Content != secret(i) {
			t.Fatalf("conversation %d after the deletion: %v", i, err)
		}
	}
}

// listKeys returns every key under prefix.
func listKeys(t testing.TB, b objstore.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	if err := b.List(context.Background(), prefix, func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// containsRun reports whether run appears in tokens, contiguous.
func containsRun(tokens, run []int) bool {
	for i := 0; i+len(run) <= len(tokens); i++ {
		if slices.Equal(tokens[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// TestVerifyReportsHeldInPacks: the unique text of a conversation StoreBatch packed with
// others stays in the pack after its deletion and GC; Verify reports those bytes, in
// proportion to the pack's tokens no stored conversation uses.
func TestVerifyReportsHeldInPacks(t *testing.T) {
	v, b, _ := newMemVault(t, Options{})
	ctx := context.Background()
	var convs []*conversation.Conversation
	for i := range 10 {
		convs = append(convs, &conversation.Conversation{ID: fmt.Sprintf("packed-%d", i), Tokenizer: "cl100k_base", Application: "a",
			Messages: []conversation.Message{{Role: "user", Content: words(7000+i, 120)}, {Role: "assistant", Content: words(8000+i, 120)}}})
	}
	if _, errs := v.StoreBatch(ctx, convs); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	rep, err := v.Verify(ctx, VerifyOptions{})
	if err != nil || rep.HeldInPacksBytes != 0 || rep.PacksHolding != 0 {
		t.Fatalf("verify before the deletion: %+v, %v", rep, err)
	}
	if err := v.Delete(ctx, "packed-3"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err = v.Verify(ctx, VerifyOptions{})
	if err != nil || rep.PacksHolding != 1 {
		t.Fatalf("verify after the deletion: %+v, %v; want one pack holding deleted text", rep, err)
	}
	var packBytes int64
	for _, key := range listKeys(t, b, segment.Prefix) {
		a, err := b.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		packBytes = max(packBytes, a.Size)
	}
	// One conversation of ten: about a tenth of the pack.
	if rep.HeldInPacksBytes < packBytes/20 || rep.HeldInPacksBytes > packBytes/5 {
		t.Fatalf("held in packs: %d bytes of a %d-byte pack, want about a tenth", rep.HeldInPacksBytes, packBytes)
	}
	t.Logf("one deleted conversation of ten: %d of the pack's %d bytes held", rep.HeldInPacksBytes, packBytes)
}
