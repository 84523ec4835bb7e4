package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/ingest"
	"github.com/stowken/stowken/objstore"
	objmem "github.com/stowken/stowken/objstore/mem"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/vault"
)

func conv(id string, n int) *conversation.Conversation {
	return &conversation.Conversation{ID: id, Application: "gateway", Tokenizer: "cl100k_base", Messages: []conversation.Message{
		{Role: "user", Content: fmt.Sprintf("Question %d: what is %d squared?", n, n)},
		{Role: "assistant", Content: fmt.Sprintf("%d squared is %d.", n, n*n)},
	}}
}

func encode(t testing.TB, c *conversation.Conversation) []byte {
	t.Helper()
	l, err := ingest.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// memHandler is a Handler over an in-memory store whose bucket is s3://logs/team-a.
func memHandler(t *testing.T) (*Handler, *vault.Vault, objstore.Bucket) {
	t.Helper()
	b := objmem.New()
	v, err := vault.New(context.Background(), vault.Options{Bucket: b, Refs: refmem.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	cfg, err := ConfigFromEnv(env{EnvStore: "s3://logs/team-a", EnvRefs: "dynamodb://refs"}.get)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Config: cfg, Log: slog.New(slog.DiscardHandler),
		Open: func(context.Context, Config, *slog.Logger) (*vault.Vault, objstore.Bucket, error) { return v, b, nil }}
	return h, v, b
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

// s3Event is the notification S3 sends for objects created in bucket (keys URL-encoded as S3
// encodes them).
func s3Event(bucket string, keys ...string) json.RawMessage {
	var e events.S3Event
	for _, k := range keys {
		var r events.S3EventRecord
		r.EventSource, r.EventName, r.AWSRegion = "aws:s3", "ObjectCreated:Put", "us-east-1"
		r.S3.Bucket.Name = bucket
		r.S3.Object.Key = url.QueryEscape(k)
		e.Records = append(e.Records, r)
	}
	data, _ := json.Marshal(e)
	return data
}

// sqsEvent is the batch an SQS event source mapping sends.
func sqsEvent(bodies map[string][]byte) json.RawMessage {
	var e events.SQSEvent
	for _, id := range slices.Sorted(maps.Keys(bodies)) {
		e.Records = append(e.Records, events.SQSMessage{MessageId: id, Body: string(bodies[id]), EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:stowken-ingest"})
	}
	data, _ := json.Marshal(e)
	return data
}

// TestHandleS3: a notification for an inbox object (with a space in its name, which S3
// encodes) stores its lines and deletes it; a notification for a key outside the inbox, or of
// another bucket, is skipped; the same event delivered again finds the object gone.
func TestHandleS3(t *testing.T) {
	h, v, b := memHandler(t)
	ctx := context.Background()
	var data []byte
	for i := range 3 {
		data = append(data, encode(t, conv(fmt.Sprintf("s%d", i), i))...)
	}
	key := ingest.InboxPrefix + "2026/12/04/firehose stream-1"
	if _, err := b.Put(ctx, key, data, objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	event := s3Event("logs", "team-a/"+key, "team-a/segments/xx", "team-b/"+key)
	out, err := h.Handle(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	res := out.(InboxResult)
	if len(res.Objects) != 1 || res.Objects[0].Stored != 3 || res.Objects[0].Key != key {
		t.Fatalf("result %+v; want the one inbox object, 3 lines stored", res)
	}
	// The inbox object's GET and DELETE count, beside the batch's writes.
	if r := res.Requests; r.S3GetClass < 1 || r.S3Delete < 1 || r.S3PutClass < 2 || r.DDBWRU < 3 {
		t.Fatalf("requests %+v; want the inbox object's GET and DELETE and the batch's PUTs and writes", r)
	}
	if _, err := b.Stat(ctx, key); err == nil {
		t.Fatal("the inbox object is still there")
	}
	for i := range 3 {
		if _, err := v.Retrieve(ctx, fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	out, err = h.Handle(ctx, s3Event("logs", "team-a/"+key))
	if err != nil || !out.(InboxResult).Objects[0].Gone {
		t.Fatalf("redelivered: %+v, %v; want the object gone", out, err)
	}
	if _, err := h.Handle(ctx, s3Event("other-bucket", "team-a/"+key)); err != nil {
		t.Fatal(err)
	}
}

// TestHandleSQS: a batch with a poison message, a duplicate, and an invalid conversation:
// the response lists exactly the messages that failed; the others are stored once.
func TestHandleSQS(t *testing.T) {
	h, v, _ := memHandler(t)
	ctx := context.Background()
	bodies := map[string][]byte{
		"m1":     encode(t, conv("q1", 1)),
		"m2":     encode(t, conv("q2", 2)),
		"m1-dup": encode(t, conv("q1", 1)),
		"poison": []byte("not json"),
		"badtok": []byte(`{"id":"q3","tokenizer":"nope","messages":[{"role":"user","content":"hi"}]}`),
	}
	out, err := h.Handle(ctx, sqsEvent(bodies))
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range out.(events.SQSEventResponse).BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	slices.Sort(failed)
	if !slices.Equal(failed, []string{"badtok", "poison"}) {
		t.Fatalf("batch item failures %v; want badtok and poison", failed)
	}
	for _, id := range []string{"q1", "q2"} {
		got, err := v.Retrieve(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if line := encode(t, got); !bytes.Equal(line, bodies["m"+id[1:]]) {
			t.Fatalf("%s: %s, want %s", id, line, bodies["m"+id[1:]])
		}
	}
	// The response is what the event source mapping reads: {"batchItemFailures":[{"itemIdentifier":...}]}.
	data, _ := json.Marshal(out)
	if !bytes.Contains(data, []byte(`"batchItemFailures":[{"itemIdentifier":`)) {
		t.Fatalf("response %s", data)
	}
}

// TestHandleBadEvent: an event that is neither kind fails, naming what it wants.
func TestHandleBadEvent(t *testing.T) {
	h, _, _ := memHandler(t)
	for _, e := range []string{`{}`, `{"Records":[{"eventSource":"aws:sns"}]}`, `null`} {
		if _, err := h.Handle(context.Background(), json.RawMessage(e)); err == nil {
			t.Errorf("event %s: no error", e)
		}
	}
}

// TestConfigFromEnv: the store's bucket and prefix come from STOWKEN_STORE; what is missing
// or wrong is named.
func TestConfigFromEnv(t *testing.T) {
	cfg, err := ConfigFromEnv(env{EnvStore: "s3://logs/a/b/", EnvRefs: "dynamodb://refs", EnvLogLevel: "debug", EnvSketches: "true"}.get)
	if err != nil || cfg.Bucket != "logs" || cfg.Prefix != "a/b/" || cfg.LogLevel != slog.LevelDebug || !cfg.Sketches {
		t.Fatalf("%+v, %v", cfg, err)
	}
	if cfg, err := ConfigFromEnv(env{EnvStore: "s3://logs", EnvRefs: "dynamodb://refs"}.get); err != nil || cfg.Prefix != "" {
		t.Fatalf("%+v, %v", cfg, err)
	}
	for _, e := range []env{{}, {EnvStore: "file:///tmp/x", EnvRefs: "dynamodb://refs"}, {EnvStore: "s3://logs", EnvRefs: "dynamodb://refs", EnvLogLevel: "loud"},
		{EnvStore: "s3://logs", EnvRefs: "dynamodb://refs", EnvSketches: "maybe"}} {
		if _, err := ConfigFromEnv(e.get); err == nil {
			t.Errorf("%v: no error", e)
		}
	}
}
