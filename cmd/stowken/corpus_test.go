package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stowken/stowken/internal/corpus"
)

// TestCorpusSampleRoundTrip imports the shared corpus sample (../shared/corpus/sample.jsonl,
// or $STOWKEN_CORPUS/sample.jsonl) and checks that "stowken get ID --format json" returns every
// conversation as it was given: equal as JSON values, and counted when byte-identical. The test
// is skipped where the corpus is absent, and fails under CI=true. With -short, every tenth
// conversation is checked (one process per get costs about 0.1 s).
func TestCorpusSampleRoundTrip(t *testing.T) {
	t.Parallel()
	path := corpus.Path(t, "sample.jsonl")
	type record struct {
		id, line string
	}
	var records []record
	err := corpus.Lines(path, func(line []byte, n int) error {
		var c struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line, &c); err != nil || c.ID == "" {
			t.Fatalf("%s:%d: no id: %v", path, n, err)
		}
		records = append(records, record{c.ID, string(line)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(records) == 0 {
		t.Fatalf("%s holds no conversations", path)
	}

	s := newStore(t)
	r := s.run("", "import", path)
	if r.code != 0 {
		t.Fatalf("import %s: %v", path, r)
	}
	if st := s.stats(); st.Conversations != int64(len(records)) {
		t.Fatalf("stored %d conversations of %d", st.Conversations, len(records))
	}

	identical, checked := 0, 0
	for i, rec := range records {
		if testing.Short() && i%10 != 0 {
			continue
		}
		checked++
		got := s.ok("get", rec.id, "--format", "json")
		if !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
			t.Errorf("get %s: output is not one line", rec.id)
			continue
		}
		got = strings.TrimSuffix(got, "\n")
		if got == rec.line {
			identical++
			continue
		}
		var want, have any
		if err := json.Unmarshal([]byte(rec.line), &want); err != nil {
			t.Fatalf("corpus line of %s: %v", rec.id, err)
		}
		if err := json.Unmarshal([]byte(got), &have); err != nil {
			t.Errorf("get %s printed invalid JSON: %v", rec.id, err)
			continue
		}
		if !reflect.DeepEqual(want, have) {
			t.Errorf("get %s differs from the corpus:\n got %s\nwant %s", rec.id, got, rec.line)
		}
	}
	t.Logf("%d of %d conversations checked came back byte-identical to their corpus line, the others equal as JSON", identical, checked)
	if r := s.run("", "verify"); r.code != 0 {
		t.Errorf("verify after the corpus import: %v", r)
	}
}
