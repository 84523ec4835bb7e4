package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stowken/stowken/analyze"
	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/export"
	"github.com/stowken/stowken/internal/progress"
	"github.com/stowken/stowken/neardup"
	"github.com/stowken/stowken/vault"
)

var exportCommand = &command{
	name:    "export",
	summary: "write the conversations matching filters in a format: " + strings.Join(export.Names(), ", "),
	doc:     exportDoc(),
	run:     runExport,
}

// exportDoc returns the export command's description, listing the formats of the registry.
func exportDoc() string {
	var b strings.Builder
	b.WriteString(`Writes every stored conversation that the filters select (the same as "stowken ls": --app,
--model, --tokenizer, --since, --until, --meta; newest first, --oldest for oldest first) in
one of these formats (docs/export.md has the details):

`)
	width := 0
	for _, f := range export.Formats() {
		width = max(width, len(f.Name))
	}
	for _, f := range export.Formats() {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, f.Name, f.Description)
		if f.Kind == export.FileSet {
			fmt.Fprintf(&b, "  %-*s  writes %s (-o PREFIX)\n", width, "", fileSetNames(f))
		}
	}
	b.WriteString(`
-o names the output: a file (gzip-compressed when it ends in .gz), "-" for stdout (the
default; not for a format that writes a file set, whose -o is the PREFIX). Conversations are
read in batches, in parallel, so that segments they share (a system prompt, packs) are read
once. On a terminal a progress line is drawn on stderr; a summary follows on stderr.

OpenAI's fine-tuning API refuses a whole training file for one bad example, so --format openai
checks every conversation against the rules of its chat format (docs/export.md lists them) and
skips those that break one: nothing of them is written, and the summary counts them by reason
(no_assistant_message, empty_assistant_message, tool_message_without_call, too_many_tokens,
...), each conversation once per reason. --keep-invalid writes them too, still counted;
--max-tokens sets the token limit of an example. Both are usage errors with another format,
which writes every conversation as it was stored. Token ids that are special tokens (such as
<|endoftext|>) are written as their literal text, which re-tokenizes to other ids: a warning
counts the messages that held them.

--dedup near leaves out every conversation that is a near-duplicate of one exported before it
(the groups of "stowken dups", whose first member is kept: the newest, or the oldest with
--oldest); it reads every selected conversation once more to compare them.

--json prints the summary as one JSON object instead: format, output, exported, invalid
(conversations that break a rule), skipped, reasons (conversations per reason),
special_token_messages, special_tokens, near_duplicates, elapsed_seconds and requests. It goes to stdout, as the
--json of the other commands, unless the export itself does (-o -): then to stderr. Skipped
conversations do not change the exit status.`)
	return b.String()
}

