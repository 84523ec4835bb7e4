package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/demo"
)

// allCommands is every subcommand the CLI must offer.
var allCommands = []string{"init", "put", "import", "get", "rm", "ls", "stats", "gc", "verify", "migrate", "demo", "bench"}

func TestHelp(t *testing.T) {
	t.Parallel()
	top := runBinary(t, "", "help")
	if top.code != 0 {
		t.Fatalf("stowken help: %v", top)
	}
	for _, args := range [][]string{{"--help"}, {"-h"}} {
		if r := runBinary(t, "", args...); r.code != 0 || r.stdout != top.stdout {
			t.Errorf("stowken %v differs from stowken help: %v", args, r)
		}
	}
	for _, name := range allCommands {
		if !regexp.MustCompile(`(?m)^  ` + name + ` `).MatchString(top.stdout) {
			t.Errorf("stowken help does not list %s:\n%s", name, top.stdout)
		}
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			r := runBinary(t, "", args...)
			if r.code != 0 {
				t.Errorf("stowken %v: %v", args, r)
				continue
			}
			if !strings.HasPrefix(r.stdout, "Usage: stowken "+name+" ") || !strings.Contains(r.stdout, "--store URL") {
				t.Errorf("stowken %v: no usage line or flags:\n%s", args, r.stdout)
			}
			if r.stderr != "" {
				t.Errorf("stowken %v wrote on stderr: %s", args, r.stderr)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage: stowken"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"get"}, "at least one ID"},
		{[]string{"get", "x", "--format", "yaml"}, `--format "yaml"`},
		{[]string{"put"}, "exactly one FILE"},
		{[]string{"import"}, "at least one FILE"},
		{[]string{"import", "--concurrency", "0", "x"}, "--concurrency"},
		{[]string{"ls", "--since", "yesterday"}, "RFC 3339"},
		{[]string{"ls", "--limit", "0"}, "--limit"},
		{[]string{"gc", "--grace", "soon"}, "invalid value"},
		{[]string{"stats", "extra"}, "no arguments"},
		{[]string{"--log-level", "loud", "stats"}, "--log-level"},
		{[]string{"stats", "--no-such-flag"}, "no-such-flag"},
		{[]string{"--store", "s3://bucket/prefix", "stats"}, "dynamodb://TABLE"},
		{[]string{"--refs", "dynamodb://table", "stats"}, "only for s3:// stores"},
		{[]string{"--store", "s3://bucket/p?pathstyle=true", "--refs", "dynamodb://table", "stats"}, `unknown parameter "pathstyle"`},
		{[]string{"--store", "s3://bucket/p", "--refs", "dynamodb://t", "stats"}, `table name "t"`},
		{[]string{"--store", "s3:/bucket/p", "--refs", "dynamodb://table", "stats"}, "s3://BUCKET/PREFIX"},
	}
	for _, tt := range tests {
		r := s.run("", tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("stowken %v: want exit 2 and %q on stderr, got %v", tt.args, tt.want, r)
		}
	}
}

const sampleConversation = `{"id":"round-trip-1","application":"support-bot","model":"gpt-4o","tokenizer":"o200k_base","created_at":"2025-11-03T08:00:00.123Z","messages":[{"role":"system","content":"You are helpful. Ünïcödé, 日本語, emoji 🚀 and \"quotes\" <tags> & ampersands."},{"role":"user","content":"Where is my parcel PW1234567890?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"track_shipment","arguments":"{\"tracking_number\": \"PW1234567890\"}"}}]},{"role":"tool","content":"{\"status\":\"in_transit\"}","name":"track_shipment","tool_call_id":"call_1"},{"role":"assistant","tokens":[9906,0,1115]},{"role":"user","content":""}],"metadata":{"conversation_id":"round-trip","turn":2,"nested":{"a":[1,2.5,"x"]}}}`

// marshalled returns conversation.Marshal(conversation.Parse(input)) and a newline.
func marshalled(t *testing.T, input string) string {
	t.Helper()
	c, err := conversation.Parse([]byte(input))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	b, err := conversation.Marshal(c)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return string(b) + "\n"
}

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if out := s.ok("init"); !strings.Contains(out, "ready") || !strings.Contains(out, "conditional writes checked") {
		t.Errorf("init printed %q", out)
	}
	file := writeFile(t, "conv.json", []byte(sampleConversation+"\n"))
	if out := s.ok("put", file); out != "round-trip-1\n" {
		t.Fatalf("put printed %q, want the id", out)
	}
	want := marshalled(t, sampleConversation)
	if got := s.ok("get", "round-trip-1", "--format", "json"); got != want {
		t.Errorf("get --format json:\n got %s\nwant %s", got, want)
	}
	if got := s.ok("get", "round-trip-1"); got != want {
		t.Errorf("get (default format) differs from --format json:\n%s", got)
	}

	// The same conversation again is harmless; a different one under the id is a conflict.
	if out := s.ok("put", file); out != "round-trip-1\n" {
		t.Errorf("second put printed %q", out)
	}
	changed := strings.Replace(sampleConversation, "Where is my parcel", "Where is my box", 1)
	if r := s.run(changed, "put", "-"); r.code != 1 || !strings.Contains(r.stderr, "different conversation") {
		t.Errorf("put of a different conversation under the same id: %v", r)
	}

	// From stdin, without an id: the store assigns one.
	noID := strings.Replace(sampleConversation, `"id":"round-trip-1",`, "", 1)
	r := s.run(noID, "put", "-")
	if r.code != 0 {
		t.Fatalf("put - without id: %v", r)
	}
	id := strings.TrimSpace(r.stdout)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("generated id %q is not a UUIDv7", id)
	}
	wantNoID := strings.Replace(marshalled(t, noID), `{"application"`, `{"id":"`+id+`","application"`, 1)
	if got := s.ok("get", id); got != wantNoID {
		t.Errorf("get %s:\n got %s\nwant %s", id, got, wantNoID)
	}

	text := s.ok("get", "round-trip-1", "--format", "text")
	for _, want := range []string{"conversation  round-trip-1", "### 1 system", "Ünïcödé, 日本語", "### 3 assistant",
		`→ track_shipment({"tracking_number": "PW1234567890"})  [call_1]`, "### 4 tool · track_shipment · reply to call_1",
		"[3 tokens given as ids]"} {
		if !strings.Contains(text, want) {
			t.Errorf("get --format text lacks %q:\n%s", want, text)
		}
	}

	tokens := s.ok("get", "--format", "tokens", "round-trip-1")
	lines := strings.Split(strings.TrimSuffix(tokens, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("get --format tokens printed %d lines, want 6:\n%s", len(lines), tokens)
	}
	for i, role := range []string{"system", "user", "assistant", "tool", "assistant", "user"} {
		if !strings.HasPrefix(lines[i], role+"\t") {
			t.Errorf("tokens line %d = %q, want role %s", i+1, lines[i], role)
		}
	}
	if lines[4] != "assistant\t9906 0 1115" || lines[2] != "assistant\t" || lines[5] != "user\t" {
		t.Errorf("token lines 3, 5, 6 = %q, %q, %q", lines[2], lines[4], lines[5])
	}
	if !regexp.MustCompile(`^user\t(\d+ )+\d+$`).MatchString(lines[1]) {
		t.Errorf("user message not tokenized: %q", lines[1])
	}

	// Several ids: one line each, in order; a missing one fails without hiding the others.
	r = s.run("", "get", "round-trip-1", "missing", id)
	if r.code != 1 || r.stdout != want+wantNoID || !strings.Contains(r.stderr, `"missing"`) {
		t.Errorf("get with a missing id among others: %v", r)
	}
}

