package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/lambdatest"
	"github.com/stowken/stowken/vault"
)

// testBucket is shared by the runs of this test; each run has its own prefix in it.
const testBucket = "stowken-lambda-it"

// newTestStore is a store of its own on the test servers.
func newTestStore(t *testing.T) lambdatest.Store { return lambdatest.NewStore(t, testBucket) }

// retireTimeout is the writer deadline of the test's writers and the claim TTL of the collector
// that retires their batches.
const retireTimeout = 3 * time.Second

// text returns n pseudo-random words from seed: thousands of tokens that share nothing with
// another seed's text.
func text(seed uint64, n int) string {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	syll := []string{"ka", "lo", "mi", "ne", "ru", "ta", "vo", "zu", "pe", "shi", "dra", "gon", "el", "quo", "tri"}
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteByte(' ')
		}
		for range 1 + r.IntN(3) {
			sb.WriteString(syll[r.IntN(len(syll))])
		}
		if r.IntN(12) == 0 {
			sb.WriteString(".")
		}
	}
	return sb.String()
}

// conv is a conversation with a system prompt shared by all and a long user message of its own.
func conv(id string, seed uint64) *conversation.Conversation {
	return &conversation.Conversation{
		ID: id, Application: "lambda-test", Model: "gpt-4o", Tokenizer: "cl100k_base",
		CreatedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Messages: []conversation.Message{
			{Role: conversation.RoleSystem, Content: "You are the shared system prompt. " + text(1, 1500)},
			{Role: conversation.RoleUser, Content: text(seed, 2500)},
			{Role: conversation.RoleAssistant, Content: "Noted."},
		},
		Metadata: []byte(`{"test":"lambda"}`),
	}
}

