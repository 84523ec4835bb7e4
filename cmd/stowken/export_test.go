package main

import (
	"bufio"
	"encoding/json"
	"fmt"
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
	"github.com/stowken/stowken/internal/testenv"
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
	s.ok("export", "--format", "openai", "--keep-invalid", "--oldest", "-o", out)
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

// TestSegmentsTop lists the most shared segments of conversations stored one at a time (put)
// that share long system prompts: put keeps pieces of 2,048 tokens or more segments of their
// own (and import packs shared pieces with each batch unless they recur). Each listed segment
// is used by more than one conversation, in descending order, with its role and text.
func TestSegmentsTop(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	var lines []string
	for p := range 3 {
		prompt := testenv.Words(100+p, 2500) // about 7,000 tokens: pieces of 2,048 or more among them
		for i := range 2 + p {
			c := &conversation.Conversation{ID: fmt.Sprintf("top-%d-%d", p, i), Application: "app", Tokenizer: "cl100k_base",
				Messages: []conversation.Message{{Role: "system", Content: prompt}, {Role: "user", Content: testenv.Words(200+10*p+i, 20)}}}
			line, err := conversation.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, string(line))
		}
	}
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

// fineTuningInput holds conversations for the fine-tuning checks of export --format openai: three
// valid ones (one with tool calls, one whose token ids hold special tokens) and five that break
// rules, one of them two, in created_at order.
const fineTuningInput = `{"id":"ok-chat","application":"t","model":"","tokenizer":"cl100k_base","created_at":"2025-01-01T00:00:01Z","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi","name":"bob"},{"role":"assistant","content":"Hello"}]}
{"id":"no-assistant","application":"t","model":"","tokenizer":"cl100k_base","created_at":"2025-01-01T00:00:02Z","messages":[{"role":"user","content":"Anyone there?"}]}
{"id":"ok-tools","application":"t","model":"","tokenizer":"cl100k_base","created_at":"2025-01-01T00:00:03Z","messages":[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","content":"{\"temp\":18}","name":"get_weather","tool_call_id":"call_1"},{"role":"assistant","content":"18 °C."}]}
{"id":"empty-assistant","application":"t","model":"","tokenizer":"cl100k_base","created_at":"2025-01-01T00:00:04Z","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":""}]}
{"id":"orphan-tool","application":"t","model":"","tokenizer":"cl100k_base","created_at":"2025-01-01T00:00:05Z","messages":[{"role":"user","content":"Hi"},{"role":"tool","content":"42"},{"role":"assistant","content":"Hello"}]}
{"id":"two-problems","application":"t","model":"","tokenizer":"cl100k_base","created_at":"2025-01-01T00:00:06Z","messages":[{"role":"user","content":""},{"role":"assistant","content":" \n"},{"role":"assistant","content":null}]}
{"id":"ok-special","application":"t","model":"","tokenizer":"cl100k_base","created_at":"2025-01-01T00:00:07Z","messages":[{"role":"user","tokens":[13347,100276]},{"role":"assistant","tokens":[9906,100257,100257]}]}
{"id":"answer-to-nothing","application":"t","model":"","tokenizer":"cl100k_base","created_at":"2025-01-01T00:00:08Z","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"tool","content":"42","tool_call_id":"call_1"}]}
`

// exportJSONSummary is what "export --json" prints.
type exportJSONSummary struct {
	Format               string         `json:"format"`
	Output               string         `json:"output"`
	Exported             int            `json:"exported"`
	Invalid              int            `json:"invalid"`
	Skipped              int            `json:"skipped"`
	Reasons              map[string]int `json:"reasons"`
	SpecialTokenMessages int            `json:"special_token_messages"`
	SpecialTokens        int            `json:"special_tokens"`
	NearDuplicates       int            `json:"near_duplicates"`
}

// parseExportSummary parses the one JSON object of export --json.
func parseExportSummary(t *testing.T, out string) exportJSONSummary {
	t.Helper()
	var sum exportJSONSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || !strings.HasSuffix(out, "}\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("export --json printed %q, not one line of JSON: %v", out, err)
	}
	return sum
}

// openAILines parses the lines of an openai export, checking that each passes the fine-tuning
// checks, and returns their conversations.
func openAILines(t *testing.T, data string) []*conversation.Conversation {
	t.Helper()
	var convs []*conversation.Conversation
	for i, line := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		if line == "" {
			continue
		}
		c, err := export.ParseOpenAI([]byte(line), fmt.Sprint(i), "", "", tokenizer.CL100KBase)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		convs = append(convs, c)
	}
	return convs
}

