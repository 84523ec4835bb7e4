package vault

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stowken/stowken/internal/corpus"
)

// TestChatCorpusBytesPerToken imports every chat corpus file into one store, in batches of 256
// as stowken import does, and checks the budget of at most 1.2 stored bytes per token, every
// byte of the store counted (segments, manifests, models).
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
		tokens, bytes := after.Tokens-before.Tokens, after.StoredBytes-before.StoredBytes
		t.Logf("%-32s %6d conversations %9d tokens %9d bytes added  %.3f B/token (marginal, shared store)",
			filepath.Base(f), len(convs), tokens, bytes, float64(bytes)/float64(tokens))
	}
	st, err := v.Stats(ctx, StatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all chat files: %d conversations, %d tokens, %d bytes (segments %d, manifests %d, %d models %d): %.3f B/token, dedup saving %.1f%%",
		st.Conversations, st.Tokens, st.StoredBytes, st.SegmentBytes, st.ManifestBytes, st.Models, st.ModelBytes, st.BytesPerToken, 100*st.DedupSaving)
	if st.BytesPerToken > 1.2 {
		t.Errorf("chat corpus takes %.3f bytes/token, the budget is 1.2", st.BytesPerToken)
	}
}
