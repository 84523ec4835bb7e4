package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/vault"
)

var importCommand = &command{
	name:    "import",
	args:    "FILE...",
	summary: "store the conversations of JSONL files (plain or gzip), concurrently",
	doc: `Stores every conversation of the given JSONL files, one JSON object per line in the
normalized format (see "stowken put --help"). Files may be gzip-compressed (recognised by their
content, whatever their name); "-" reads standard input. Lines are streamed, up to 256 MiB each,
and stored by --concurrency workers. Empty lines are skipped.

A bad line is reported on stderr as FILE:LINE: error and skipped; the other lines are stored,
and the exit status is 1. Conversations already stored are counted as already present.

On a terminal, a progress line is drawn on stderr. At the end a summary is printed: the
conversations stored, already present and failed, tokens, new segments, bytes added, bytes per
token, the elapsed time and the requests the import made to the store.`,
	run: runImport,
}

func runImport(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	concurrency := fs.Int("concurrency", defaultConcurrency, "parse `N` lines in parallel (conversations are stored in batches of 256, in parallel)")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	files, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageErrorf("import wants at least one FILE (or - for standard input)")
	}
	if *concurrency < 1 {
		return usageErrorf("--concurrency must be at least 1")
	}
	if _, err := e.location(); err != nil {
		return err
	}
	var v *vault.Vault
	open := func(ctx context.Context) (*vault.Vault, error) {
		var err error
		v, err = e.open(ctx, create)
		return v, err
	}
	sum := importFiles(ctx, open, files, importConfig{Concurrency: *concurrency, Progress: e.progress,
		Stdin: e.stdin, Stderr: e.stderr})
	err = summarize(ctx, e, &sum, *asJSON)
	if v != nil {
		if cerr := v.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}
	return err
}

// summarize prints the import's summary (none when the store could not be opened) and returns
// the error the import ends with.
func summarize(ctx context.Context, e *env, sum *importSummary, asJSON bool) error {
	switch {
	case sum.OpenErr != nil:
	case asJSON:
		if err := writeJSON(e.stdout, sum.jsonForm()); err != nil {
			return err
		}
	default:
		sum.print(e.stdout)
	}
	return sum.err(ctx)
}

// defaultConcurrency is the default number of conversations an import stores in parallel.
const defaultConcurrency = 16

// importConfig configures importFiles.
type importConfig struct {
	Concurrency int
	// Progress draws a progress line on Stderr, about five times a second.
	Progress bool
	// Stdin is read for the file name "-".
	Stdin io.Reader
	// Stderr receives the FILE:LINE reports of bad lines, and the progress line.
	Stderr io.Writer
}

// importSummary is what an import did.
type importSummary struct {
	Stored, Existed, Failed int64
	// FileErrors counts files that could not be opened or read to the end.
	FileErrors int
	// Tokens counts the tokens of the conversations this import stored.
	Tokens      int64
	NewSegments int64
	BytesAdded  int64
	Elapsed     time.Duration
	Usage       cost.Usage
	Canceled    bool
	// OpenErr is why the store could not be opened; the import stopped there.
	OpenErr error
}

// err is the error an import ends with: nil when every line was stored or already present.
func (s *importSummary) err(ctx context.Context) error {
	switch {
	case s.OpenErr != nil:
		return s.OpenErr
	case s.Canceled:
		return fmt.Errorf("import interrupted: %w", context.Cause(ctx))
	case s.FileErrors > 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%d conversations failed and %d files could not be read (see above)", s.Failed, s.FileErrors)}
	case s.Failed > 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%d conversations failed (see above)", s.Failed)}
	}
	return nil
}

// maxBytesInFlight bounds the bytes of the lines read but not yet stored, so that files of
// very long lines do not fill memory. It is at least maxInputBytes, so every line fits.
const maxBytesInFlight = 2 * maxInputBytes

// importBatch is the number of conversations given to one StoreBatch call.
const importBatch = 256

// parsedLine is a parsed conversation (nil when the line was bad) and where it came from.
type parsedLine struct {
	seq  int64
	conv *conversation.Conversation
	file string
	line int
}

// job is one line of an input file; seq numbers the lines of all files in reading order.
type job struct {
	seq  int64
	file string
	line int
	data []byte
}

