package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/vault"
)

// The consuming side: what the ingest function does with an inbox object (Inbox) and with a
// batch of queue messages (Messages).

// Storer is what consuming needs of a vault.
type Storer interface {
	StoreBatch(ctx context.Context, cs []*conversation.Conversation) ([]vault.StoreResult, []error)
}

// BatchSize is how many lines one StoreBatch stores at most.
const BatchSize = 1000

// Rejected reports whether a line's store error is the line's own fault, so that storing it
// again would fail again: an invalid conversation (conversation.ErrInvalid), or a different
// conversation under an id that is stored (vault.ErrConflict). Other errors are transient.
func Rejected(err error) bool {
	return errors.Is(err, conversation.ErrInvalid) || errors.Is(err, vault.ErrConflict)
}

// Reject is a line that cannot be stored, as the rejects report (a JSONL object) lists it.
type Reject struct {
	Line   int    `json:"line"` // from 1
	Reason string `json:"reason"`
	Text   string `json:"text,omitempty"` // the line (invalid UTF-8 replaced)
}

// Counts are the conversations a consumer stored: now, or found stored already (Existed: a
// line delivered twice, or processed again).
type Counts struct {
	Stored  int `json:"stored"`
	Existed int `json:"existed"`
}

// storeBatch stores cs with s and counts what it stored; failed is called with each other
// conversation's index and error, and an error from it stops the count.
func (n *Counts) storeBatch(ctx context.Context, s Storer, cs []*conversation.Conversation, failed func(i int, err error) error) error {
	results, errs := s.StoreBatch(ctx, cs)
	for i, err := range errs {
		switch {
		case err != nil:
			if err := failed(i, err); err != nil {
				return err
			}
		case results[i].Existed:
			n.Existed++
		default:
			n.Stored++
		}
	}
	return nil
}

// InboxReport says what Inbox did with one object.
type InboxReport struct {
	Key string `json:"key"`
	// Gone: the object was not there (processed and deleted already: a redelivered event).
	Gone  bool `json:"gone,omitempty"`
	Lines int  `json:"lines"`
	Counts
	Rejected int `json:"rejected"`
	// RejectsKey is the rejects report, when a line was rejected; CopyKey the copy of an
	// object that could not be read to its end (a truncated or corrupt gzip stream).
	RejectsKey string `json:"rejects_key,omitempty"`
	CopyKey    string `json:"copy_key,omitempty"`
}

// Inbox stores every line of the inbox object key (JSONL, gzip-compressed or not) with
// StoreBatch, BatchSize lines at a time, and deletes the object once every line is stored or
// rejected. Rejected lines (invalid, or a conflict with a stored conversation; see Rejected) go
// to a report beside it, RejectsPrefix + name + RejectsSuffix, with their line numbers and
// reasons; an object that cannot be read to its end (a truncated gzip stream) has the lines
// before the damage stored, the damage reported as a rejected line, and its bytes copied to
// RejectsPrefix + name. Empty lines are skipped.
//
// A transient failure returns an error and leaves the object, so that the event is delivered
// again: the lines stored already are then found stored (Existed). Processing an object again,
// or one that is gone, is safe: a crash at any step loses no line and stores none twice.
func Inbox(ctx context.Context, s Storer, bucket objstore.Bucket, key string) (InboxReport, error) {
	rep := InboxReport{Key: key}
	name, ok := strings.CutPrefix(key, InboxPrefix)
	if !ok || name == "" {
		return rep, fmt.Errorf("ingest: %q is not an inbox object (%s...)", key, InboxPrefix)
	}
	data, _, err := bucket.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		rep.Gone = true
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("ingest: read %s: %w", key, err)
	}
	var rejects []Reject
	batch := make([]*conversation.Conversation, 0, BatchSize)
	lineOf := make([]int, 0, BatchSize)
	store := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rep.storeBatch(ctx, s, batch, func(i int, err error) error {
			if !Rejected(err) {
				return fmt.Errorf("ingest: %s line %d: %w", key, lineOf[i], err)
			}
			rejects = append(rejects, Reject{Line: lineOf[i], Reason: err.Error(), Text: lineText(batch[i])})
			return nil
		})
		batch, lineOf = batch[:0], lineOf[:0]
		return err
	}
	damaged, err := eachLine(data, func(n int, line []byte) error {
		rep.Lines++
		c, err := conversation.Parse(line)
		if err != nil {
			rejects = append(rejects, Reject{Line: n, Reason: err.Error(), Text: string(line)})
			return nil
		}
		batch, lineOf = append(batch, c), append(lineOf, n)
		if len(batch) == BatchSize {
			return store()
		}
		return nil
	})
	if err == nil {
		err = store()
	}
	if err != nil {
		return rep, err
	}
	if damaged != nil {
		rejects = append(rejects, *damaged)
		rep.CopyKey = RejectsPrefix + name
		if err := putOnce(ctx, bucket, rep.CopyKey, data); err != nil {
			return rep, err
		}
	}
	rep.Rejected = len(rejects)
	if len(rejects) > 0 {
		var report bytes.Buffer
		enc := json.NewEncoder(&report)
		for _, r := range rejects {
			if err := enc.Encode(r); err != nil {
				return rep, err
			}
		}
		rep.RejectsKey = RejectsPrefix + name + RejectsSuffix
		if err := putOnce(ctx, bucket, rep.RejectsKey, report.Bytes()); err != nil {
			return rep, err
		}
	}
	if err := bucket.Delete(ctx, key); err != nil {
		return rep, fmt.Errorf("ingest: %s is stored, but deleting it failed (it will be processed again, which changes nothing): %w", key, err)
	}
	return rep, nil
}

