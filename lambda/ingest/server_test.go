package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/ingest"
	"github.com/stowken/stowken/internal/lambdatest"
	"github.com/stowken/stowken/objstore"
	objfaulty "github.com/stowken/stowken/objstore/faulty"
	"github.com/stowken/stowken/vault"
)

// testBucket is shared by the runs of these tests; each run has its own prefix in it.
const testBucket = "stowken-lambda-it"

func TestMain(m *testing.M) {
	code := m.Run()
	lambdatest.RemoveBuilds()
	os.Exit(code)
}

// serverConv is a conversation with a long message of its own.
func serverConv(id string, n int) *conversation.Conversation {
	c := conv(id, n)
	c.Messages = append(c.Messages, conversation.Message{Role: "user", Content: strings.Repeat(fmt.Sprintf("detail %d of %s. ", n, id), 40)})
	return c
}

// storeKey is the bucket key of a store key: the store's prefix and the key.
func storeKey(t *testing.T, ts lambdatest.Store, key string) (bucket, full string) {
	t.Helper()
	cfg, err := ConfigFromEnv(env{EnvStore: ts.Store, EnvRefs: ts.Refs}.get)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Bucket, cfg.Prefix + key
}

// mustRetrieveAll checks that every conversation is stored, byte-exact.
func mustRetrieveAll(t *testing.T, v *vault.Vault, cs []*conversation.Conversation) {
	t.Helper()
	for _, c := range cs {
		got, err := v.Retrieve(context.Background(), c.ID)
		if err != nil {
			t.Fatalf("retrieve %q: %v", c.ID, err)
		}
		if a, b := encode(t, c), encode(t, got); !bytes.Equal(a, b) {
			t.Fatalf("%q changed:\nwant %s\n got %s", c.ID, a, b)
		}
	}
}