// fileSetNames returns the files a FileSet format writes, as "PREFIX.bin and PREFIX.idx".
func fileSetNames(f export.Format) string {
	names := make([]string, len(f.Suffixes))
	for i, s := range f.Suffixes {
		names[i] = "PREFIX" + s
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// outputUsage returns the usage of -o: a file or stdout, or the prefix of each file-set format.
func outputUsage() string {
	usage := "output `FILE` (.gz: gzip), - for stdout"
	for _, f := range export.Formats() {
		if f.Kind == export.FileSet {
			usage += fmt.Sprintf("; for %s the PREFIX of %s", f.Name, fileSetNames(f))
		}
	}
	return usage
}

// exportBatch is how many conversations the export retrieves at once.
const exportBatch = 256

func runExport(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	var f filterFlags
	f.register(fs)
	formatName := fs.String("format", export.FormatOpenAI, "output `FORMAT`: "+strings.Join(export.Names(), ", "))
	out := fs.String("o", "-", outputUsage())
	oldest := fs.Bool("oldest", false, "oldest first")
	limit := fs.Int("limit", 0, "export at most `N` conversations (0: all)")
	keepInvalid := fs.Bool("keep-invalid", false, "openai: also write the conversations the fine-tuning API would refuse")
	maxTokens := fs.Int("max-tokens", export.DefaultMaxFineTuningTokens, "openai: skip conversations of more than `N` tokens, as the cookbook counts them (0: no limit)")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object (on stdout unless the export goes there)")
	dedup := fs.String("dedup", "", "near: keep one conversation of each group of near-duplicates (as stowken dups finds them)")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("export takes no arguments (filters are flags)")
	}
	format, err := export.Lookup(*formatName)
	if err != nil {
		return usageErrorf("--format: %v", err)
	}
	if format.Kind == export.FileSet && (*out == "-" || *out == "") {
		return usageErrorf("--format %s writes %s: give -o PREFIX", format.Name, fileSetNames(format))
	}
	if *limit < 0 {
		return usageErrorf("--limit must not be negative")
	}
	var check *fineTuningCheck
	if format.Name == export.FormatOpenAI {
		if *maxTokens < 0 {
			return usageErrorf("--max-tokens must not be negative")
		}
		check = &fineTuningCheck{maxTokens: *maxTokens, keep: *keepInvalid, reasons: map[string]int{}}
	} else if name := flagGiven(fs, "keep-invalid", "max-tokens"); name != "" {
		return usageErrorf("--%s applies to --format openai only", name)
	}
	if *dedup != "" && *dedup != "near" {
		return usageErrorf("--dedup takes near, not %q", *dedup)
	}
	q := f.query()
	q.Oldest = *oldest
	return e.withVault(ctx, readOnly, func(v *vault.Vault) error {
		start := time.Now()
		// The ids first (from the catalog), so that progress knows the total.
		var ids []string
		errEnough := fmt.Errorf("enough")
		err := v.ListAll(ctx, q, func(en catalog.Entry) error {
			if *limit > 0 && len(ids) == *limit {
				return errEnough
			}
			ids = append(ids, en.ID)
			return nil
		})
		if err != nil && err != errEnough {
			return err
		}
		var duplicates int
		if *dedup == "near" {
			if ids, duplicates, err = dedupNear(ctx, e, v, &f, *oldest, ids); err != nil {
				return err
			}
		}
		w, finish, discard, err := openExport(e, format, *out)
		if err != nil {
			return err
		}
		bar := progress.New(e.stderr, int64(len(ids)), "export")
		written, err := writeExport(ctx, v, w, ids, check, bar)
		bar.Done()
		if err != nil {
			discard()
			return err
		}
		if err := finish(); err != nil {
			return err
		}
		sum := exportSummary{Format: format.Name, Output: *out, Exported: written, Reasons: map[string]int{},
			NearDuplicates: duplicates, ElapsedSec: time.Since(start).Seconds(), Requests: v.Usage()}
		if check != nil {
			sum.Invalid, sum.Reasons = check.invalid, check.reasons
			if !check.keep {
				sum.Skipped = check.invalid
			}
		}
		if ow, ok := w.(*export.OpenAIWriter); ok {
			special := ow.SpecialTokens()
			sum.SpecialTokenMessages, sum.SpecialTokens, sum.specialExample = special.Messages, special.Tokens, special.Example
		}
		if *asJSON {
			dst := e.stdout
			if *out == "-" {
				dst = e.stderr
			}
			return writeJSON(dst, sum)
		}
		sum.print(e.stderr)
		return nil
	})
}

// flagGiven returns the first of names given on the command line, or "".
func flagGiven(fs *flag.FlagSet, names ...string) string {
	given := ""
	fs.Visit(func(f *flag.Flag) {
		if given == "" && slices.Contains(names, f.Name) {
			given = f.Name
		}
	})
	return given
}

// exportSummary is what an export did, in its --json form.
type exportSummary struct {
	Format   string `json:"format"`
	Output   string `json:"output"`
	Exported int    `json:"exported"`
	// Invalid counts the conversations that break a rule of the fine-tuning format (openai only),
	// Skipped those of them not written (all but with --keep-invalid), and Reasons the
	// conversations per reason.
	Invalid int            `json:"invalid"`
	Skipped int            `json:"skipped"`
	Reasons map[string]int `json:"reasons"`
	// SpecialTokenMessages counts the messages written whose token ids held special tokens,
	// SpecialTokens those tokens (openai only).
	SpecialTokenMessages int `json:"special_token_messages"`
	SpecialTokens        int `json:"special_tokens"`
	// NearDuplicates counts the conversations left out as near-duplicates of one exported
	// (--dedup near).
	NearDuplicates int        `json:"near_duplicates"`
	ElapsedSec     float64    `json:"elapsed_seconds"`
	Requests       cost.Usage `json:"requests"`
	specialExample string     // the text of a special token written, for the warning
}

// print writes the summary for people: what was exported, the conversations the fine-tuning API
// would refuse by reason, and a warning about special tokens.
func (s *exportSummary) print(w io.Writer) {
	elapsed := time.Duration(s.ElapsedSec * float64(time.Second))
	fmt.Fprintf(w, "exported %d conversations as %s to %s in %s; %s\n", s.Exported, s.Format, s.Output,
		elapsed.Round(time.Millisecond), formatUsage(s.Requests))
	if s.Invalid > 0 {
		verb := "skipped"
		if s.Skipped == 0 {
			verb = "wrote"
		}
		fmt.Fprintf(w, "%s %d conversations the fine-tuning API would refuse: %s\n", verb, s.Invalid, formatReasons(s.Reasons))
	}
	if s.NearDuplicates > 0 {
		fmt.Fprintf(w, "left out %d near-duplicates of conversations exported\n", s.NearDuplicates)
	}
	if s.SpecialTokenMessages > 0 {
		fmt.Fprintf(w, "warning: %d messages held %d special tokens (e.g. %s), written as literal text: re-tokenizing the export gives other ids\n",
			s.SpecialTokenMessages, s.SpecialTokens, s.specialExample)
	}
}

// dedupNear returns ids without the near-duplicates of an earlier one (analyze.Dups, as stowken
// dups finds them, in the export's order), and how many it left out. It reads the signatures
// of the catalog's rows, and the conversations whose rows have none.
func dedupNear(ctx context.Context, e *env, v *vault.Vault, f *filterFlags, oldest bool, ids []string) ([]string, int, error) {
	opts, done := analysisOptions(e, f, !oldest, 0)
	res, err := analyze.Dups(ctx, v, opts, neardup.DefaultParams(), skipRoles(false))
	done()
	if err != nil {
		return nil, 0, err
	}
	drop := map[string]bool{}
	for _, g := range res.Groups {
		for _, id := range g.IDs[1:] {
			drop[id] = true
		}
	}
	kept := slices.DeleteFunc(ids, func(id string) bool { return drop[id] })
	return kept, len(drop), nil
}

// formatReasons lists the counts by reason, most frequent first: "no_assistant_message 22,
// empty_assistant_message 8".
func formatReasons(reasons map[string]int) string {
	names := slices.Collect(maps.Keys(reasons))
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(reasons[b], reasons[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %d", name, reasons[name])
	}
	return strings.Join(parts, ", ")
}

// fineTuningCheck checks the conversations of an openai export with export.CheckFineTuning and
// counts those that break a rule.
type fineTuningCheck struct {
	maxTokens int
	keep      bool           // write the conversations that break a rule too
	invalid   int            // conversations that break a rule
	reasons   map[string]int // conversations per reason
}

// admit checks c, counts its problems, and reports whether it is to be written.
func (f *fineTuningCheck) admit(c *conversation.Conversation) (bool, error) {
	problems, err := export.CheckFineTuning(c, f.maxTokens)
	if err != nil {
		return false, fmt.Errorf("conversation %q: %w", c.ID, err)
	}
	if len(problems) == 0 {
		return true, nil
	}
	f.invalid++
	seen := map[string]bool{}
	for _, p := range problems {
		if !seen[p.Reason] {
			seen[p.Reason] = true
			f.reasons[p.Reason]++
		}
	}
	return f.keep, nil
}

// openExport returns the format's writer on the output, the function that finishes both (a
// file output then appears at its path), and the one that abandons them after a failure (a
// file output then leaves its path as it was; what was written to stdout stays written).
func openExport(e *env, format export.Format, out string) (w export.Writer, finish func() error, discard func(), err error) {
	switch format.Kind {
	case export.FileSet:
		m, err := format.CreateFileSet(out)
		if err != nil {
			return nil, nil, nil, err
		}
		return m, m.Close, m.Discard, nil
	case export.Stream:
		var dst io.Writer = e.stdout
		closeDst, discard := func() error { return nil }, func() {}
		if out != "-" {
			f, err := export.Create(out)
			if err != nil {
				return nil, nil, nil, err
			}
			dst, closeDst, discard = f, f.Close, f.Discard
		}
		w = format.NewStream(dst)
		finish = func() error {
			if err := w.Close(); err != nil {
				discard()
				return err
			}
			return closeDst()
		}
		return w, finish, discard, nil
	}
	return nil, nil, nil, fmt.Errorf("export format %s: output kind %v is not supported", format.Name, format.Kind)
}

// writeExport retrieves the conversations in batches and writes them in order, those that check
// (when not nil) admits. A conversation deleted since it was listed is skipped; any other
// failure stops the export.
func writeExport(ctx context.Context, v *vault.Vault, w export.Writer, ids []string, check *fineTuningCheck, bar *progress.Reporter) (written int, err error) {
	for len(ids) > 0 {
		batch := ids[:min(exportBatch, len(ids))]
		ids = ids[len(batch):]
		convs, errs := v.RetrieveBatch(ctx, batch)
		for i, c := range convs {
			if errs[i] != nil {
				if errors.Is(errs[i], vault.ErrNotFound) {
					continue
				}
				return written, errs[i]
			}
			if check != nil {
				ok, err := check.admit(c)
				if err != nil {
					return written, err
				}
				if !ok {
					continue
				}
			}
			if err := w.Write(c); err != nil {
				return written, err
			}
			written++
		}
		bar.Add(int64(len(batch)))
	}
	return written, nil
}
