package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/export"
	"github.com/stowken/stowken/internal/progress"
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
once. On a terminal a progress line is drawn on stderr; a summary follows on stderr.`)
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
		w, finish, discard, err := openExport(e, format, *out)
		if err != nil {
			return err
		}
		bar := progress.New(e.stderr, int64(len(ids)), "export")
		written, err := writeExport(ctx, v, w, ids, bar)
		bar.Done()
		if err != nil {
			discard()
			return err
		}
		if err := finish(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "exported %d conversations as %s to %s in %s; %s\n",
			written, format.Name, *out, time.Since(start).Round(time.Millisecond), formatUsage(v.Usage()))
		return nil
	})
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

// writeExport retrieves the conversations in batches and writes them in order. A conversation
// deleted since it was listed is skipped; any other failure stops the export.
func writeExport(ctx context.Context, v *vault.Vault, w export.Writer, ids []string, bar *progress.Reporter) (written int, err error) {
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
			if err := w.Write(c); err != nil {
				return written, err
			}
			written++
		}
		bar.Add(int64(len(batch)))
	}
	return written, nil
}