// TestInboxAgainstServers: inbox objects in MinIO (a Writer's, with a conversation written
// twice; a plain JSONL file with a broken line; a truncated gzip file) and the S3 notification
// of each, handled with the store on MinIO and dynalite: every conversation stored once and
// byte-exact, the rejects reported, the inbox emptied. A crash between the stores and the
// delete leaves the object, and the redelivered event stores nothing twice; an event delivered
// after its object is gone does nothing.
func TestInboxAgainstServers(t *testing.T) {
	ts := lambdatest.NewStore(t, testBucket)
	ctx := context.Background()

	// A Writer's object: 40 conversations, the 7th written twice.
	w := ingest.NewWriter(ts.Bucket, ingest.WriterOptions{Interval: -1})
	var cs []*conversation.Conversation
	for i := range 40 {
		cs = append(cs, serverConv(fmt.Sprintf("inbox-%02d", i), i))
		if err := w.Write(ctx, cs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(ctx, serverConv("inbox-07", 7)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A plain JSONL file with a broken line, and a gzip file cut short.
	plain := append(encode(t, serverConv("plain-1", 101)), "{broken\n"...)
	plain = append(plain, encode(t, serverConv("plain-2", 102))...)
	cs = append(cs, serverConv("plain-1", 101), serverConv("plain-2", 102))
	if _, err := ts.Bucket.Put(ctx, ingest.InboxPrefix+"jobs/plain.jsonl", plain, objstore.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	for i := range 60 {
		zw.Write(encode(t, serverConv(fmt.Sprintf("cut-%02d", i), 200+i)))
	}
	zw.Close()
	if _, err := ts.Bucket.Put(ctx, ingest.InboxPrefix+"jobs/cut.jsonl.gz", z.Bytes()[:z.Len()/2], objstore.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}

	var keys []string
	for k := range ts.Keys(t, ingest.InboxPrefix) {
		keys = append(keys, k)
	}
	if len(keys) != 3 {
		t.Fatalf("inbox %v, want 3 objects", keys)
	}
	// The handler, with the store's bucket wrapped so that the first delete of an inbox object
	// fails: a crash after its lines were stored.
	cfg, err := ConfigFromEnv(env{EnvStore: ts.Store, EnvRefs: ts.Refs}.get)
	if err != nil {
		t.Fatal(err)
	}
	var faulty *objfaulty.Bucket
	h := &Handler{Config: cfg, Log: slog.New(slog.DiscardHandler),
		Open: func(ctx context.Context, cfg Config, log *slog.Logger) (*vault.Vault, objstore.Bucket, error) {
			v, b, err := openStore(ctx, cfg, log)
			faulty = objfaulty.New(b)
			return v, faulty, err
		}}
	bucket, _ := storeKey(t, ts, "")
	var full []string
	for _, k := range keys {
		_, f := storeKey(t, ts, k)
		full = append(full, f)
	}
	event := s3Event(bucket, full...)
	if _, _, err := h.open(ctx); err != nil {
		t.Fatal(err)
	}
	faulty.Add(&objfaulty.Fault{Match: objfaulty.OnPrefix(objfaulty.OpDelete, ingest.InboxPrefix), Kind: objfaulty.FailBefore})
	if _, err := h.Handle(ctx, event); err == nil {
		t.Fatal("an invocation whose delete failed succeeded")
	}
	if n := len(ts.Keys(t, ingest.InboxPrefix)); n != 1 {
		t.Fatalf("%d inbox objects left after the failed delete, want the one", n)
	}

	// Lambda delivers the event again.
	out, err := h.Handle(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	var stored, existed, gone int
	for _, r := range out.(InboxResult).Objects {
		stored, existed = stored+r.Stored, existed+r.Existed
		if r.Gone {
			gone++
		}
	}
	if gone != 2 || stored != 0 || existed == 0 {
		t.Fatalf("redelivery: %+v; want the two done objects gone and the third found stored", out)
	}
	if n := len(ts.Keys(t, ingest.InboxPrefix)); n != 0 {
		t.Fatalf("%d inbox objects left, want none", n)
	}
	reader := ts.Open(t, vault.Options{})
	mustRetrieveAll(t, reader, cs)
	cut := 0
	for i := range 60 {
		if _, err := reader.Retrieve(ctx, fmt.Sprintf("cut-%02d", i)); err == nil {
			cut++
		} else if !errors.Is(err, vault.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if cut == 0 || cut == 60 {
		t.Fatalf("%d of the cut file's 60 conversations stored, want those before the cut", cut)
	}
	rejects := ts.Keys(t, ingest.RejectsPrefix)
	for _, want := range []string{ingest.RejectsPrefix + "jobs/plain.jsonl" + ingest.RejectsSuffix,
		ingest.RejectsPrefix + "jobs/cut.jsonl.gz" + ingest.RejectsSuffix, ingest.RejectsPrefix + "jobs/cut.jsonl.gz"} {
		if !rejects[want] {
			t.Errorf("no %s among %v", want, rejects)
		}
	}
	data, _, err := ts.Bucket.Get(ctx, ingest.RejectsPrefix+"jobs/plain.jsonl"+ingest.RejectsSuffix)
	if err != nil {
		t.Fatal(err)
	}
	var rej ingest.Reject
	if err := json.Unmarshal(data, &rej); err != nil || rej.Line != 2 || rej.Text != "{broken" {
		t.Fatalf("rejects report %s (%v), want line 2", data, err)
	}
	t.Logf("stored 42 + %d of 60 before the cut; rejects %v", cut, rejects)
}

// TestIngestUnderRIE runs the built function under the Lambda Runtime Interface Emulator with
// the store on MinIO and dynalite: an S3 notification of an inbox object, then an SQS batch with
// a poison message and a conversation the inbox stored already.
func TestIngestUnderRIE(t *testing.T) {
	ts := lambdatest.NewStore(t, testBucket)
	bin := lambdatest.Build(t, ".")
	ctx := context.Background()
	rie := lambdatest.StartRIE(t, bin, ts.FunctionEnv(t, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        "stowken-ingest",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "120",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
	}))
	invoke := func(event json.RawMessage, out any) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		body, err := rie.Invoke(ctx, event)
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("response %s: %v", body, err)
		}
	}

	var data []byte
	var cs []*conversation.Conversation
	for i := range 12 {
		cs = append(cs, serverConv(fmt.Sprintf("rie-%02d", i), 300+i))
		data = append(data, encode(t, cs[i])...)
	}
	key := ingest.InboxKey(time.Now())
	if _, err := ts.Bucket.Put(ctx, key, data, objstore.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	bucket, full := storeKey(t, ts, key)
	var res InboxResult
	invoke(s3Event(bucket, full), &res)
	if len(res.Objects) != 1 || res.Objects[0].Stored != 12 || res.Requests.DDBWRU == 0 {
		t.Fatalf("inbox result %+v, want 12 stored and the requests counted", res)
	}
	if n := len(ts.Keys(t, ingest.InboxPrefix)); n != 0 {
		t.Fatalf("%d inbox objects left", n)
	}

	more := serverConv("rie-sqs", 400)
	var resp events.SQSEventResponse
	invoke(sqsEvent(map[string][]byte{"new": encode(t, more), "again": encode(t, cs[3]), "poison": []byte("{")}), &resp)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "poison" {
		t.Fatalf("batch item failures %+v, want the poison message only", resp.BatchItemFailures)
	}
	mustRetrieveAll(t, ts.Open(t, vault.Options{}), append(cs, more))
	if logs := rie.Logs(); !strings.Contains(logs, `"msg":"message rejected`) || !strings.Contains(logs, `"msg":"ingested"`) {
		t.Errorf("the function's log lacks the rejected message or the ingested lines:\n%s", logs)
	}
}
