package export

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Names of the registered formats, as Lookup and the CLI's --format take them.
const (
	FormatJSONL    = "jsonl"
	FormatMegatron = "megatron"
	FormatOpenAI   = "openai"
	FormatParquet  = "parquet"
)

// formats is the registry: every export format, in name order. Adding a format is one entry
// here; the format's writer lives in a file of its own.
var formats = []Format{
	{
		Name:        FormatJSONL,
		Description: `the normalized JSONL "stowken import" reads (byte-identical round trip)`,
		Kind:        Stream,
		NewStream:   NewJSONL,
	},
	{
		Name:          FormatMegatron,
		Description:   "Megatron-LM indexed dataset of token ids: a document per conversation, one tokenizer",
		Kind:          FileSet,
		Suffixes:      []string{MegatronBinSuffix, MegatronIdxSuffix},
		CreateFileSet: createMegatronFileSet,
	},
	{
		Name:        FormatOpenAI,
		Description: `OpenAI chat fine-tuning JSONL: {"messages": [...]} per line, with tool calls`,
		Kind:        Stream,
		NewStream:   NewOpenAI,
	},
	{
		Name:        FormatParquet,
		Description: "one Parquet file, a row per conversation with its messages as a list (DuckDB, Athena, Spark, pandas)",
		Kind:        Stream,
		NewStream:   NewParquet,
	},
}

// ErrUnknownFormat is wrapped by the error Lookup returns for a name that no format has.
var ErrUnknownFormat = errors.New("unknown export format")

// Kind is what a format writes, and so what its output is named by.
type Kind int

const (
	// Stream is a format that writes one byte stream, to any io.Writer: a file (see Create)
	// or standard output.
	Stream Kind = iota + 1
	// FileSet is a format that writes several files, named by a prefix and the format's
	// Suffixes, and never to standard output.
	FileSet
)

// String returns "stream" or "file set".
func (k Kind) String() string {
	switch k {
	case Stream:
		return "stream"
	case FileSet:
		return "file set"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// FileSetWriter is a Writer that writes a file set itself (see CreateMegatron): its files
// appear at their paths only when Close succeeds, and Discard removes what was written, leaving
// the paths as they were (after Close it does nothing).
type FileSetWriter interface {
	Writer
	Discard()
}

// Format is an export format: its name, what it writes, and how to make its Writer. Exactly
// one constructor is set, the one of its Kind.
type Format struct {
	// Name is what Lookup finds the format by: lower case, unique.
	Name string
	// Description is one line saying what the format holds, for help texts.
	Description string
	// Kind says what the format writes.
	Kind Kind
	// Suffixes, for a FileSet format, are appended to the prefix to name each of its files, in
	// the order they are listed to users.
	Suffixes []string
	// NewStream, for a Stream format, returns a Writer of the format on w. The Writer's Close
	// flushes what it buffered and does not close w.
	NewStream func(w io.Writer) Writer
	// CreateFileSet, for a FileSet format, returns a Writer of the format that creates its
	// files from prefix (prefix + each of Suffixes).
	CreateFileSet func(prefix string) (FileSetWriter, error)
}

// Formats returns every registered format, in name order.
func Formats() []Format { return slices.Clone(formats) }

// Names returns the names of the registered formats, in name order.
func Names() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Name
	}
	return names
}

// Lookup returns the format called name. Case is ignored (names are registered in lower case,
// and "OpenAI" finds openai); the Format returned carries the registered name. For any other
// name it returns an error wrapping ErrUnknownFormat that lists the known names in order.
func Lookup(name string) (Format, error) {
	for _, f := range formats {
		if strings.EqualFold(f.Name, name) {
			return f, nil
		}
	}
	return Format{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownFormat, name, strings.Join(Names(), ", "))
}