// importFiles stores the conversations of the JSONL files (gzip or not) with cfg.Concurrency
// workers. Bad lines are reported as FILE:LINE: error on cfg.Stderr and counted as failed. It is
// the pipeline of both "stowken import" and "stowken demo".
//
// The vault is opened with open (called once at most) when the first valid conversation is
// ready to be stored, so that an import whose every line is rejected opens, creates and writes
// nothing. If open fails, the import stops and reports it in OpenErr.
func importFiles(parent context.Context, open func(context.Context) (*vault.Vault, error), files []string, cfg importConfig) importSummary {
	start := time.Now()
	// ctx is also cancelled when the store cannot be opened.
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	var v *vault.Vault
	var before cost.Usage
	var sum importSummary
	var stored, existed, failed, tokens, newSegs, bytesAdded atomic.Int64

	out := &reporter{w: cfg.Stderr}
	fail := func(file string, line int, err error) {
		failed.Add(1)
		out.printf("%s:%d: %v\n", file, line, err)
	}

	jobs := make(chan job, 2*cfg.Concurrency)
	var seq atomic.Int64
	parsed := make(chan parsedLine, importBatch)
	budget := semaphore.NewWeighted(maxBytesInFlight)
	var parsers sync.WaitGroup
	for range max(1, cfg.Concurrency) {
		parsers.Go(func() {
			for j := range jobs {
				if ctx.Err() != nil {
					budget.Release(int64(len(j.data)))
					parsed <- parsedLine{seq: j.seq}
					continue // drain
				}
				conv, err := conversation.Parse(j.data)
				budget.Release(int64(len(j.data)))
				if err != nil {
					fail(j.file, j.line, err)
				}
				parsed <- parsedLine{seq: j.seq, conv: conv, file: j.file, line: j.line}
			}
		})
	}
	go func() {
		parsers.Wait()
		close(parsed)
	}()

	// One storer sends batches to StoreBatch, which works in parallel and packs the small
	// unique parts of the batch's conversations together (see vault.StoreBatch).
	storeBatch := func(batch []parsedLine) {
		if v == nil {
			if sum.OpenErr != nil {
				return
			}
			var err error
			if v, err = open(ctx); err != nil {
				sum.OpenErr = err
				cancel(err)
				return
			}
			before = v.Usage()
		}
		convs := make([]*conversation.Conversation, len(batch))
		for i, p := range batch {
			convs[i] = p.conv
		}
		results, errs := v.StoreBatch(ctx, convs)
		for i, res := range results {
			switch err := errs[i]; {
			case err != nil && ctx.Err() != nil:
				// interrupted: neither stored nor a bad line
			case err != nil:
				fail(batch[i].file, batch[i].line, err)
			case res.Existed:
				existed.Add(1)
			default:
				stored.Add(1)
				tokens.Add(int64(res.Tokens))
				newSegs.Add(int64(res.NewSegments))
				bytesAdded.Add(res.StoredBytes)
			}
		}
	}
	// Batches are cut in reading order, whatever order the parsers finish in, so that importing
	// the same file again forms the same batches and packs, which then already exist.
	storerDone := make(chan struct{})
	go func() {
		defer close(storerDone)
		var batch []parsedLine
		waiting := map[int64]parsedLine{}
		next := int64(0)
		for p := range parsed {
			waiting[p.seq] = p
			for {
				q, ok := waiting[next]
				if !ok {
					break
				}
				delete(waiting, next)
				next++
				if q.conv == nil {
					continue // a bad line, already reported
				}
				if batch = append(batch, q); len(batch) == importBatch {
					storeBatch(batch)
					batch = nil
				}
			}
		}
		if len(batch) > 0 {
			storeBatch(batch)
		}
	}()

	var stopProgress func()
	if cfg.Progress {
		stopProgress = out.progress(start, &stored, &existed, &failed, &tokens)
	}

	for _, name := range files {
		if ctx.Err() != nil {
			break
		}
		if err := readFile(ctx, name, cfg.Stdin, jobs, &seq, budget, fail); err != nil {
			sum.FileErrors++
			out.printf("%s: %v\n", name, err)
		}
	}
	close(jobs)
	<-storerDone
	if stopProgress != nil {
		stopProgress()
	}

	sum.Stored, sum.Existed, sum.Failed = stored.Load(), existed.Load(), failed.Load()
	sum.Tokens, sum.NewSegments, sum.BytesAdded = tokens.Load(), newSegs.Load(), bytesAdded.Load()
	sum.Elapsed = time.Since(start)
	if v != nil {
		sum.Usage = v.Usage().Sub(before)
	}
	sum.Canceled = parent.Err() != nil
	return sum
}

