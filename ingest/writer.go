package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/objstore"
)

// Defaults of WriterOptions.
const (
	DefaultMaxBytes = 8 << 20
	DefaultInterval = time.Minute
)

// WriterOptions configure a Writer.
type WriterOptions struct {
	// MaxBytes writes the buffered lines once they reach this many bytes (uncompressed);
	// default DefaultMaxBytes (8 MiB).
	MaxBytes int
	// Interval writes the buffered lines at least this often, from a goroutine of the
	// Writer's own; default DefaultInterval (1 minute); negative: only by size, Flush and
	// Close.
	Interval time.Duration
	// Logger receives the failures of the interval's writes (which are tried again at the next
	// one); default slog.Default().
	Logger *slog.Logger
}

// Writer buffers lines and writes them as one gzip JSONL object under InboxPrefix of a store's
// bucket, where the ingest function picks them up: when the buffer reaches MaxBytes, every
// Interval, on Flush and on Close. It is the route for long-running processes, with no queue:
// one PUT per object, whatever its number of conversations. A Writer is safe for concurrent
// use.
//
// A write that fails keeps its lines for the next one; only Close gives up, and reports how
// many lines it could not write. Lines are lost if the process dies before they are written:
// flush what must not wait.
type Writer struct {
	bucket objstore.Bucket
	opts   WriterOptions
	stop   chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	buf    []byte // the buffered lines
	lines  int
	closed bool
}

// NewWriter returns a Writer of inbox objects into bucket, the bucket of a store (objstore/s3
// opened at the store's URL: keys are relative to its prefix).
func NewWriter(bucket objstore.Bucket, opts WriterOptions) *Writer {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &Writer{bucket: bucket, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	if opts.Interval > 0 {
		go w.tick()
	} else {
		close(w.done)
	}
	return w
}

// ErrClosed is returned by the methods of a closed Writer.
var ErrClosed = errors.New("ingest: writer closed")

// Write encodes c (Encode: an invalid conversation is refused with Store's error, and one
// without an id gets one) and buffers its line, writing the buffer when it reaches MaxBytes.
func (w *Writer) Write(ctx context.Context, c *conversation.Conversation) error {
	line, err := Encode(c)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.buf = append(w.buf, line...)
	w.lines++
	if len(w.buf) < w.opts.MaxBytes {
		return nil
	}
	return w.flushLocked(ctx)
}

// Flush writes the buffered lines, if any, as one object.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked(ctx)
}

// Close stops the interval's writes and writes what is buffered. After Close, the Writer
// refuses writes; a Close whose write failed may be called again.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushLocked(ctx); err != nil {
		return fmt.Errorf("ingest: close: %d lines not written: %w", w.lines, err)
	}
	return nil
}

// tick writes the buffer every Interval until Close.
func (w *Writer) tick() {
	defer close(w.done)
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if err := w.Flush(context.Background()); err != nil {
				w.opts.Logger.Warn("ingest: writing the buffered lines failed; trying again at the next interval", "err", err)
			}
		}
	}
}

// flushLocked writes the buffer as one object and empties it; on failure the buffer stays.
func (w *Writer) flushLocked(ctx context.Context) error {
	if w.lines == 0 {
		return nil
	}
	data, err := InboxObject(w.buf)
	if err != nil {
		return err
	}
	key := InboxKey(time.Now())
	if _, err := w.bucket.Put(ctx, key, data, objstore.PutOptions{IfNoneMatch: true, ContentType: "application/gzip"}); err != nil {
		return fmt.Errorf("ingest: write %d lines to %s: %w", w.lines, key, err)
	}
	w.buf, w.lines = w.buf[:0], 0
	return nil
}

// InboxObject returns lines as the content of an inbox object: gzip-compressed.
func InboxObject(lines []byte) ([]byte, error) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(lines); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return z.Bytes(), nil
}

// InboxKey returns a new key for an inbox object written at t:
// inbox/YYYY/MM/DD/HHMMSS-<16 hex>.jsonl.gz.
func InboxKey(t time.Time) string {
	r := make([]byte, 8)
	rand.Read(r) // never fails
	return InboxPrefix + t.UTC().Format("2006/01/02/150405") + "-" + hex.EncodeToString(r) + ".jsonl.gz"
}
