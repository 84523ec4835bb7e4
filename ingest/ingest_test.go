package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/ingest"
	"github.com/stowken/stowken/objstore"
	objfaulty "github.com/stowken/stowken/objstore/faulty"
	objmem "github.com/stowken/stowken/objstore/mem"
	reffaulty "github.com/stowken/stowken/refcount/faulty"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/vault"
)

type env struct {
	t      *testing.T
	ctx    context.Context
	bucket *objfaulty.Bucket
	refs   *reffaulty.Store
	v      *vault.Vault
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), bucket: objfaulty.New(objmem.New()), refs: reffaulty.New(refmem.New())}
	v, err := vault.New(e.ctx, vault.Options{Bucket: e.bucket, Refs: e.refs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	e.v = v
	return e
}

func conv(id string, n int) *conversation.Conversation {
	return &conversation.Conversation{ID: id, Application: "gateway", Tokenizer: "cl100k_base", Messages: []conversation.Message{
		{Role: "system", Content: "You are a careful assistant."},
		{Role: "user", Content: fmt.Sprintf("Question %d: what is %d times %d?", n, n, n+1)},
		{Role: "assistant", Content: fmt.Sprintf("%d times %d is %d.", n, n+1, n*(n+1))},
	}}
}

// convLines returns n conversations (conv, with ids from the format of one number) and their
// lines, concatenated.
func convLines(t *testing.T, idFormat string, n int) ([]*conversation.Conversation, []byte) {
	t.Helper()
	var cs []*conversation.Conversation
	var data []byte
	for i := range n {
		cs = append(cs, conv(fmt.Sprintf(idFormat, i), i))
		data = append(data, line(t, cs[i])...)
	}
	return cs, data
}

func line(t *testing.T, c *conversation.Conversation) []byte {
	t.Helper()
	l, err := ingest.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// mustRetrieve checks that every conversation is stored, byte-exact.
func (e *env) mustRetrieve(cs ...*conversation.Conversation) {
	e.t.Helper()
	for _, c := range cs {
		got, err := e.v.Retrieve(e.ctx, c.ID)
		if err != nil {
			e.t.Fatalf("retrieve %q: %v", c.ID, err)
		}
		a, _ := conversation.Marshal(c)
		b, _ := conversation.Marshal(got)
		if !bytes.Equal(a, b) {
			e.t.Fatalf("%q changed:\nwant %s\n got %s", c.ID, a, b)
		}
	}
}

func (e *env) exists(key string) bool {
	e.t.Helper()
	_, err := e.bucket.Inner().Stat(e.ctx, key)
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

func (e *env) rejects(key string) []ingest.Reject {
	e.t.Helper()
	data, _, err := e.bucket.Inner().Get(e.ctx, key)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []ingest.Reject
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var r ingest.Reject
		if err := dec.Decode(&r); err == io.EOF {
			return out
		} else if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
}

// TestEncodeRefusesWhatStoreRefuses: Encode returns Store's own error for each invalid
// conversation, and gives a conversation without an id one.
func TestEncodeRefusesWhatStoreRefuses(t *testing.T) {
	e := newEnv(t)
	for name, c := range map[string]*conversation.Conversation{
		"no role":           {ID: "x", Tokenizer: "cl100k_base", Messages: []conversation.Message{{Content: "hi"}}},
		"unknown tokenizer": {ID: "x", Tokenizer: "no-such", Messages: []conversation.Message{{Role: "user", Content: "hi"}}},
		"bad role":          {ID: "x", Tokenizer: "cl100k_base", Messages: []conversation.Message{{Role: "wizard", Content: "hi"}}},
		"token out of range": {ID: "x", Tokenizer: "cl100k_base", Messages: []conversation.Message{
			{Role: "user", Tokens: []int{1, 2, 1 << 30}}}},
		"bad id": {ID: strings.Repeat("x", 5000), Tokenizer: "cl100k_base", Messages: []conversation.Message{{Role: "user", Content: "hi"}}},
	} {
		_, encErr := ingest.Encode(c)
		_, storeErr := e.v.Store(e.ctx, c)
		if encErr == nil || storeErr == nil || encErr.Error() != storeErr.Error() || !errors.Is(encErr, conversation.ErrInvalid) {
			t.Errorf("%s: Encode: %v; Store: %v; want the same ErrInvalid", name, encErr, storeErr)
		}
	}
	c := conv("", 1)
	l := line(t, c)
	if c.ID == "" || !bytes.HasSuffix(l, []byte("\n")) || !bytes.Contains(l, []byte(c.ID)) {
		t.Fatalf("Encode of a conversation without id: %q (id %q)", l, c.ID)
	}
}

// TestInbox: an inbox object (plain or gzip) with duplicates, a line that does not parse, an
// invalid conversation and a conflict with a stored one: every good line stored once and
// byte-exact, the bad ones reported with their line numbers, the object deleted; processing
// it again (a redelivered event) finds it gone.
func TestInbox(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", compressed), func(t *testing.T) {
			e := newEnv(t)
			stored := conv("taken", 0)
			if _, err := e.v.Store(e.ctx, stored); err != nil {
				t.Fatal(err)
			}
			var good []*conversation.Conversation
			var data []byte
			for i := range 5 {
				good = append(good, conv(fmt.Sprintf("c%d", i), i+1))
				data = append(data, line(t, good[i])...)
			}
			data = append(data, line(t, good[2])...) // line 6: delivered twice
			data = append(data, "\n{not json\n"...)  // line 7 empty, 8 broken
			unknown := `{"id":"u","tokenizer":"no-such","messages":[{"role":"user","content":"hi"}]}` + "\n"
			data = append(data, unknown...)                                                  // line 9: Store refuses it
			data = append(data, line(t, conv("taken", 99))...)                               // line 10: another conversation under a stored id
			data = append(data, bytes.TrimSuffix(line(t, conv("last", 7)), []byte("\n"))...) // line 11, no newline
			good = append(good, conv("last", 7))
			if compressed {
				data = gz(data)
			}
			key := e.putInbox(data)
			rep, err := ingest.Inbox(e.ctx, e.v, e.bucket, key)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Lines != 10 || rep.Stored != 6 || rep.Existed != 1 || rep.Rejected != 3 || e.exists(key) {
				t.Fatalf("report %+v (object left: %v); want 10 lines: 6 stored, 1 existed, 3 rejected, the object deleted", rep, e.exists(key))
			}
			e.mustRetrieve(append(good, stored)...)
			rejects := e.rejects(rep.RejectsKey)
			if len(rejects) != 3 || rejects[0].Line != 8 || rejects[1].Line != 9 || rejects[2].Line != 10 ||
				!strings.Contains(rejects[1].Reason, "no-such") || !strings.Contains(rejects[2].Reason, "different conversation") ||
				rejects[0].Text != "{not json" {
				t.Fatalf("rejects %+v", rejects)
			}
			again, err := ingest.Inbox(e.ctx, e.v, e.bucket, key)
			if err != nil || !again.Gone {
				t.Fatalf("processing again: %+v, %v; want the object gone", again, err)
			}
		})
	}
}