// demoJSONL returns the demo generator's records and their JSONL lines.
func demoJSONL(t *testing.T, seed int64, chats int) ([]*conversation.Conversation, []string) {
	t.Helper()
	convs := demo.Generate(seed, chats)
	var buf bytes.Buffer
	if err := demo.Write(&buf, convs); err != nil {
		t.Fatal(err)
	}
	return convs, strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func TestImportBadLines(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	convs, lines := demoJSONL(t, 11, 5)
	var ids []string
	for _, c := range convs {
		ids = append(ids, c.ID)
	}
	// Line 3: malformed JSON; line 6: empty (skipped silently); line 8: unknown role.
	input := slices.Clone(lines[:2])
	input = append(input, `{"application":"x","tokenizer":"cl100k_base","messages":[{"role":"user",`)
	input = append(input, lines[2:4]...)
	input = append(input, "")
	input = append(input, lines[4])
	input = append(input, `{"id":"bad-role","application":"x","tokenizer":"cl100k_base","messages":[{"role":"wizard","content":"hi"}]}`)
	input = append(input, lines[5:]...)
	file := writeFile(t, "mixed.jsonl", []byte(strings.Join(input, "\n")+"\n"))

	r := s.run("", "import", "--concurrency", "3", file)
	if r.code != 1 {
		t.Fatalf("import with bad lines: want exit 1, got %v", r)
	}
	reported := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(file)+`:(\d+): (.*)$`).FindAllStringSubmatch(r.stderr, -1)
	var badLines []string
	for _, m := range reported {
		badLines = append(badLines, m[1])
	}
	sort.Strings(badLines)
	if !slices.Equal(badLines, []string{"3", "8"}) {
		t.Errorf("import reported lines %v, want 3 and 8:\n%s", badLines, r.stderr)
	}
	if !strings.Contains(r.stderr, ":3: invalid conversation: truncated JSON") || !strings.Contains(r.stderr, `:8: message 0: invalid conversation:`) ||
		!strings.Contains(r.stderr, `unknown role "wizard"`) {
		t.Errorf("bad lines not explained:\n%s", r.stderr)
	}
	for _, want := range []string{fmt.Sprintf("conversations stored   %d\n", len(convs)), "failed                 2\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"tokens ", "new segments ", "bytes added ", "bytes/token ", "elapsed ", "requests               S3: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	got := s.listIDs()
	sort.Strings(got)
	sort.Strings(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("stored ids %v, want the %d good ones %v", got, len(ids), ids)
	}

	// Importing again: everything already present, nothing added.
	before := s.stats()
	good := writeFile(t, "good.jsonl", []byte(strings.Join(lines, "\n")))
	r = s.run("", "import", "--json", good)
	if r.code != 0 {
		t.Fatalf("re-import: %v", r)
	}
	var sum struct {
		Stored     int64 `json:"stored"`
		Existed    int64 `json:"already_present"`
		Failed     int64 `json:"failed"`
		BytesAdded int64 `json:"bytes_added"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("import --json printed %q: %v", r.stdout, err)
	}
	if sum.Stored != 0 || sum.Existed != int64(len(lines)) || sum.Failed != 0 || sum.BytesAdded != 0 {
		t.Errorf("re-import summary %+v, want all %d already present", sum, len(lines))
	}
	// The reference items may change: a re-store refreshes its references' times. It marks
	// what it took and did not need for the collector: its batch objects, which GC deletes
	// once their writer deadline has passed (TestGCRaceBatchObject), and which verify reports
	// as unused until then.
	s.ok("gc", "--grace", "0s")
	var ver struct {
		Unused int64 `json:"unused_segment_bytes"`
	}
	if err := json.Unmarshal([]byte(s.ok("verify", "--json")), &ver); err != nil {
		t.Fatal(err)
	}
	after := s.stats()
	after.StoredBytes, after.RefBytes = after.StoredBytes-after.RefBytes+before.RefBytes, before.RefBytes
	after.StoredBytes, after.ManifestBytes = after.StoredBytes-ver.Unused, after.ManifestBytes-ver.Unused
	if after != before || ver.Unused == 0 {
		t.Errorf("re-import changed the store: %+v → %+v, %d bytes unused", before, after, ver.Unused)
	}
}

func TestImportGzip(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	convs, lines := demoJSONL(t, 12, 8)
	half := len(lines) / 2
	gz := func(ls []string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(strings.Join(ls, "\r\n") + "\r\n"))
		zw.Close()
		return buf.Bytes()
	}
	named := writeFile(t, "first.jsonl.gz", gz(lines[:half]))
	unnamed := writeFile(t, "second.jsonl", gz(lines[half:])) // gzip, whatever the name says
	r := s.run("", "import", named, unnamed)
	if r.code != 0 {
		t.Fatalf("import of gzip files: %v", r)
	}
	if st := s.stats(); st.Conversations != int64(len(convs)) {
		t.Errorf("stored %d conversations, want %d", st.Conversations, len(convs))
	}
	for _, i := range []int{0, half, len(lines) - 1} {
		if got := s.ok("get", convs[i].ID); got != lines[i]+"\n" {
			t.Errorf("get %s after gzip import:\n got %s\nwant %s", convs[i].ID, got, lines[i])
		}
	}
	// Standard input, gzip too: all already present.
	if r := s.run(string(gz(lines)), "import", "-"); r.code != 0 ||
		!strings.Contains(r.stdout, fmt.Sprintf("already present        %d\n", len(lines))) {
		t.Errorf("import - of gzip data: %v", r)
	}
	// A truncated gzip stream is a failed file, reported, with a non-zero exit.
	data := gz(lines[:half])
	broken := writeFile(t, "broken.gz", data[:len(data)/2])
	if r := s.run("", "import", broken); r.code != 1 || !strings.Contains(r.stderr, "broken.gz") {
		t.Errorf("import of a truncated gzip file: %v", r)
	}
	if r := s.run("", "import", "/no/such/file.jsonl"); r.code != 1 || !strings.Contains(r.stderr, "/no/such/file.jsonl") {
		t.Errorf("import of a missing file: %v", r)
	}
}

// conv returns a one-message conversation JSON with the given id field and message.
func conv(idField, message string) string {
	return `{` + idField + `"application":"test","model":"m","tokenizer":"cl100k_base","messages":[` + message + `]}`
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	s.ok("put", writeFile(t, "ok.json", []byte(sampleConversation)))
	before := s.stats()
	user := `{"role":"user","content":"hello"}`
	tests := []struct {
		name, input, want string
	}{
		{"malformed JSON", `{"id":"x","application":"test","tokenizer":"cl100k_base","messages":[}`, "malformed JSON"},
		{"truncated JSON", conv(`"id":"x",`, user)[:60], "truncated JSON"},
		{"content is a number", conv(`"id":"x",`, `{"role":"user","content":42}`), "content must be a string"},
		{"messages is a string", `{"id":"x","application":"test","tokenizer":"cl100k_base","messages":"hi"}`, `field "messages"`},
		{"unknown tokenizer", strings.Replace(conv(`"id":"x",`, user), "cl100k_base", "gpt9_base", 1), `unknown tokenizer "gpt9_base"`},
		{"unknown role", conv(`"id":"x",`, `{"role":"wizard","content":"hi"}`), `unknown role "wizard"`},
		{"token past the vocabulary", conv(`"id":"x",`, `{"role":"user","tokens":[1,2,100277]}`), "out of range"},
		{"negative token", conv(`"id":"x",`, `{"role":"user","tokens":[-1]}`), "out of range"},
		{"content and tokens", conv(`"id":"x",`, `{"role":"user","content":"hi","tokens":[1]}`), "both content and tokens"},
		{"empty id", conv(`"id":"",`, user), "id is empty"},
		{"id longer than 512 bytes", conv(`"id":"`+strings.Repeat("a", 513)+`",`, user), "longer than 512"},
		{"id with a slash", conv(`"id":"a/b",`, user), `contains "/"`},
		{"id with ..", conv(`"id":"a..b",`, user), `contains ".."`},
		{"id with a control character", conv(`"id":"a\u0007b",`, user), "control"},
		{"id with a newline", conv(`"id":"a\nb",`, user), "control"},
		{"unknown field", strings.Replace(conv(`"id":"x",`, user), `"model":"m"`, `"modle":"m"`, 1), `unknown field "modle"`},
		{"trailing data", conv(`"id":"x",`, user) + "{}", "trailing data"},
		{"not an object", `[1,2,3]`, "invalid conversation"},
		{"empty input", ``, "truncated JSON"},
	}
	var all []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.run("", "put", writeFile(t, "bad.json", []byte(tt.input)))
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("put of %s: want exit 1 and %q on stderr, got %v", tt.name, tt.want, r)
			}
			if strings.Contains(r.stderr, "panic") || r.stdout != "" {
				t.Errorf("put of %s: %v", tt.name, r)
			}
		})
		if tt.input != "" {
			all = append(all, tt.input)
		}
	}
	// The same inputs as lines of an import: every one reported with its line number.
	file := writeFile(t, "bad.jsonl", []byte(strings.Join(all, "\n")+"\n"))
	r := s.run("", "import", file)
	if r.code != 1 {
		t.Errorf("import of bad lines: %v", r)
	}
	for i := range all {
		if !strings.Contains(r.stderr, fmt.Sprintf("%s:%d: ", file, i+1)) {
			t.Errorf("import did not report line %d:\n%s", i+1, r.stderr)
		}
	}
	if after := s.stats(); after != before {
		t.Errorf("bad input changed the store: %+v → %+v", before, after)
	}
	if got := s.listIDs(); !slices.Equal(got, []string{"round-trip-1"}) {
		t.Errorf("store holds %v after bad input", got)
	}
}

func TestLongPrintableID(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	base := "Kundengespräch #42? user: Zoë · 会話 id="
	id := base + strings.Repeat("x", 500-len(base))
	if len(id) != 500 {
		t.Fatalf("test id is %d bytes", len(id))
	}
	idJSON, _ := json.Marshal(id)
	input := conv(`"id":`+string(idJSON)+`,`, `{"role":"user","content":"hi"}`)
	r := s.run(input, "put", "-")
	if strings.Contains(r.stderr, "file name too long") {
		t.Fatalf("put of a 500-byte printable id failed in the store, not in validation: the local store "+
			"names the manifest file after the id, and %d bytes exceed the file system's limit on a file name "+
			"(vault/objstore fs must map long ids to shorter names):\n%.300s", len(id)+len(".json.zst"), r.stderr)
	}
	if r.code != 0 || r.stdout != id+"\n" {
		t.Fatalf("put of a 500-byte printable id: %v", r)
	}
	if got := s.ok("get", id); got != marshalled(t, input) {
		t.Errorf("get of the 500-byte id:\n got %s\nwant %s", got, marshalled(t, input))
	}
	if got := s.listIDs(); !slices.Equal(got, []string{id}) {
		t.Errorf("ls shows %q", got)
	}
	s.ok("rm", id)
	if r := s.run("", "get", id); r.code != 1 {
		t.Errorf("get after rm: %v", r)
	}
}

func TestMissingStore(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	for _, args := range [][]string{{"ls"}, {"stats"}, {"get", "x"}, {"rm", "x"}, {"gc"}, {"verify"}} {
		if r := s.run("", args...); r.code != 1 || !strings.Contains(r.stderr, "no store at "+s.dir) {
			t.Errorf("stowken %v on a missing store: %v", args, r)
		}
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reading commands created the store directory: %v", err)
	}
	s.ok("init")
	if st := s.stats(); st.Conversations != 0 {
		t.Errorf("new store: %+v", st)
	}
}

func TestRmThenGet(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	s.ok("put", writeFile(t, "c.json", []byte(sampleConversation)))
	if out := s.ok("rm", "round-trip-1"); out != "deleted round-trip-1\n" {
		t.Errorf("rm printed %q", out)
	}
	if r := s.run("", "get", "round-trip-1"); r.code != 1 || !strings.Contains(r.stderr, "not found") || r.stdout != "" {
		t.Errorf("get after rm: %v", r)
	}
	if r := s.run("", "rm", "round-trip-1"); r.code != 1 || !strings.Contains(r.stderr, "no such conversation") {
		t.Errorf("rm of a deleted conversation: %v", r)
	}
	if st := s.stats(); st.Conversations != 0 {
		t.Errorf("%d conversations after rm", st.Conversations)
	}
}

func TestLsFilters(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	convs, lines := demoJSONL(t, 21, 12)
	s.ok("import", writeFile(t, "demo.jsonl", []byte(strings.Join(lines, "\n"))))

	// ls lists newest first: by created time (milliseconds), then id, descending.
	match := func(keep func(c *conversation.Conversation) bool) []string {
		var kept []*conversation.Conversation
		for _, c := range convs {
			if keep(c) {
				kept = append(kept, c)
			}
		}
		sort.Slice(kept, func(i, j int) bool {
			a, b := kept[i].CreatedAt.UnixMilli(), kept[j].CreatedAt.UnixMilli()
			return a > b || a == b && kept[i].ID > kept[j].ID
		})
		var ids []string
		for _, c := range kept {
			ids = append(ids, c.ID)
		}
		return ids
	}
	sorted := make([]*conversation.Conversation, len(convs))
	copy(sorted, convs)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].CreatedAt.Before(sorted[j].CreatedAt) })
	mid := sorted[len(sorted)/2].CreatedAt
	app, model := convs[0].Application, convs[0].Model
	day := convs[0].CreatedAt.UTC().Format(time.DateOnly)
	dayStart, _ := time.Parse(time.DateOnly, day)

	tests := []struct {
		name  string
		flags []string
		want  []string
	}{
		{"all", nil, match(func(*conversation.Conversation) bool { return true })},
		{"app", []string{"--app", app}, match(func(c *conversation.Conversation) bool { return c.Application == app })},
		{"model", []string{"--model", model}, match(func(c *conversation.Conversation) bool { return c.Model == model })},
		{"unknown app", []string{"--app", "nope"}, nil},
		{"since", []string{"--since", mid.Format(time.RFC3339Nano)}, match(func(c *conversation.Conversation) bool { return !c.CreatedAt.Before(mid) })},
		{"until", []string{"--until", mid.Format(time.RFC3339Nano)}, match(func(c *conversation.Conversation) bool { return c.CreatedAt.Before(mid) })},
		{"since date", []string{"--since", day}, match(func(c *conversation.Conversation) bool { return !c.CreatedAt.Before(dayStart) })},
		{"until date", []string{"--until", day}, match(func(c *conversation.Conversation) bool { return c.CreatedAt.Before(dayStart) })},
		{"app and since, paged by 3", []string{"--app", app, "--since", mid.Format(time.RFC3339), "--limit", "3"},
			match(func(c *conversation.Conversation) bool {
				return c.Application == app && !c.CreatedAt.Before(mid.Truncate(time.Second))
			})},
		{"paged by 1", []string{"--limit", "1"}, match(func(*conversation.Conversation) bool { return true })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.listIDs(tt.flags...); !slices.Equal(got, tt.want) {
				t.Errorf("ls %v:\n got %v\nwant %v", tt.flags, got, tt.want)
			}
		})
	}
	if n := len(tests[4].want); n == 0 || n == len(convs) {
		t.Errorf("the --since case selects %d of %d conversations; the test data do not exercise it", n, len(convs))
	}

	// The table: a header and one row per conversation, with the summary columns.
	table := s.ok("ls", "--app", app, "--limit", "1000")
	rows := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if !regexp.MustCompile(`^ID +APPLICATION +MODEL +CREATED +MESSAGES +TOKENS +BYTES$`).MatchString(rows[0]) {
		t.Errorf("ls header %q", rows[0])
	}
	if want := len(tests[1].want); len(rows) != want+1 {
		t.Errorf("ls table has %d rows, want %d", len(rows)-1, want)
	}
	first := convs[0]
	for _, row := range rows[1:] {
		if strings.HasPrefix(row, first.ID+" ") {
			fields := strings.Fields(row)
			if fields[1] != first.Application || fields[2] != first.Model || fields[3] != first.CreatedAt.UTC().Format("2006-01-02T15:04:05Z") ||
				fields[4] != fmt.Sprint(len(first.Messages)) {
				t.Errorf("ls row %q does not describe %s", row, first.ID)
			}
		}
	}
	r := s.run("", "ls", "--limit", "2")
	if !strings.Contains(r.stderr, "next cursor: ") || r.code != 0 {
		t.Errorf("ls --limit 2 printed no next cursor: %v", r)
	}
	if r := s.run("", "ls", "--cursor", "!!!"); r.code != 1 || !strings.Contains(r.stderr, "cursor") {
		t.Errorf("ls with a bad cursor: %v", r)
	}
}

func TestStatsGCVerify(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	_, lines := demoJSONL(t, 31, 6)
	s.ok("import", writeFile(t, "demo.jsonl", []byte(strings.Join(lines, "\n"))))

	// A conversation whose long message is its own: its segments are used by nothing else.
	var words []string
	for i := range 3000 {
		words = append(words, fmt.Sprintf("w%dx%d", i*7919%10007, i%13))
	}
	unique := conv(`"id":"unique-1",`, `{"role":"user","content":"`+strings.Join(words, " ")+`"}`)
	s.ok("put", writeFile(t, "unique.json", []byte(unique)))

	before := s.stats()
	if before.Conversations != int64(len(lines))+1 || before.Tokens == 0 || before.Segments == 0 ||
		before.StoredBytes != before.SegmentBytes+before.ManifestBytes+before.ModelBytes+before.CatalogBytes+before.RefBytes ||
		before.CatalogBytes == 0 || before.RefBytes == 0 {
		t.Fatalf("stats after import: %+v", before)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(s.ok("stats", "--json")), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"bytes_per_token", "undeduped_bytes", "dedup_saving", "requests", "cost"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("stats --json lacks %q: %v", k, raw)
		}
	}
	// Without --references, the reference items are not read (on DynamoDB they take Scans).
	if _, ok := raw["reference_bytes"]; ok || raw["stored_bytes"] != float64(before.StoredBytes-before.RefBytes) {
		t.Errorf("stats --json without --references: reference_bytes %v, stored_bytes %v; want none and %d",
			raw["reference_bytes"], raw["stored_bytes"], before.StoredBytes-before.RefBytes)
	}
	if text := s.ok("stats"); !strings.Contains(text, "conversations          "+formatCount(before.Conversations)) {
		t.Errorf("stats table:\n%s", text)
	}

	verify := func() {
		t.Helper()
		r := s.run("", "verify", "--json")
		var rep struct {
			OK        bool `json:"ok"`
			Manifests int  `json:"manifests"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || !rep.OK {
			t.Fatalf("verify --json on a healthy store: %v (%v)", r, err)
		}
		if text := s.ok("verify"); !strings.Contains(text, "OK: every stored conversation is intact") {
			t.Errorf("verify:\n%s", text)
		}
	}
	verify()

	s.ok("rm", "unique-1")
	gc := func(args ...string) map[string]any {
		t.Helper()
		var rep map[string]any
		out := s.ok(append([]string{"gc", "--json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("gc --json printed %q: %v", out, err)
		}
		return rep
	}
	if rep := gc(); rep["deleted"].(float64) != 0 || rep["too_young"].(float64) == 0 {
		t.Errorf("gc with the default grace of 1h deleted right after rm: %v", rep)
	}
	if rep := gc("--grace", "0s", "--dry-run"); rep["deleted"].(float64) != 0 || !rep["dry_run"].(bool) {
		t.Errorf("gc --dry-run --grace 0s: %v", rep)
	}
	if st := s.stats(); st.Segments != before.Segments {
		t.Errorf("dry run changed the segment count: %d → %d", before.Segments, st.Segments)
	}
	// The conversation's batch was stored moments ago: GC retires a batch only once its
	// writer deadline has passed (vault tests collect with a fake clock), so nothing goes yet.
	rep := gc("--grace", "0s")
	after := s.stats()
	if rep["deleted"].(float64) != 0 || rep["too_young"].(float64) == 0 || after.Segments != before.Segments {
		t.Errorf("gc --grace 0s right after rm: report %v, segments %d → %d; want the batch too young", rep, before.Segments, after.Segments)
	}
	if after.Conversations != before.Conversations-1 {
		t.Errorf("conversations %d → %d", before.Conversations, after.Conversations)
	}
	verify()
	// Everything still there is intact.
	for i, line := range lines {
		if i%4 == 0 {
			var c struct{ ID string }
			json.Unmarshal([]byte(line), &c)
			if got := s.ok("get", c.ID); got != line+"\n" {
				t.Errorf("get %s after gc differs", c.ID)
			}
		}
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	r := s.run("", "demo", "--dir", dir, "--chats", "8", "--seed", "5")
	if r.code != 0 {
		t.Fatalf("demo: %v", r)
	}
	for _, want := range []string{"== import into ", "conversations stored ", "== stats", "deduplication saves", "== stowken get --format text", "### 1 system",
		"DynamoDB table class " + cost.DefaultTableClass + "\n"} { // priced as stats prices a store without a table
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	convs, lines := demoJSONL(t, 5, 8)
	if st := s.stats(); st.Conversations != int64(len(convs)) {
		t.Errorf("demo stored %d conversations, want %d", st.Conversations, len(convs))
	}
	got := s.ok("get", convs[0].ID)
	if got != lines[0]+"\n" {
		t.Errorf("demo conversation %s:\n got %s\nwant %s", convs[0].ID, got, lines[0])
	}
	// Again: all already present.
	r = s.run("", "demo", "--chats", "8", "--seed", "5")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("already present        %d\n", len(convs))) {
		t.Errorf("second demo: %v", r)
	}
}

// failingWriter fails every write, like standard output on a full disk.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// A command whose output cannot be written fails, whichever command it is.
func TestStdoutWriteErrorFails(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--store", dir, "init"}, strings.NewReader(""), io.Discard, &stderr); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr.String())
	}
	for _, args := range [][]string{{"stats"}, {"verify"}, {"gc"}} {
		stderr.Reset()
		code := run(context.Background(), append([]string{"--store", dir}, args...), strings.NewReader(""), failingWriter{}, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "writing to standard output") {
			t.Errorf("%v with a failing stdout: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

// importFive imports conversations c0 to c4 into s.
func importFive(t *testing.T, s *store) {
	t.Helper()
	var lines []string
	for i := range 5 {
		lines = append(lines, fmt.Sprintf(`{"id":"c%d","tokenizer":"cl100k_base","messages":[{"role":"user","content":"question %d"}]}`, i, i))
	}
	s.ok("import", writeFile(t, "convs.jsonl", []byte(strings.Join(lines, "\n")+"\n")))
}

// TestCatalogMissing: a store whose catalog is missing (as one written before the catalog was
// kept in the bucket) lists nothing, and ls says what writes it. (Verify's repair of the
// catalog is TestCatalogRepairAfterCrashes in package vault: it needs conversations older than
// the writer deadline.)
func TestCatalogMissing(t *testing.T) {
	s := newStore(t)
	importFive(t, s)
	if r := s.run("", "ls"); r.code != 0 || strings.Contains(r.stderr, "verify --repair") {
		t.Fatalf("ls of a store with its catalog: %v", r)
	}
	if err := os.RemoveAll(filepath.Join(s.dir, "objects", "catalog")); err != nil {
		t.Fatal(err)
	}
	r := s.run("", "ls")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stderr, "stowken verify --repair --min-age 10m") {
		t.Fatalf("ls of a store without its catalog: %v", r)
	}
	if out := s.ok("verify"); !strings.Contains(out, "missing catalog rows   0") {
		t.Fatalf("verify, every conversation younger than the minimum age:\n%s", out)
	}
}

// TestDeletionReported: verify reports a deletion until GC erases it from the catalog.
func TestDeletionReported(t *testing.T) {
	s := newStore(t)
	importFive(t, s)
	s.ok("rm", "c2")
	if out := s.ok("verify"); !strings.Contains(out, "pending deletions      1 catalog rows, the oldest deleted") {
		t.Fatalf("verify after rm:\n%s", out)
	}
	s.ok("gc", "--grace", "0s")
	if out := s.ok("verify"); !strings.Contains(out, "pending deletions      0 catalog rows") {
		t.Fatalf("verify after gc:\n%s", out)
	}
	if got := s.listIDs(); !slices.Equal(got, []string{"c4", "c3", "c1", "c0"}) {
		t.Fatalf("ls after rm and gc: %v", got)
	}
}

// TestMigrateCurrentStore: migrate on a store in the batched layout has nothing to move, says
// so, and changes nothing. (vault.TestMigrate moves a store of the old layout.)
func TestMigrateCurrentStore(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	_, lines := demoJSONL(t, 7, 4)
	s.ok("import", writeFile(t, "demo.jsonl", []byte(strings.Join(lines, "\n"))))
	before := s.stats()
	if out := s.ok("migrate"); !strings.Contains(out, "moved into batches     0") || !strings.Contains(out, "left in the old layout 0") {
		t.Errorf("migrate of a current store:\n%s", out)
	}
	if after := s.stats(); after != before {
		t.Errorf("migrate changed the store: %+v → %+v", before, after)
	}
	if r := s.run("", "migrate", "--batch", "0"); r.code != 2 {
		t.Errorf("migrate --batch 0: %v, want a usage error", r)
	}
}
