package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/export"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/tokenizer"
)

// TestExportRoundTrips exports the shared sample in all three formats: the JSONL export
// imports into a new store as the same conversations; the OpenAI export parses back to the
// same messages; the Megatron export decodes to each conversation's tokens.
func TestExportRoundTrips(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	s.ok("import", corpus.Path(t, "sample.jsonl"))
	want := map[string]*conversation.Conversation{}
	err := corpus.Lines(corpus.Path(t, "sample.jsonl"), func(line []byte, _ int) error {
		c, err := conversation.Parse(line)
		want[c.ID] = c
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	order := s.listIDs("--oldest") // the order of an --oldest export
	if len(order) != len(want) {
		t.Fatalf("listed %d of %d conversations", len(order), len(want))
	}
	dir := t.TempDir()

	// jsonl (gzip): import into a fresh store, retrieve everything, compare.
	gz := filepath.Join(dir, "all.jsonl.gz")
	s.ok("export", "--format", "jsonl", "--oldest", "-o", gz)
	again := newStore(t)
	again.ok("import", gz)
	got := again.listIDs()
	sort.Strings(got)
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range want {
			if !yield(id) {
				return
			}
		}
	})
	if !slices.Equal(got, ids) {
		t.Fatalf("re-imported %d ids, want the %d exported", len(got), len(ids))
	}
	for _, id := range ids[:20] {
		line := strings.TrimSpace(again.ok("get", id))
		c, err := conversation.Parse([]byte(line))
		if err != nil || !reflect.DeepEqual(c, want[id]) {
			t.Fatalf("%s after export and import differs: %v", id, err)
		}
	}

	// openai: each line is the conversation's messages.
	out := filepath.Join(dir, "ft.jsonl")
	s.ok("export", "--format", "openai", "--oldest", "-o", out)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	n := 0
	for ; sc.Scan(); n++ {
		orig := want[order[n]]
		c, err := export.ParseOpenAI(sc.Bytes(), orig.ID, orig.Application, orig.Model, orig.Tokenizer)
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		a, _ := json.Marshal(c.Messages)
		b, _ := json.Marshal(orig.Messages)
		if string(a) != string(b) {
			t.Fatalf("line %d (%s): messages differ:\n%s\n%s", n+1, orig.ID, a, b)
		}
	}
	if n != len(order) {
		t.Fatalf("openai export has %d lines, want %d", n, len(order))
	}

	// megatron: one document per conversation, its tokens.
	prefix := filepath.Join(dir, "tokens")
	s.ok("export", "--format", "megatron", "--oldest", "-o", prefix)
	ds, err := export.OpenMegatron(prefix+".bin", prefix+".idx")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if ds.Len() != len(order) {
		t.Fatalf("megatron dataset has %d documents, want %d", ds.Len(), len(order))
	}
	for i, id := range order {
		c := want[id]
		tok, err := tokenizer.Get(c.Tokenizer)
		if err != nil {
			t.Fatal(err)
		}
		var tokens []int
		for _, m := range c.Messages {
			if m.HasTokens() {
				tokens = append(tokens, m.Tokens...)
			} else {
				tokens = append(tokens, tok.Encode(m.Content)...)
			}
		}
		doc, err := ds.Tokens(i)
		if err != nil || !slices.Equal(doc, tokens) {
			t.Fatalf("document %d (%s): %d tokens, want %d (%v)", i, id, len(doc), len(tokens), err)
		}
	}
	if r := s.run("", "export", "--format", "megatron"); r.code != 2 {
		t.Errorf("megatron to stdout: %v", r)
	}
}

