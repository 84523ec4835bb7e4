package conversation

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stowken/stowken/internal/corpus"
)

func TestParseMarshalExact(t *testing.T) {
	lines := []string{
		`{"id":"a","application":"app","model":"m","tokenizer":"cl100k_base","messages":[{"role":"user","content":"héllo <b>&</b>"}],"metadata":{"z":1,"a":[true,null]}}`,
		`{"id":"b","application":"","model":"","tokenizer":"o200k_base","messages":[{"role":"assistant","content":"","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"x\": 1}"}}]},{"role":"tool","content":"42","name":"f","tool_call_id":"c"}]}`,
		`{"id":"c","application":"","model":"","tokenizer":"p50k_base","created_at":"2026-11-25T10:00:00.5Z","messages":[{"role":"developer","tokens":[1,2,3]},{"role":"assistant","content":null},{"role":"user","tokens":[]}]}`,
		// U+2028 and U+2029 as characters; a backslash before "u2028" as text; the escape in
		// metadata, which is kept as it was given.
		"{\"id\":\"d\",\"application\":\"\",\"model\":\"\",\"tokenizer\":\"cl100k_base\",\"messages\":[{\"role\":\"user\",\"content\":\"a\u2028b\u2029c \\\\u2028 \\\\\u2028\"}],\"metadata\":{\"k\":\"\\u2028\u2028\"}}",
	}
	for _, line := range lines {
		c, err := Parse([]byte(line))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != line {
			t.Errorf("not byte-exact:\n in: %s\nout: %s", line, out)
		}
	}
}

func TestParseRejects(t *testing.T) {
	base := `{"id":"a","application":"","model":"","tokenizer":"cl100k_base","messages":[{"role":"user","content":"hi"}]}`
	cases := map[string]string{
		"malformed":               `{"id":"a",`,
		"truncated":               base[:len(base)-3],
		"not an object":           `[1,2]`,
		"content as number":       strings.Replace(base, `"content":"hi"`, `"content":5`, 1),
		"messages as object":      strings.Replace(base, `"messages":[{"role":"user","content":"hi"}]`, `"messages":{}`, 1),
		"unknown field":           strings.Replace(base, `"id":"a"`, `"id":"a","colour":"red"`, 1),
		"unknown role":            strings.Replace(base, `"user"`, `"robot"`, 1),
		"content and tokens":      strings.Replace(base, `"content":"hi"`, `"content":"hi","tokens":[1]`, 1),
		"empty id":                strings.Replace(base, `"id":"a"`, `"id":""`, 1),
		"id with slash":           strings.Replace(base, `"id":"a"`, `"id":"a/b"`, 1),
		"id with dotdot":          strings.Replace(base, `"id":"a"`, `"id":"..x"`, 1),
		"id with control":         strings.Replace(base, `"id":"a"`, `"id":"a\u0007"`, 1),
		"id too long":             strings.Replace(base, `"id":"a"`, `"id":"`+strings.Repeat("x", 513)+`"`, 1),
		"no tokenizer":            strings.Replace(base, `"tokenizer":"cl100k_base"`, `"tokenizer":""`, 1),
		"metadata not object":     strings.Replace(base, `"messages"`, `"metadata":[1],"messages"`, 1),
		"bad created_at":          strings.Replace(base, `"messages"`, `"created_at":"yesterday","messages"`, 1),
		"trailing data":           base + `{}`,
		"token as string":         strings.Replace(base, `"content":"hi"`, `"tokens":["1"]`, 1),
		"invalid UTF-8":           strings.Replace(base, `"hi"`, "\"h\xffi\"", 1),
		"lone high surrogate":     strings.Replace(base, `"hi"`, `"h\ud800i"`, 1),
		"lone low surrogate":      strings.Replace(base, `"hi"`, `"h\udc00i"`, 1),
		"surrogate in metadata":   strings.Replace(base, `"messages"`, `"metadata":{"k":"\ud83d"},"messages"`, 1),
		"null content and tokens": strings.Replace(base, `"content":"hi"`, `"content":null,"tokens":[1]`, 1),
		"key in another case":     strings.Replace(base, `"role"`, `"ROLE"`, 1),
		"nested key in another case": strings.Replace(base, `"content":"hi"`,
			`"content":"","tool_calls":[{"id":"c","type":"function","function":{"Name":"f","arguments":"{}"}}]`, 1),
		"repeated key":         strings.Replace(base, `"id":"a"`, `"id":"a","id":"b"`, 1),
		"repeated message key": strings.Replace(base, `"content":"hi"`, `"content":"hi","content":"ho"`, 1),
	}
	for name, line := range cases {
		if _, err := Parse([]byte(line)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// Escaped text that is valid Unicode is accepted, and written back as characters.
func TestParseEscapes(t *testing.T) {
	line := `{"id":"e","application":"","model":"","tokenizer":"cl100k_base","messages":[{"role":"user","content":"\ud83d\ude00 \\ud800 \u00e9"}]}`
	c, err := Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := "\U0001F600 \\ud800 é"; c.Messages[0].Content != want {
		t.Fatalf("content %q, want %q", c.Messages[0].Content, want)
	}
}

func TestValidIDs(t *testing.T) {
	good := []string{"a", "conv#3", "x y z?:=&", "日本語-会話", strings.Repeat("é", 256), "a.b", ".x"}
	for _, id := range good {
		if err := ValidateID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	bad := []string{"", ".", "a/b", "..", "a..b", "a\nb", "a\x00b", "a\\b", strings.Repeat("x", 513), "\xff"}
	for _, id := range bad {
		if err := ValidateID(id); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted", id)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"a","application":"","model":"","tokenizer":"cl100k_base","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"tokenizer":"x","messages":[{"role":"tool","tokens":[1,2]}],"metadata":{"a":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Parse(out)
		if err != nil {
			t.Fatalf("marshalled form does not parse: %v\n%s", err, out)
		}
		out2, _ := Marshal(c2)
		if string(out) != string(out2) {
			t.Fatalf("marshal is not stable:\n%s\n%s", out, out2)
		}
	})
}

// Every line of the shared corpora comes back byte-for-byte from Parse and Marshal.
func TestCorpusByteExact(t *testing.T) {
	files := corpus.Glob(t, "chat/*.jsonl.gz")
	files = append(files, corpus.Path(t, "api-replay.jsonl.gz"), corpus.Path(t, "sample.jsonl"))
	for _, path := range files {
		err := corpus.Lines(path, func(line []byte, n int) error {
			c, err := Parse(line)
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			if out, err := Marshal(c); err != nil || !bytes.Equal(out, line) {
				return fmt.Errorf("line %d (%s) does not come back byte-for-byte (%v)", n, c.ID, err)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
