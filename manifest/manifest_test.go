package manifest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func sample() *Manifest {
	return &Manifest{
		SchemaVersion: SchemaVersion, ID: "conv-1", Nonce: "0123456789abcdef", Tokenizer: "cl100k_base",
		Application: "app", StoredAt: 1764000000000, Metadata: []byte(`{"k":"v"}`),
		Messages: []Message{{Role: "system", Tokens: 300}, {Role: "user", Tokens: 5, Name: "n"},
			{Role: "assistant", ToolCalls: []ToolCall{{ID: "c1", Type: "function", Name: "f", Arguments: `{"x":1}`}}}},
		Chunks: []Chunk{{Segment: strings.Repeat("ab", 32), Tokens: 300}, {Tokens: 5}},
		Inline: []int{1, 2, 3, 100_000, 0},
		Totals: Totals{Tokens: 305, SegmentBytes: 400},
	}
}

func TestRoundTrip(t *testing.T) {
	e, err := NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	e.AddDict(40000, []byte(`{"schema_version":1,"messages":[{"role":"user","tokens":`))
	for _, dict := range []uint32{0, 40000} {
		data, err := e.Encode(sample(), dict)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, sample()) {
			t.Fatalf("dict %d: got %+v", dict, got)
		}
	}
}

func TestRejects(t *testing.T) {
	e, _ := NewEncoder()
	good, _ := e.Encode(sample(), 0)
	payload, _ := Payload(sample())
	js, _, _ := strings.Cut(string(payload), "\n")
	cases := map[string]struct {
		data []byte
		want error
	}{
		"newer version":   {[]byte(`{"schema_version":2}`), ErrNewerVersion},
		"zero version":    {[]byte(`{"schema_version":0}`), ErrInvalid},
		"not json":        {[]byte(`hello`), ErrInvalid},
		"truncated zstd":  {good[:len(good)-3], ErrInvalid},
		"unknown field":   {[]byte(strings.Replace(js, `"id"`, `"surprise":1,"id"`, 1)), ErrInvalid},
		"missing inline":  {[]byte(js), ErrInvalid},
		"bad segment id":  {[]byte(strings.Replace(string(payload), strings.Repeat("ab", 32), "abc", 1)), ErrInvalid},
		"token mismatch":  {[]byte(strings.Replace(string(payload), `"tokens":305`, `"tokens":306`, 1)), ErrInvalid},
		"id with slash":   {[]byte(strings.Replace(string(payload), `"conv-1"`, `"a/b"`, 1)), ErrInvalid},
		"trailing object": {[]byte(strings.Replace(string(payload), "\n", "{}\n", 1)), ErrInvalid},
	}
	for name, c := range cases {
		if _, err := e.Decode(c.data); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x10
	if _, err := e.Decode(flipped); err == nil {
		t.Error("a flipped byte went unnoticed")
	}
}

func FuzzDecode(f *testing.F) {
	e, _ := NewEncoder()
	good, _ := e.Encode(sample(), 0)
	payload, _ := Payload(sample())
	f.Add(good)
	f.Add(payload)
	f.Add([]byte(`{"schema_version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := e.Decode(data)
		if err != nil {
			return
		}
		again, err := e.Encode(m, 0)
		if err != nil {
			t.Fatalf("a manifest that decoded does not encode: %v", err)
		}
		if _, err := e.Decode(again); err != nil {
			t.Fatalf("re-encoded manifest does not decode: %v", err)
		}
	})
}

// TestKey: short ids are used as they are; a long id is cut at a character boundary and named
// by its hash, so two long ids with one start get two keys, each short enough for a file name.
func TestKey(t *testing.T) {
	if k := Key("conv-1"); k != "manifests/conv-1.json.zst" {
		t.Fatalf("Key(conv-1) = %s", k)
	}
	a, b := strings.Repeat("é", 200)+"a", strings.Repeat("é", 200)+"b"
	ka, kb := Key(a), Key(b)
	if ka == kb || !strings.HasPrefix(ka, Prefix) || !strings.HasSuffix(ka, Suffix) || !utf8.ValidString(ka) {
		t.Fatalf("long ids: %q, %q", ka, kb)
	}
	if name := strings.TrimPrefix(ka, Prefix); len(name) > 255 {
		t.Fatalf("file name of %d bytes", len(name))
	}
}