// TestSegmentsTop lists the most shared segments of the demo data, stored one at a time (put),
// which keeps every shared piece a segment of its own (import packs the demo's short system
// prompts with each batch): each is used by more than one conversation, in descending order,
// with its role and text.
func TestSegmentsTop(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	_, lines := demoJSONL(t, 5, 4)
	t.Logf("%d conversations", len(lines))
	for _, line := range lines {
		if r := s.run(line, "put", "-"); r.code != 0 {
			t.Fatalf("put: %v", r)
		}
	}
	var segs []segmentJSON
	for _, line := range strings.Split(strings.TrimSpace(s.ok("segments", "--top", "3", "--json")), "\n") {
		var sg segmentJSON
		if err := json.Unmarshal([]byte(line), &sg); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, sg)
	}
	if len(segs) != 3 {
		t.Fatalf("segments --top 3 listed %d", len(segs))
	}
	for i, sg := range segs {
		if sg.Conversations < 2 || sg.Role == "" || sg.Text == "" || sg.Tokens == 0 || sg.SavedBytes != int64(sg.Conversations-1)*sg.Bytes ||
			i > 0 && sg.Conversations > segs[i-1].Conversations {
			t.Errorf("segment %d: %+v", i, sg)
		}
	}
	if table := s.ok("segments", "--top", "2"); !strings.HasPrefix(table, "SEGMENT") || strings.Count(table, "\n") != 3 {
		t.Errorf("segments table:\n%s", table)
	}
}

// A failed export leaves no output behind: an earlier export at the same path stays as it was,
// and no temporary file remains.
func TestFailedExportLeavesNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	in := `{"id":"a","application":"x","model":"","tokenizer":"r50k_base","messages":[{"role":"user","content":"hello"}]}
{"id":"b","application":"x","model":"","tokenizer":"cl100k_base","messages":[{"role":"user","content":"hello"}]}
`
	if r := s.run(in, "import", "-"); r.code != 0 {
		t.Fatalf("import: %v", r)
	}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "ds")
	if err := os.WriteFile(prefix+export.MegatronIdxSuffix, []byte("earlier"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := s.run("", "export", "--format", "megatron", "--oldest", "-o", prefix)
	if r.code != 1 || !strings.Contains(r.stderr, "different tokenizers") {
		t.Fatalf("an export of two tokenizers into one dataset: %v", r)
	}
	if _, err := os.Stat(prefix + export.MegatronBinSuffix); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s (%v)", prefix+export.MegatronBinSuffix, err)
	}
	if got, _ := os.ReadFile(prefix + export.MegatronIdxSuffix); string(got) != "earlier" {
		t.Errorf("a failed export changed the earlier .idx to %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// An unknown --format is a usage error that lists the registered formats, found before the
// store is opened; format names are matched ignoring case.
func TestExportFormatNames(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	r := s.run("", "export", "--format", "xml")
	if r.code != 2 || r.stdout != "" ||
		!strings.Contains(r.stderr, `--format: unknown export format "xml" (known: `+strings.Join(export.Names(), ", ")+")") {
		t.Fatalf("export --format xml: %v", r)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("an export with an unknown format touched the store (%v)", err)
	}

	in := `{"id":"a","application":"x","model":"","tokenizer":"r50k_base","messages":[{"role":"user","content":"hello"}]}` + "\n"
	if r := s.run(in, "import", "-"); r.code != 0 {
		t.Fatalf("import: %v", r)
	}
	want := s.ok("export", "--format", "jsonl")
	if want != in {
		t.Fatalf("jsonl export %q, want %q", want, in)
	}
	r = s.run("", "export", "--format", "JSONL")
	if r.code != 0 || r.stdout != want || !strings.Contains(r.stderr, " as jsonl to ") {
		t.Errorf("export --format JSONL: %v", r)
	}
}

// export --help lists every registered format with its description, and the files of each
// file-set format.
func TestExportHelpListsFormats(t *testing.T) {
	t.Parallel()
	help := newStore(t).ok("export", "--help")
	for _, f := range export.Formats() {
		if !strings.Contains(help, "  "+f.Name+" ") || !strings.Contains(help, f.Description) {
			t.Errorf("help does not list %s: %s", f.Name, f.Description)
		}
		for _, suffix := range f.Suffixes {
			if !strings.Contains(help, "PREFIX"+suffix) {
				t.Errorf("help does not name %s's file PREFIX%s", f.Name, suffix)
			}
		}
	}
	if !strings.Contains(help, "output FORMAT: "+strings.Join(export.Names(), ", ")) {
		t.Errorf("--format's usage does not list the formats:\n%s", help)
	}
}