// TestInboxTruncatedGzip: the lines before the damage are stored, the damage is reported, the
// bytes are kept in a copy, and the object is deleted.
func TestInboxTruncatedGzip(t *testing.T) {
	e := newEnv(t)
	cs, data := convLines(t, "t%03d", 200)
	z := gz(data)
	z = z[:len(z)*2/3]
	key := e.putInbox(z)
	rep, err := ingest.Inbox(e.ctx, e.v, e.bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stored == 0 || rep.Stored >= 200 || rep.Rejected != 1 || rep.CopyKey == "" || e.exists(key) || !e.exists(rep.CopyKey) {
		t.Fatalf("report %+v; want the lines before the damage stored, the damage rejected, a copy kept, the object deleted", rep)
	}
	e.mustRetrieve(cs[:rep.Stored]...)
	if r := e.rejects(rep.RejectsKey); len(r) != 1 || r[0].Line != rep.Stored+1 || !strings.Contains(r[0].Reason, "unexpected EOF") {
		t.Fatalf("rejects %+v; want line %d, cut", r, rep.Stored+1)
	}
	t.Logf("truncated to 2/3: %d of 200 lines stored; %s", rep.Stored, e.rejects(rep.RejectsKey)[0].Reason)
}

// TestInboxCrashBeforeDelete: the lines are stored and the delete of the object fails (a crash
// between StoreBatch and the delete): the object stays, and the redelivered event stores
// nothing twice and deletes it.
func TestInboxCrashBeforeDelete(t *testing.T) {
	e := newEnv(t)
	cs, data := convLines(t, "k%02d", 30)
	key := e.putInbox(gz(data))
	e.bucket.Add(&objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpDelete, key), Kind: objfaulty.FailBefore})
	if _, err := ingest.Inbox(e.ctx, e.v, e.bucket, key); err == nil || !e.exists(key) {
		t.Fatalf("inbox with a failed delete: %v (object left: %v); want an error and the object left", err, e.exists(key))
	}
	e.mustRetrieve(cs...)
	rep, err := ingest.Inbox(e.ctx, e.v, e.bucket, key)
	if err != nil || rep.Existed != 30 || rep.Stored != 0 || e.exists(key) {
		t.Fatalf("redelivery: %+v, %v; want all 30 found stored and the object deleted", rep, err)
	}
	e.mustRetrieve(cs...)
}

// TestInboxTransientFailure: a store that fails for a reason of its own (not the line's) leaves
// the object for the redelivered event, which stores what is left.
func TestInboxTransientFailure(t *testing.T) {
	e := newEnv(t)
	cs, data := convLines(t, "f%d", 3)
	key := e.putInbox(data)
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "f1"), Kind: reffaulty.FailBefore, Times: reffaulty.Forever})
	if _, err := ingest.Inbox(e.ctx, e.v, e.bucket, key); err == nil || !e.exists(key) {
		t.Fatalf("inbox with a failing store: %v; want an error and the object left", err)
	}
	e.refs.Clear()
	rep, err := ingest.Inbox(e.ctx, e.v, e.bucket, key)
	if err != nil || rep.Stored != 1 || rep.Existed != 2 || e.exists(key) {
		t.Fatalf("redelivery: %+v, %v; want f1 stored, the others found stored", rep, err)
	}
	e.mustRetrieve(cs...)
}

