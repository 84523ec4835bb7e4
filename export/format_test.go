package export

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLookupKnown(t *testing.T) {
	for _, name := range []string{FormatJSONL, FormatMegatron, FormatOpenAI} {
		f, err := Lookup(name)
		if err != nil || f.Name != name {
			t.Errorf("Lookup(%q) = %q, %v", name, f.Name, err)
		}
	}
}

// Lookup ignores case and returns the registered (lower-case) name.
func TestLookupIgnoresCase(t *testing.T) {
	for in, want := range map[string]string{"OpenAI": FormatOpenAI, "JSONL": FormatJSONL, "MegaTron": FormatMegatron} {
		f, err := Lookup(in)
		if err != nil || f.Name != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", in, f.Name, err, want)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"xml", "", " jsonl", "jsonl.gz", "open-ai"} {
		f, err := Lookup(name)
		if !errors.Is(err, ErrUnknownFormat) {
			t.Fatalf("Lookup(%q) = %+v, %v; want ErrUnknownFormat", name, f, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "(known: jsonl, megatron, openai, parquet)") || !strings.Contains(msg, `"`+name+`"`) {
			t.Errorf("Lookup(%q) error %q: want the name and the known names in order", name, msg)
		}
	}
}

// Every registered format is well formed: a unique lower-case name in order, a one-line
// description, and the constructor of its kind and only that one.
func TestRegistry(t *testing.T) {
	fs := Formats()
	if len(fs) == 0 {
		t.Fatal("no formats registered")
	}
	names := Names()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("names %v: want sorted and unique", names)
	}
	for i, f := range fs {
		if f.Name != names[i] || f.Name != strings.ToLower(f.Name) || f.Name == "" {
			t.Errorf("format %d: name %q (Names has %q); want a lower-case name", i, f.Name, names[i])
		}
		if f.Description == "" || strings.ContainsAny(f.Description, "\n\r") {
			t.Errorf("%s: description %q: want one line", f.Name, f.Description)
		}
		switch f.Kind {
		case Stream:
			if f.NewStream == nil || f.CreateFileSet != nil || f.Suffixes != nil {
				t.Errorf("%s: a stream format needs NewStream only", f.Name)
			}
		case FileSet:
			if f.CreateFileSet == nil || f.NewStream != nil || len(f.Suffixes) == 0 {
				t.Errorf("%s: a file-set format needs CreateFileSet and Suffixes only", f.Name)
			}
		default:
			t.Errorf("%s: kind %v", f.Name, f.Kind)
		}
	}
	fs[0].Name = "changed"
	if Names()[0] == "changed" {
		t.Error("changing what Formats returned changed the registry")
	}
}

// Each registered constructor writes exactly what the format's own constructor writes.
func TestRegistryConstructors(t *testing.T) {
	convs := samples(t)
	for name, direct := range map[string]func(io.Writer) Writer{FormatJSONL: NewJSONL, FormatOpenAI: NewOpenAI} {
		f, err := Lookup(name)
		if err != nil || f.Kind != Stream {
			t.Fatalf("Lookup(%q) = %v, %v", name, f.Kind, err)
		}
		var got, want bytes.Buffer
		writeAll(t, f.NewStream(&got), convs)
		writeAll(t, direct(&want), convs)
		if got.Len() == 0 || !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: the registered constructor wrote %d bytes that differ from the %d of the format's own", name, got.Len(), want.Len())
		}
	}

	f, err := Lookup(FormatMegatron)
	if err != nil || f.Kind != FileSet || !slices.Equal(f.Suffixes, []string{MegatronBinSuffix, MegatronIdxSuffix}) {
		t.Fatalf("Lookup(megatron) = %v %v, %v", f.Kind, f.Suffixes, err)
	}
	var bin, idx bytes.Buffer
	writeAll(t, NewMegatron(&bin, &idx), convs)
	prefix := filepath.Join(t.TempDir(), "ds")
	w, err := f.CreateFileSet(prefix)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, convs)
	for suffix, want := range map[string][]byte{MegatronBinSuffix: bin.Bytes(), MegatronIdxSuffix: idx.Bytes()} {
		if got, err := os.ReadFile(prefix + suffix); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (%v), want the %d NewMegatron writes", suffix, len(got), err, len(want))
		}
	}

	// Discard leaves nothing behind.
	prefix = filepath.Join(t.TempDir(), "gone")
	if w, err = f.CreateFileSet(prefix); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(convs[0]); err != nil {
		t.Fatal(err)
	}
	w.Discard()
	if left, _ := os.ReadDir(filepath.Dir(prefix)); len(left) != 0 {
		t.Errorf("Discard left %d files", len(left))
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Stream: "stream", FileSet: "file set", 0: "Kind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
