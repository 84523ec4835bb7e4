package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/internal/lambdatest"
	"github.com/stowken/stowken/vault"
)

// TestGCUnderRIE runs the function as Lambda runs it, under the AWS Lambda Runtime Interface
// Emulator, configured as a deployment configures it: the store and table URLs without
// endpoints, which come from the SDK's environment (AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL_DYNAMODB) like the region and the credentials. It collects the segments only
// a deleted conversation used, keeps those of the kept one, verifies the store, and fails a
// bad event.
func TestGCUnderRIE(t *testing.T) {
	ts := newTestStore(t)
	bin := lambdatest.Build(t, ".")
	ctx := context.Background()

	// The emulator starts the function at the first invocation, below.
	rie := lambdatest.StartRIE(t, bin, ts.FunctionEnv(t, map[string]string{
		EnvGrace:                          "0s",
		"AWS_LAMBDA_FUNCTION_NAME":        "stowken-gc",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "120",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
	}))

	// The deleted conversation shares the kept one's system prompt: the segments it adds are
	// its own.
	v := ts.Open(t, vault.Options{StoreTimeout: retireTimeout})
	if _, err := v.Store(ctx, conv("kept", 100)); err != nil {
		t.Fatal(err)
	}
	keptSegs := ts.Keys(t, "segments/")
	if _, err := v.Store(ctx, conv("gone", 200)); err != nil {
		t.Fatal(err)
	}
	own := len(ts.Keys(t, "segments/")) - len(keptSegs)
	if own == 0 {
		t.Fatal("the deleted conversation added no segment of its own: the test data is too small to test anything")
	}
	if err := v.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// Retire its batch as TestGCAgainstServers does: the function's collector, with 30-minute
	// claims, would leave it for a quarter of an hour.
	time.Sleep(retireTimeout + retireTimeout/2 + time.Second)
	retirer := ts.Open(t, vault.Options{StoreTimeout: retireTimeout, ClaimTTL: retireTimeout})
	if rep, err := retirer.GC(ctx, vault.GCOptions{}); err != nil || rep.Deleted != 1 {
		t.Fatalf("retiring the deleted conversation's batch: %+v, %v; want its batch object deleted", rep, err)
	}

	invoke := func(t *testing.T, event string) Result {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		body, err := rie.Invoke(ctx, []byte(event))
		if err != nil {
			t.Fatalf("invoke %s: %v", event, err)
		}
		var res Result
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatalf("response %s: %v", body, err)
		}
		return res
	}

	t.Run("gc", func(t *testing.T) {
		res := invoke(t, `{}`)
		if r := res.GC; res.Action != ActionGC || res.Partial || r == nil {
			t.Fatalf("result %+v, want a complete gc run", res)
		}
		if r := res.GC; r.GraceSeconds != 0 || r.Deleted != own || r.Claimed != own || r.BytesFreed <= 0 ||
			r.Referenced != r.Candidates-r.Deleted || r.Referenced == 0 {
			t.Errorf("gc report %+v, want grace 0, %d segments deleted and the shared ones still referenced", *r, own)
		}
		if res.Requests.DDBRRU <= 0 || res.Requests.DDBWRU <= 0 {
			t.Errorf("requests %+v, want DynamoDB reads and writes counted", res.Requests)
		}
		got := ts.Keys(t, "segments/")
		if len(got) != len(keptSegs) {
			t.Errorf("%d segment objects left, want the kept conversation's %d", len(got), len(keptSegs))
		}
		for k := range keptSegs {
			if !got[k] {
				t.Errorf("segment %s of the kept conversation was deleted", k)
			}
		}
		if !strings.Contains(rie.Logs(), `"msg":"gc finished"`) {
			t.Errorf("the function's log has no \"gc finished\" line:\n%s", rie.Logs())
		}
	})

	t.Run("verify", func(t *testing.T) {
		res := invoke(t, `{"action":"verify"}`)
		if r := res.Verify; res.Action != ActionVerify || res.Partial || r == nil || !r.OK() ||
			r.Manifests != 1 || r.Segments != len(keptSegs) || res.ProblemsTotal != 0 {
			t.Errorf("result %+v (verify %+v), want the kept conversation and its %d segments intact", res, res.Verify, len(keptSegs))
		}
	})

	t.Run("bad event", func(t *testing.T) {
		body, err := rie.Invoke(ctx, []byte(`{"action":"bogus"}`))
		var fnErr *lambdatest.FunctionError
		if !errors.As(err, &fnErr) || !strings.Contains(fnErr.Message, `"action" is "bogus"`) {
			t.Errorf("invoke: %v (response %s), want a function error naming the action", err, body)
		}
	})
}
