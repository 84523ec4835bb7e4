package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/export"
	"github.com/stowken/stowken/internal/progress"
	"github.com/stowken/stowken/vault"
)

var exportCommand = &command{
	name:    "export",
	summary: "write the conversations matching filters as fine-tuning JSONL, JSONL or token ids",
	doc: `Writes every stored conversation that the filters select (the same as "stowken ls": --app,
--model, --tokenizer, --since, --until, --meta; newest first, --oldest for oldest first) in
one of three formats (docs/export.md has the details):

  openai    OpenAI chat fine-tuning JSONL: {"messages": [...]} per line, with tool calls
  jsonl     the normalized JSONL "stowken import" reads (byte-identical round trip)
  megatron  token ids as a Megatron-LM indexed dataset: PREFIX.bin and PREFIX.idx, one
            document per conversation (all must share one tokenizer)

-o names the output: a file (gzip-compressed when it ends in .gz), "-" for stdout (the
default; not for megatron, whose -o is the PREFIX). Conversations are read in batches, in
parallel, so that segments they share (a system prompt, packs) are read once. On a terminal
a progress line is drawn on stderr; a summary follows on stderr.`,
	run: runExport,
}

// exportBatch is how many conversations the export retrieves at once.
const exportBatch = 256

func runExport(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	var f filterFlags
	f.register(fs)
	format := fs.String("format", export.FormatOpenAI, "output `FORMAT`: "+strings.Join(export.Names(), ", "))
	out := fs.String("o", "-", "output `FILE` (.gz: gzip), - for stdout; for megatron the PREFIX of PREFIX.bin and PREFIX.idx")
	oldest := fs.Bool("oldest", false, "oldest first")
	limit := fs.Int("limit", 0, "export at most `N` conversations (0: all)")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("export takes no arguments (filters are flags)")
	}
	if !slices.Contains(export.Names(), *format) {
		return usageErrorf("--format %q: want %s", *format, strings.Join(export.Names(), ", "))
	}
	if *format == export.FormatMegatron && (*out == "-" || *out == "") {
		return usageErrorf("--format megatron writes PREFIX.bin and PREFIX.idx: give -o PREFIX")
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
		w, finish, discard, err := openExport(e, *format, *out)
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
		rq := v.Requests()
		fmt.Fprintf(e.stderr, "exported %d conversations as %s to %s in %s; S3: %d GET, %d LIST; refs: %d reads\n",
			written, *format, *out, time.Since(start).Round(time.Millisecond), rq.S3Gets, rq.S3Lists, rq.RefsReads)
		return nil
	})
}

// openExport returns the format's writer on the output, the function that finishes both (a
// file output then appears at its path), and the one that abandons them after a failure (a
// file output then leaves its path as it was; what was written to stdout stays written).
func openExport(e *env, format, out string) (w export.Writer, finish func() error, discard func(), err error) {
	if format == export.FormatMegatron {
		m, err := export.CreateMegatron(out)
		if err != nil {
			return nil, nil, nil, err
		}
		return m, m.Close, m.Discard, nil
	}
	var dst io.Writer = e.stdout
	closeDst, discard := func() error { return nil }, func() {}
	if out != "-" {
		f, err := export.Create(out)
		if err != nil {
			return nil, nil, nil, err
		}
		dst, closeDst, discard = f, f.Close, f.Discard
	}
	if format == export.FormatJSONL {
		w = export.NewJSONL(dst)
	} else {
		w = export.NewOpenAI(dst)
	}
	finish = func() error {
		if err := w.Close(); err != nil {
			discard()
			return err
		}
		return closeDst()
	}
	return w, finish, discard, nil
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
