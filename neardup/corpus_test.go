package neardup

import (
	"errors"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/tokenizer"
)

// corpusDocs reads the first limit conversations of a corpus file (all when limit <= 0) and
// returns for each the token ids of its messages' content, concatenated in order, as the vault
// tokenizes them (tool-call names and arguments are not part of it); without the system and
// developer messages when noSystem.
func corpusDocs(t *testing.T, name string, limit int, noSystem bool) [][]int {
	t.Helper()
	path := corpus.Path(t, name)
	start := time.Now()
	cache := make(map[string][]int) // replayed requests repeat their messages
	var docs [][]int
	errStop := errors.New("enough conversations")
	err := corpus.Lines(path, func(line []byte, n int) error {
		if limit > 0 && len(docs) >= limit {
			return errStop
		}
		c, err := conversation.Parse(line)
		if err != nil {
			t.Fatalf("%s:%d: %v", name, n, err)
		}
		tok, err := tokenizer.Get(c.Tokenizer)
		if err != nil {
			t.Fatalf("%s:%d: %v", name, n, err)
		}
		var tokens []int
		for _, m := range c.Messages {
			if noSystem && (m.Role == conversation.RoleSystem || m.Role == conversation.RoleDeveloper) {
				continue
			}
			if m.HasTokens() {
				tokens = append(tokens, m.Tokens...)
				continue
			}
			key := c.Tokenizer + "\x00" + m.Content
			ids, ok := cache[key]
			if !ok {
				ids = tok.Encode(m.Content)
				cache[key] = ids
			}
			tokens = append(tokens, ids...)
		}
		docs = append(docs, tokens)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	total := 0
	for _, d := range docs {
		total += len(d)
	}
	t.Logf("%s: %d conversations, %d tokens, read in %v", name, len(docs), total, time.Since(start).Round(time.Millisecond))
	return docs
}

// floors are the least precision, recall, recall of firm pairs and precision of verified pairs
// a corpus test accepts: a bit below what was measured.
type floors struct{ precision, recall, firm, verified float64 }

func evaluateCorpus(t *testing.T, name string, limit int, noSystem bool, want floors) Report {
	t.Helper()
	docs := corpusDocs(t, name, limit, noSystem)
	start := time.Now()
	r, err := Evaluate(docs, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("evaluated in %v", time.Since(start).Round(time.Millisecond))
	logReport(t, name, r)
	verified := 1.0
	if r.Verified > 0 {
		verified = float64(r.VerifiedCorrect) / float64(r.Verified)
	}
	if r.Precision < want.precision || r.Recall < want.recall || r.FirmRecall < want.firm || verified < want.verified {
		t.Errorf("%s: precision %.4f, recall %.4f, firm recall %.4f, precision of verified pairs %.4f; floors %+v",
			name, r.Precision, r.Recall, r.FirmRecall, verified, want)
	}
	if r.Comparisons > r.Docs*(r.Docs-1)/2/100 {
		t.Errorf("%s: %d comparisons for %d docs", name, r.Comparisons, r.Docs)
	}
	return r
}

// TestCorpusSample evaluates the 300 conversations of sample.jsonl. They hold a single
// near-duplicate pair, hence the tests below.
func TestCorpusSample(t *testing.T) {
	evaluateCorpus(t, "sample.jsonl", 0, false, floors{0.99, 0.99, 0.99, 0.99})
}

// TestCorpusHHRLHF evaluates the first 2,000 conversations of hh-rlhf: the chosen and the
// rejected conversation of a record share all but the last reply, so some pairs are
// near-duplicates, half of them just above the threshold (0.80-0.85), where the estimate misses
// or adds about one pair in six.
func TestCorpusHHRLHF(t *testing.T) {
	evaluateCorpus(t, "chat/hh-rlhf.jsonl.gz", 2000, false, floors{0.8, 0.8, 0.95, 0.8})
}

// TestCorpusAPIReplay evaluates the first 2,000 requests of the API replay: requests resend
// growing prefixes of the same conversations, and many conversations share a long system
// prompt, so groups are chains (turn 1 ~ turn 2 ~ ... ~ turn 9) whose ends are not
// near-duplicates: pair recall is high, group pair precision low, verified pairs precise.
func TestCorpusAPIReplay(t *testing.T) {
	evaluateCorpus(t, "api-replay.jsonl.gz", 2000, false, floors{0.3, 0.95, 0.98, 0.85})
}

// TestCorpusAPIReplayNoSystem is TestCorpusAPIReplay on the conversations without their
// system messages: the shared system prompts no longer make different conversations similar.
func TestCorpusAPIReplayNoSystem(t *testing.T) {
	evaluateCorpus(t, "api-replay.jsonl.gz", 2000, true, floors{0.6, 0.9, 0.95, 0.85})
}