// problemsOf returns the fine-tuning problems of c.
func problemsOf(t *testing.T, c *conversation.Conversation) []export.Problem {
	t.Helper()
	problems, err := export.CheckFineTuning(c, export.DefaultMaxFineTuningTokens)
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

// export --format openai skips the conversations the fine-tuning API would refuse, counts them
// by reason, and writes them with --keep-invalid; it warns about special tokens; --json prints
// the counts as one object, on stdout unless the export goes there.
func TestExportFineTuningChecks(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if r := s.run(fineTuningInput, "import", "-"); r.code != 0 {
		t.Fatalf("import: %v", r)
	}
	dir := t.TempDir()
	wantReasons := map[string]int{"empty_assistant_message": 2, "missing_content": 1, "no_assistant_message": 1, "tool_message_without_call": 2}
	const reasonsLine = "empty_assistant_message 2, tool_message_without_call 2, missing_content 1, no_assistant_message 1\n"
	const warning = "warning: 2 messages held 3 special tokens (e.g. <|endofprompt|>), written as literal text: re-tokenizing the export gives other ids\n"

	out := filepath.Join(dir, "ft.jsonl")
	r := s.run("", "export", "--oldest", "-o", out)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("export: %v", r)
	}
	if !strings.Contains(r.stderr, "exported 3 conversations as openai to "+out) ||
		!strings.Contains(r.stderr, "\nskipped 5 conversations the fine-tuning API would refuse: "+reasonsLine) ||
		!strings.HasSuffix(r.stderr, warning) {
		t.Errorf("export summary:\n%s", r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	written := openAILines(t, string(data))
	var firsts []string
	for _, c := range written {
		if p := problemsOf(t, c); len(p) != 0 {
			t.Errorf("written conversation %s has problems %v", c.Messages[0].Content, p)
		}
		firsts = append(firsts, c.Messages[0].Content)
	}
	if want := []string{"Be brief.", "Weather in Paris?", "Hi<|endofprompt|>"}; !slices.Equal(firsts, want) {
		t.Errorf("wrote the conversations beginning %q, want %q", firsts, want)
	}

	// --keep-invalid writes every conversation, counting those that break rules.
	all := filepath.Join(dir, "all.jsonl")
	r = s.run("", "export", "--oldest", "--keep-invalid", "-o", all)
	if r.code != 0 || !strings.Contains(r.stderr, "exported 8 conversations") ||
		!strings.Contains(r.stderr, "\nwrote 5 conversations the fine-tuning API would refuse: "+reasonsLine) {
		t.Errorf("export --keep-invalid: %v", r)
	}
	data, err = os.ReadFile(all)
	if err != nil {
		t.Fatal(err)
	}
	invalid := 0
	for _, c := range openAILines(t, string(data)) {
		if len(problemsOf(t, c)) > 0 {
			invalid++
		}
	}
	if invalid != 5 {
		t.Errorf("--keep-invalid wrote %d conversations with problems, want 5", invalid)
	}

	// --json with -o FILE: the summary on stdout, nothing else.
	r = s.run("", "export", "--json", "-o", filepath.Join(dir, "j.jsonl"))
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("export --json -o FILE: %v", r)
	}
	sum := parseExportSummary(t, r.stdout)
	want := exportJSONSummary{Format: "openai", Output: filepath.Join(dir, "j.jsonl"), Exported: 3, Invalid: 5, Skipped: 5,
		Reasons: wantReasons, SpecialTokenMessages: 2, SpecialTokens: 3}
	if !reflect.DeepEqual(sum, want) {
		t.Errorf("export --json: %+v, want %+v", sum, want)
	}
	// --json to stdout: the export on stdout, the summary on stderr.
	r = s.run("", "export", "--json", "--keep-invalid", "--oldest")
	if r.code != 0 || len(openAILines(t, r.stdout)) != 8 {
		t.Fatalf("export --json --keep-invalid to stdout: %v", r)
	}
	want.Output, want.Exported, want.Skipped = "-", 8, 0
	if sum := parseExportSummary(t, r.stderr); !reflect.DeepEqual(sum, want) {
		t.Errorf("export --json --keep-invalid: %+v, want %+v", sum, want)
	}

	// --max-tokens: ok-chat has 22 tokens, ok-tools more, ok-special fewer.
	for limit, wantExported := range map[string]int{"21": 1, "22": 2} {
		r = s.run("", "export", "--json", "--max-tokens", limit, "-o", filepath.Join(dir, "short.jsonl"))
		sum := parseExportSummary(t, r.stdout)
		if r.code != 0 || sum.Exported != wantExported || sum.Reasons["too_many_tokens"] != 3-wantExported {
			t.Errorf("export --max-tokens %s: %v", limit, r)
		}
	}

	// Other formats write everything; the openai flags are usage errors with them.
	if got := s.ok("export", "--format", "jsonl"); strings.Count(got, "\n") != 8 {
		t.Errorf("jsonl export wrote %d lines, want 8", strings.Count(got, "\n"))
	}
	for _, args := range [][]string{
		{"--format", "jsonl", "--keep-invalid"},
		{"--format", "megatron", "-o", filepath.Join(dir, "m"), "--max-tokens", "100"},
		{"--max-tokens", "-1"},
	} {
		if r := s.run("", append([]string{"export"}, args...)...); r.code != 2 || r.stdout != "" {
			t.Errorf("export %v: want a usage error, got %v", args, r)
		}
	}
}

// Exporting the shared sample as openai skips exactly the 22 conversations without an assistant
// message for that reason, and every line written passes the fine-tuning checks.
func TestExportFineTuningSample(t *testing.T) {
	t.Parallel()
	path := corpus.Path(t, "sample.jsonl")
	total, noAssistant := 0, 0
	err := corpus.Lines(path, func(line []byte, _ int) error {
		var c struct {
			Messages []map[string]any `json:"messages"`
		}
		if err := json.Unmarshal(line, &c); err != nil {
			return err
		}
		total++
		if !slices.ContainsFunc(c.Messages, func(m map[string]any) bool { return m["role"] == "assistant" }) {
			noAssistant++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if noAssistant != 22 {
		t.Errorf("the sample has %d conversations without an assistant message, want 22", noAssistant)
	}
	s := newStore(t)
	s.ok("import", path)
	out := filepath.Join(t.TempDir(), "ft.jsonl")
	sum := parseExportSummary(t, s.ok("export", "--json", "-o", out))
	if sum.Reasons["no_assistant_message"] != noAssistant || sum.Exported+sum.Skipped != total || sum.Skipped != sum.Invalid {
		t.Errorf("export of the sample: %+v; want no_assistant_message %d of %d conversations", sum, noAssistant, total)
	}
	t.Logf("sample: exported %d, skipped %d: %v", sum.Exported, sum.Skipped, sum.Reasons)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	written := openAILines(t, string(data))
	if len(written) != sum.Exported {
		t.Fatalf("%d lines written, summary says %d", len(written), sum.Exported)
	}
	for i, c := range written {
		if p := problemsOf(t, c); len(p) != 0 {
			t.Errorf("line %d has problems %v", i+1, p)
		}
	}
}