// readFile sends the non-empty lines of one file to jobs, each after taking its size from
// budget (the worker gives it back once the line is parsed). Lines longer than maxInputBytes are
// reported through fail and skipped. It returns an error when the file cannot be opened or read
// to the end.
func readFile(ctx context.Context, name string, stdin io.Reader, jobs chan<- job, seq *atomic.Int64, budget *semaphore.Weighted, fail func(string, int, error)) error {
	var r io.Reader
	if name == "-" {
		r = stdin
		name = "<stdin>"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 1<<20)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		br = bufio.NewReaderSize(gz, 1<<20)
	}
	n := 0
	for {
		line, tooLong, err := readLine(br, maxInputBytes)
		if err != nil && err != io.EOF {
			return fmt.Errorf("after line %d: %w", n, err)
		}
		if err == io.EOF && len(line) == 0 && !tooLong {
			return nil
		}
		n++
		switch {
		case tooLong:
			fail(name, n, fmt.Errorf("line longer than %d MiB", maxInputBytes>>20))
		case len(bytes.TrimSpace(line)) > 0:
			if err := budget.Acquire(ctx, int64(len(line))); err != nil {
				return nil // interrupted
			}
			select {
			case jobs <- job{seq: seq.Add(1) - 1, file: name, line: n, data: line}:
			case <-ctx.Done():
				budget.Release(int64(len(line)))
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine returns the next line without its line ending, in a new slice. A line longer than
// max is read to its end and discarded, and reported with tooLong. err is io.EOF after the
// last line.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > max+2 { // room for "\r\n"
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > max {
			return nil, true, err
		}
		return line, false, err
	}
}

// reporter serialises what the import writes on stderr, and keeps the progress line (when
// there is one) below the messages.
type reporter struct {
	mu       sync.Mutex
	w        io.Writer
	lastLine string // the progress line currently shown, "" when none
}

func (r *reporter) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastLine != "" {
		io.WriteString(r.w, "\r\033[K")
	}
	fmt.Fprintf(r.w, format, args...)
	if r.lastLine != "" {
		io.WriteString(r.w, r.lastLine)
	}
}

// progress redraws the progress line five times a second until the returned stop is called,
// which erases it.
func (r *reporter) progress(start time.Time, stored, existed, failed, tokens *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	draw := func() {
		elapsed := time.Since(start).Seconds()
		n := stored.Load() + existed.Load()
		line := fmt.Sprintf("\r%s conversations · %s present · %s failed · %s tokens · %s conv/s",
			formatCount(n), formatCount(existed.Load()), formatCount(failed.Load()),
			formatSI(float64(tokens.Load())), formatSI(float64(n)/max(elapsed, 1e-3)))
		r.mu.Lock()
		io.WriteString(r.w, line+"\033[K")
		r.lastLine = line
		r.mu.Unlock()
	}
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				draw()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		r.mu.Lock()
		if r.lastLine != "" {
			io.WriteString(r.w, "\r\033[K")
			r.lastLine = ""
		}
		r.mu.Unlock()
	}
}

// print writes the summary for people.
func (s *importSummary) print(w io.Writer) {
	rate := float64(s.Stored+s.Existed) / max(s.Elapsed.Seconds(), 1e-3)
	bpt := "-"
	if s.Tokens > 0 {
		bpt = fmt.Sprintf("%.3f", float64(s.BytesAdded)/float64(s.Tokens))
	}
	fmt.Fprintf(w, "conversations stored   %s\n", formatCount(s.Stored))
	fmt.Fprintf(w, "already present        %s\n", formatCount(s.Existed))
	fmt.Fprintf(w, "failed                 %s\n", formatCount(s.Failed))
	fmt.Fprintf(w, "tokens                 %s\n", formatCount(s.Tokens))
	fmt.Fprintf(w, "new segments           %s\n", formatCount(s.NewSegments))
	fmt.Fprintf(w, "bytes added            %s (%s)\n", formatCount(s.BytesAdded), formatBytes(s.BytesAdded))
	fmt.Fprintf(w, "bytes/token            %s\n", bpt)
	fmt.Fprintf(w, "elapsed                %s (%.1f conversations/s)\n", s.Elapsed.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "requests               %s\n", formatUsage(s.Usage))
}

// importJSON is the --json form of an import summary.
type importJSON struct {
	Stored        int64      `json:"stored"`
	Existed       int64      `json:"already_present"`
	Failed        int64      `json:"failed"`
	FileErrors    int        `json:"file_errors"`
	Tokens        int64      `json:"tokens"`
	NewSegments   int64      `json:"new_segments"`
	BytesAdded    int64      `json:"bytes_added"`
	BytesPerToken float64    `json:"bytes_per_token"`
	ElapsedSec    float64    `json:"elapsed_seconds"`
	Requests      cost.Usage `json:"requests"`
	Interrupted   bool       `json:"interrupted,omitempty"`
}

func (s *importSummary) jsonForm() importJSON {
	j := importJSON{Stored: s.Stored, Existed: s.Existed, Failed: s.Failed, FileErrors: s.FileErrors,
		Tokens: s.Tokens, NewSegments: s.NewSegments, BytesAdded: s.BytesAdded,
		ElapsedSec: s.Elapsed.Seconds(), Requests: s.Usage, Interrupted: s.Canceled}
	if s.Tokens > 0 {
		j.BytesPerToken = float64(s.BytesAdded) / float64(s.Tokens)
	}
	return j
}

// formatUsage is one line of requests in billing units.
func formatUsage(u cost.Usage) string {
	return fmt.Sprintf("S3: %s PUT-class, %s GET-class, %s DELETE; DynamoDB: %s write units, %s read units",
		formatUnits(u.S3PutClass), formatUnits(u.S3GetClass), formatUnits(u.S3Delete), formatUnits(u.DDBWRU), formatUnits(u.DDBRRU))
}

// formatUnits formats a count of requests or units (read units come in halves).
func formatUnits(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