// TestMessages: a batch of queue messages with a poison message, a duplicate and a transient
// failure: the good ones stored once, the failures reported by id (the poison one as rejected),
// and the failed one stored when delivered again.
func TestMessages(t *testing.T) {
	e := newEnv(t)
	var msgs []ingest.Message
	var cs []*conversation.Conversation
	for i := range 4 {
		cs = append(cs, conv(fmt.Sprintf("m%d", i), i))
		msgs = append(msgs, ingest.Message{ID: fmt.Sprintf("msg-%d", i), Body: string(line(t, cs[i]))})
	}
	msgs = append(msgs, ingest.Message{ID: "msg-dup", Body: msgs[0].Body}, ingest.Message{ID: "msg-poison", Body: `{"id":`})
	e.refs.Add(&reffaulty.Fault{Match: reffaulty.OnID(reffaulty.OpCreatePointer, "m3"), Kind: reffaulty.FailBefore, Times: reffaulty.Forever})
	rep := ingest.Messages(e.ctx, e.v, msgs)
	if rep.Stored != 3 || rep.Existed != 1 || len(rep.Failures) != 2 {
		t.Fatalf("report %+v; want 3 stored, the duplicate existed, 2 failures", rep)
	}
	for _, f := range rep.Failures {
		switch f.ID {
		case "msg-poison":
			if !f.Rejected {
				t.Errorf("poison message %+v not rejected", f)
			}
		case "msg-3":
			if f.Rejected {
				t.Errorf("transient failure %+v reported as rejected", f)
			}
		default:
			t.Errorf("unexpected failure %+v", f)
		}
	}
	e.refs.Clear()
	if rep := ingest.Messages(e.ctx, e.v, msgs[3:4]); rep.Stored != 1 || len(rep.Failures) != 0 {
		t.Fatalf("redelivery of the failed message: %+v", rep)
	}
	e.mustRetrieve(cs...)
}

// TestWriter: lines are written as gzip JSONL inbox objects by size, by interval and on Close;
// a failed write keeps its lines for the next; the objects hold every line once.
func TestWriter(t *testing.T) {
	e := newEnv(t)
	w := ingest.NewWriter(e.bucket, ingest.WriterOptions{MaxBytes: 2000, Interval: -1})
	var cs []*conversation.Conversation
	for i := range 20 {
		cs = append(cs, conv(fmt.Sprintf("w%02d", i), i))
		if err := w.Write(e.ctx, cs[i]); err != nil {
			t.Fatal(err)
		}
	}
	bySize := len(e.inbox())
	if bySize == 0 {
		t.Fatal("no object written by size")
	}
	e.bucket.Add(&objfaulty.Fault{Match: objfaulty.OnOp(objfaulty.OpPut), Kind: objfaulty.FailBefore})
	if err := w.Flush(e.ctx); err == nil {
		t.Fatal("flush with a failing bucket succeeded")
	}
	if err := w.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(e.ctx, conv("late", 1)); !errors.Is(err, ingest.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if err := w.Write(e.ctx, &conversation.Conversation{}); !errors.Is(err, conversation.ErrInvalid) {
		t.Fatalf("write of an invalid conversation: %v", err)
	}
	keys := e.inbox()
	lines := 0
	for _, key := range keys {
		rep, err := ingest.Inbox(e.ctx, e.v, e.bucket, key)
		if err != nil || rep.Existed+rep.Rejected != 0 {
			t.Fatalf("%s: %+v, %v", key, rep, err)
		}
		lines += rep.Stored
	}
	if lines != 20 {
		t.Fatalf("the objects hold %d lines, want the 20 written, once", lines)
	}
	e.mustRetrieve(cs...)
	t.Logf("20 conversations: %d objects by size, %d in all", bySize, len(keys))

	// By interval.
	w = ingest.NewWriter(e.bucket, ingest.WriterOptions{Interval: 20 * time.Millisecond})
	defer w.Close(e.ctx)
	if err := w.Write(e.ctx, conv("tick", 1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(e.inbox()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the interval wrote nothing in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// putInbox writes data as a new inbox object and returns its key.
func (e *env) putInbox(data []byte) string {
	e.t.Helper()
	key := ingest.InboxKey(time.Now())
	if _, err := e.bucket.Put(e.ctx, key, data, objstore.PutOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return key
}

// inbox returns the keys of the inbox objects.
func (e *env) inbox() []string {
	e.t.Helper()
	var keys []string
	if err := e.bucket.Inner().List(e.ctx, ingest.InboxPrefix, func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return keys
}