// scheduledEvent is what an EventBridge Scheduler schedule with the default input sends.
func scheduledEvent(t *testing.T) json.RawMessage {
	t.Helper()
	ev := events.EventBridgeEvent{
		Version: "0", ID: "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", DetailType: "Scheduled Event",
		Source: "aws.scheduler", AccountID: "123456789012", Time: time.Now().UTC(), Region: "us-east-1",
		Resources: []string{"arn:aws:scheduler:us-east-1:123456789012:schedule/default/stowken-gc"},
		Detail:    json.RawMessage(`{}`),
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGCAgainstServers stores conversations, deletes some, and runs the handler as the
// schedule would: segments only the deleted conversations used are gone, everything the kept
// conversation uses stays, and it comes back exactly.
func TestGCAgainstServers(t *testing.T) {
	ts := newTestStore(t)
	ctx := context.Background()

	// Store the kept conversation first, then two that share its system prompt: the segments
	// each of them adds are its own.
	// The conversations are stored by writers with a writer deadline of seconds, so that the
	// batches of the deleted ones can be retired in the test's time (see below).
	v := ts.Open(t, vault.Options{StoreTimeout: retireTimeout})
	kept := conv("kept", 100)
	keptJSON, err := conversation.Marshal(kept)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Store(ctx, kept); err != nil {
		t.Fatal(err)
	}
	keptSegs := ts.Keys(t, "segments/")
	own := map[string]map[string]bool{}
	for i, id := range []string{"gone-a", "gone-b"} {
		before := ts.Keys(t, "segments/")
		if _, err := v.Store(ctx, conv(id, uint64(200+i))); err != nil {
			t.Fatal(err)
		}
		own[id] = map[string]bool{}
		for k := range ts.Keys(t, "segments/") {
			if !before[k] {
				own[id][k] = true
			}
		}
		if len(own[id]) == 0 {
			t.Fatalf("%s added no segment of its own: the test data is too small to test anything", id)
		}
	}
	doomed := map[string]bool{}
	for _, segs := range own {
		for k := range segs {
			doomed[k] = true
		}
	}
	if len(keptSegs) < 2 {
		t.Fatalf("the kept conversation has %d segment objects; want its own and the shared ones", len(keptSegs))
	}
	for _, id := range []string{"gone-a", "gone-b"} {
		if err := v.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Retire the deleted conversations' batches (a batch of one each) past their writer
	// deadline, with a collector whose claims are as short: their references go and their
	// segments become candidates, as the scheduled runs below then find them.
	time.Sleep(retireTimeout + retireTimeout/2 + time.Second)
	retirer := ts.Open(t, vault.Options{StoreTimeout: retireTimeout, ClaimTTL: retireTimeout})
	if rep, err := retirer.GC(ctx, vault.GCOptions{}); err != nil || rep.Deleted != 2 {
		t.Fatalf("retiring the deleted conversations' batches: %+v, %v; want their two batch objects deleted", rep, err)
	}
	t.Logf("kept conversation: %d segments; deleted ones: %d segments of their own", len(keptSegs), len(doomed))

	var logs bytes.Buffer
	log := newLogger(&logs, slog.LevelInfo)
	lctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "test-request"})
	run := func(t *testing.T, cfg Config, event json.RawMessage, timeout time.Duration) Result {
		t.Helper()
		rctx, cancel := context.WithTimeout(lctx, timeout)
		defer cancel()
		logs.Reset()
		res, err := Handle(rctx, cfg, event, log)
		if err != nil {
			t.Fatalf("handler: %v\nlog:\n%s", err, &logs)
		}
		return res
	}
	cfg, err := ConfigFromEnv(env(map[string]string{EnvStore: ts.Store, EnvRefs: ts.Refs}))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("default grace keeps young segments", func(t *testing.T) {
		res := run(t, cfg, scheduledEvent(t), 5*time.Minute)
		// Every segment of a deleted conversation is a candidate, the shared ones included.
		if res.GC.Deleted != 0 || res.GC.Candidates < len(doomed) || res.GC.TooYoung != res.GC.Candidates {
			t.Errorf("with grace %v: %+v, want at least %d candidates, all too young, nothing deleted", cfg.GC.Grace, *res.GC, len(doomed))
		}
	})

	t.Run("dry run through the binary", func(t *testing.T) {
		// The whole function as Lambda runs it, configured by its environment.
		inv := invokeBinary(t, map[string]string{EnvStore: ts.Store, EnvRefs: ts.Refs, EnvGrace: "0s", EnvDryRun: "true"},
			string(scheduledEvent(t)), 5*time.Minute)
		if inv.Kind != "response" {
			t.Fatalf("invocation %s: %s\nlog:\n%s", inv.Kind, inv.Body, inv.Stdout)
		}
		var res Result
		if err := json.Unmarshal(inv.Body, &res); err != nil {
			t.Fatalf("response %s: %v", inv.Body, err)
		}
		if res.GC == nil || !res.GC.DryRun || res.GC.Deleted != len(doomed) || res.Partial {
			t.Errorf("dry run response %s, want %d segments that would be deleted", inv.Body, len(doomed))
		}
		if !strings.Contains(inv.Stdout, `"msg":"gc finished"`) || !strings.Contains(inv.Stdout, `"request_id":"8476a536`) {
			t.Errorf("log lacks the result or the request id:\n%s", inv.Stdout)
		}
		if got := ts.Keys(t, "segments/"); len(got) != len(keptSegs)+len(doomed) {
			t.Errorf("a dry run changed the store: %d segment objects, want %d", len(got), len(keptSegs)+len(doomed))
		}
	})

	t.Run("grace 0 collects the deleted conversations' segments", func(t *testing.T) {
		cfg := cfg
		cfg.GC.Grace = 0
		res := run(t, cfg, scheduledEvent(t), 5*time.Minute)
		if r := res.GC; res.Partial || r.Deleted != len(doomed) || r.Claimed != len(doomed) || r.BytesFreed <= 0 ||
			r.Referenced != r.Candidates-r.Deleted || r.Referenced == 0 {
			t.Errorf("result %+v, want %d deleted and the shared segments still referenced", *res.GC, len(doomed))
		}
		got := ts.Keys(t, "segments/")
		for k := range doomed {
			if got[k] {
				t.Errorf("segment %s of a deleted conversation is still there", k)
			}
		}
		for k := range keptSegs {
			if !got[k] {
				t.Errorf("segment %s of the kept conversation was deleted", k)
			}
		}
		if len(got) != len(keptSegs) {
			t.Errorf("%d segment objects left, want the kept conversation's %d", len(got), len(keptSegs))
		}
		if !strings.Contains(logs.String(), `"msg":"gc finished"`) || !strings.Contains(logs.String(), `"request_id":"test-request"`) {
			t.Errorf("log lacks the result or the request id:\n%s", &logs)
		}

		// A fresh vault (no cache) reads the kept conversation back exactly.
		fresh := ts.Open(t, vault.Options{})
		got2, err := fresh.Retrieve(ctx, "kept")
		if err != nil {
			t.Fatal(err)
		}
		gotJSON, err := conversation.Marshal(got2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotJSON, keptJSON) {
			t.Errorf("kept conversation changed:\n got %.300s\nwant %.300s", gotJSON, keptJSON)
		}
		for _, id := range []string{"gone-a", "gone-b"} {
			if _, err := fresh.Retrieve(ctx, id); !errors.Is(err, vault.ErrNotFound) {
				t.Errorf("retrieve deleted %s: %v, want ErrNotFound", id, err)
			}
		}

		again := run(t, cfg, scheduledEvent(t), 5*time.Minute)
		if again.GC.Candidates != 0 || again.GC.Deleted != 0 {
			t.Errorf("second run %+v, want nothing left to do", *again.GC)
		}
	})

	t.Run("verify finds the store intact", func(t *testing.T) {
		res := run(t, cfg, json.RawMessage(`{"action":"verify"}`), 5*time.Minute)
		if res.Verify == nil || !res.Verify.OK() || res.Verify.Manifests != 1 || res.Verify.MissingSegments != 0 || res.Verify.MissingRefs != 0 {
			t.Errorf("verify result %+v", res.Verify)
		}
		// The alarm on lost references (terraform/modules/stowken) matches the vault's "verify"
		// log line by these fields.
		var found bool
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "verify" {
				continue
			}
			found = true
			for _, field := range []string{"ok", "missing_segments", "missing_refs"} {
				if _, ok := m[field]; !ok {
					t.Errorf("the verify log line has no %q field: %s", field, line)
				}
			}
		}
		if !found {
			t.Errorf("no log line with msg \"verify\":\n%s", &logs)
		}
	})
}
