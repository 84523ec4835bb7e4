package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/internal/lambdatest"
)

// The tests in this file run the function as Lambda runs it: the binary built the way
// `make lambda` builds it (lambdatest.Build), talking to a fake Lambda Runtime API
// (GET .../invocation/next, POST .../invocation/ID/response or /error).

func TestMain(m *testing.M) {
	code := m.Run()
	lambdatest.RemoveBuilds()
	os.Exit(code)
}

// invocation is what the function sent back for one event.
type invocation struct {
	Kind   string // "response" or "error"
	Body   []byte
	Stdout string
}

// invokeBinary runs the function binary with env (STOWKEN_* variables of the test process are
// not passed on), hands it event through a fake Runtime API with the given timeout, and
// returns what it posted back.
func invokeBinary(t *testing.T, env map[string]string, event string, timeout time.Duration) invocation {
	t.Helper()
	bin := lambdatest.Build(t, ".")
	const requestID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
	results := make(chan invocation, 1)
	done := make(chan struct{})
	var served sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		first := false
		served.Do(func() { first = true })
		if !first { // one invocation per test: park the runtime until the test ends
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		deadline := time.Now().Add(timeout)
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", requestID)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(deadline.UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:stowken-gc")
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(event))
	})
	post := func(kind string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var body bytes.Buffer
			body.ReadFrom(r.Body)
			if r.PathValue("id") != requestID {
				t.Errorf("%s posted for request %q", kind, r.PathValue("id"))
			}
			w.WriteHeader(http.StatusAccepted)
			select {
			case results <- invocation{Kind: kind, Body: body.Bytes()}:
			default:
			}
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", post("response"))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", post("error"))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", post("init error"))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(done)

	var vars []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STOWKEN_") && !strings.HasPrefix(kv, "AWS_LAMBDA_") {
			vars = append(vars, kv)
		}
	}
	vars = append(vars, "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=stowken-gc", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512")
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = vars, &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var res invocation
	select {
	case res = <-results:
		cmd.Process.Kill()
		<-exited
	case err := <-exited:
		t.Fatalf("the function exited (%v) without answering the invocation; stdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	case <-ctx.Done():
		cmd.Process.Kill()
		<-exited
		t.Fatalf("no answer within %v; stdout:\n%s\nstderr:\n%s", timeout+time.Minute, &stdout, &stderr)
	}
	res.Stdout = stdout.String()
	if stderr.Len() > 0 {
		t.Logf("function stderr:\n%s", &stderr)
	}
	return res
}

// TestBinaryConfigError runs the real binary without configuration: the invocation fails with
// an error naming the missing variable, and the log says so at level ERROR.
func TestBinaryConfigError(t *testing.T) {
	res := invokeBinary(t, map[string]string{EnvGrace: "soon"}, `{"source":"aws.scheduler"}`, 30*time.Second)
	if res.Kind != "error" {
		t.Fatalf("the invocation succeeded: %s", res.Body)
	}
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if err := json.Unmarshal(res.Body, &lambdaErr); err != nil {
		t.Fatalf("error body %s: %v", res.Body, err)
	}
	for _, want := range []string{"STOWKEN_STORE is not set", "STOWKEN_GC_GRACE=\"soon\""} {
		if !strings.Contains(lambdaErr.ErrorMessage, want) {
			t.Errorf("error message %q does not contain %q", lambdaErr.ErrorMessage, want)
		}
	}
	var errorLines int
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("stdout line is not JSON: %s", line)
			continue
		}
		if m["level"] == "ERROR" && m["msg"] == "invalid configuration" {
			errorLines++
		}
	}
	if errorLines == 0 {
		t.Errorf("no ERROR line in the log:\n%s", res.Stdout)
	}
}