// eachLine calls fn with each non-empty line of data (gunzipped when it starts with the gzip
// magic number), numbered from 1. When data cannot be read to its end, it returns the damage
// as a Reject: the line that was cut, or the line after the last one read.
func eachLine(data []byte, fn func(n int, line []byte) error) (*Reject, error) {
	var r io.Reader = bytes.NewReader(data)
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return &Reject{Line: 1, Reason: "the object is not a readable gzip stream: " + err.Error()}, nil
		}
		r = zr
	}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return &Reject{Line: n, Reason: "the object cannot be read from this line on: " + err.Error(), Text: string(line)}, nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if ferr := fn(n, line); ferr != nil {
				return nil, ferr
			}
		}
		if err == io.EOF {
			return nil, nil
		}
	}
}

// putOnce writes a report or copy with If-None-Match: one left by an earlier run (which
// processed the same object) is as good.
func putOnce(ctx context.Context, bucket objstore.Bucket, key string, data []byte) error {
	_, err := bucket.Put(ctx, key, data, objstore.PutOptions{IfNoneMatch: true})
	if err != nil && !errors.Is(err, objstore.ErrExists) {
		return fmt.Errorf("ingest: write %s: %w", key, err)
	}
	return nil
}

// lineText is c's line as a rejects report shows it (empty if c cannot be encoded).
func lineText(c *conversation.Conversation) string {
	data, _ := conversation.Marshal(c)
	return string(data)
}

// Waiting counts the objects under InboxPrefix and returns when the oldest was written (zero
// when there is none): objects that wait long are objects the ingest function fails on, or
// whose notification is missing.
func Waiting(ctx context.Context, bucket objstore.Bucket) (objects int, oldest time.Time, err error) {
	err = bucket.List(ctx, InboxPrefix, func(a objstore.Attrs) error {
		objects++
		if oldest.IsZero() || a.ModTime.Before(oldest) {
			oldest = a.ModTime
		}
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("ingest: list %s: %w", InboxPrefix, err)
	}
	return objects, oldest, nil
}

// Message is a queue message: its id and its body, one line.
type Message struct {
	ID   string
	Body string
}

// Failure is a message that was not stored: Rejected when storing it again would fail again
// (see Rejected; the queue's redrive policy takes it to the dead-letter queue), with why.
type Failure struct {
	ID       string `json:"id"`
	Rejected bool   `json:"rejected"`
	Reason   string `json:"reason"`
}

// MessagesReport says what Messages did.
type MessagesReport struct {
	Messages int `json:"messages"`
	Counts
	Failures []Failure `json:"failures,omitempty"`
}

// Messages stores the messages' lines with StoreBatch, BatchSize at a time, and reports those
// that failed, so that the queue delivers them again (or, after its maximum receive count, to
// its dead-letter queue) and acknowledges the rest. A message delivered again, or twice in one
// batch, is stored once.
func Messages(ctx context.Context, s Storer, msgs []Message) MessagesReport {
	rep := MessagesReport{Messages: len(msgs)}
	for start := 0; start < len(msgs); start += BatchSize {
		chunk := msgs[start:min(start+BatchSize, len(msgs))]
		var cs []*conversation.Conversation
		var ids []string
		for _, m := range chunk {
			c, err := conversation.Parse([]byte(m.Body))
			if err != nil {
				rep.Failures = append(rep.Failures, Failure{ID: m.ID, Rejected: true, Reason: err.Error()})
				continue
			}
			cs, ids = append(cs, c), append(ids, m.ID)
		}
		if len(cs) == 0 {
			continue
		}
		rep.storeBatch(ctx, s, cs, func(i int, err error) error {
			rep.Failures = append(rep.Failures, Failure{ID: ids[i], Rejected: Rejected(err), Reason: err.Error()})
			return nil
		})
	}
	return rep
}
