package vault

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stowken/stowken/internal/corpus"
)

// TestChatCorpusBytesPerToken imports every chat corpus file into one store, in batches of 256
// as stowken import does, and checks the budget of at most 1.2 bytes per token for the
// conversations' content: every object of the bucket (segments, manifests, models). The
// catalog's summaries come on top (about 210 bytes per conversation, metadata included); they
// are logged, with the total, and held to a budget of their own.
func TestChatCorpusBytesPerToken(t *testing.T) {
	if testing.Short() {
		t.Skip("imports the whole chat corpus; skipped with -short")
	}
	v, _, _ := newMemVault(t, Options{})
	ctx := context.Background()
	for _, f := range corpus.Glob(t, "chat/*.jsonl.gz") {
		before, err := v.Stats(ctx, StatsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		convs, _ := readCorpus(t, f, 1)
		storeAll(t, v, convs)
		after, err := v.Stats(ctx, StatsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bucket := func(st Stats) int64 { return st.SegmentBytes + st.ManifestBytes + st.ModelBytes }
		tokens, bytes := after.Tokens-before.Tokens, bucket(after)-bucket(before)
		t.Logf("%-32s %6d conversations %9d tokens %9d bytes added  %.3f B/token (marginal, shared store)",
			filepath.Base(f), len(convs), tokens, bytes, float64(bytes)/float64(tokens))
	}
	st, err := v.Stats(ctx, StatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	content := st.SegmentBytes + st.ManifestBytes + st.ModelBytes
	perToken := float64(content) / float64(st.Tokens)
	perEntry := float64(st.CatalogBytes) / float64(st.Conversations)
	t.Logf("all chat files: %d conversations, %d tokens; content %d bytes (segments %d, manifests %d, %d models %d): %.3f B/token; "+
		"catalog %d bytes in %d files, %.0f bytes per conversation; all together %.3f B/token, dedup saving %.1f%%",
		st.Conversations, st.Tokens, content, st.SegmentBytes, st.ManifestBytes, st.Models, st.ModelBytes, perToken,
		st.CatalogBytes, st.CatalogFiles, perEntry, st.BytesPerToken, 100*st.DedupSaving)
	if perToken > 1.2 {
		t.Errorf("the chat corpus's content takes %.3f bytes/token, the budget is 1.2", perToken)
	}
	if perEntry > 300 {
		t.Errorf("the catalog takes %.0f bytes per conversation, the budget is 300", perEntry)
	}
}
