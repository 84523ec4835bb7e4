// Package lambdatest runs the repository's Lambda functions in tests as AWS Lambda runs them:
// the binary built the way `make lambda` builds it (Build), under the AWS Lambda Runtime
// Interface Emulator (StartRIE), which scripts/tools.sh installs (scripts/tools.sh rie) and
// scripts/with-servers.sh names in STOWKEN_TEST_RIE.
//
// A test binary that calls Build removes the binaries at the end with RemoveBuilds:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		lambdatest.RemoveBuilds()
//		os.Exit(code)
//	}
package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stowken/stowken/internal/testenv"
)

// EnvRIE names the aws-lambda-rie binary. scripts/with-servers.sh sets it to the one
// scripts/tools.sh installs (RIE in `scripts/tools.sh paths`) unless it is set already.
const EnvRIE = "STOWKEN_TEST_RIE"

// builds holds the binaries built by this test binary, one per package, in dir.
var builds struct {
	mu   sync.Mutex
	dir  string
	pkgs map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Build returns the path of the Lambda function in package pkg (a directory such as "." or
// "../gc", relative to the test's directory, or an import path) built as `make lambda` builds
// it: "bootstrap", with -tags lambda.norpc, -trimpath, -ldflags='-s -w' and CGO_ENABLED=0, for
// the host's GOOS and GOARCH. Each package is built once per test binary. It skips the test
// under -short, since building takes seconds.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: builds the Lambda function binary (-short)")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.SkipOrFatal(t, "no go command to build the Lambda function %s with: %v", pkg, err)
	}
	builds.mu.Lock()
	if builds.pkgs == nil {
		builds.pkgs = map[string]*build{}
	}
	b := builds.pkgs[pkg]
	if b == nil {
		b = &build{}
		builds.pkgs[pkg] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(goTool, pkg) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// goBuild builds pkg into a directory of its own under builds.dir.
func goBuild(goTool, pkg string) (string, error) {
	builds.mu.Lock()
	var err error
	if builds.dir == "" {
		builds.dir, err = os.MkdirTemp("", "stowken-lambdatest-")
	}
	root := builds.dir
	builds.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("lambdatest: build %s: %w", pkg, err)
	}
	dir, err := os.MkdirTemp(root, "fn-")
	if err != nil {
		return "", fmt.Errorf("lambdatest: build %s: %w", pkg, err)
	}
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.Command(goTool, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("lambdatest: go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// RemoveBuilds removes the binaries Build built; TestMain calls it after the tests ran.
func RemoveBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
}

// RIE is a Lambda function running under the AWS Lambda Runtime Interface Emulator.
type RIE struct {
	// Addr is the host:port of the emulator's invoke API.
	Addr   string
	logs   logBuffer
	exited chan struct{}
	err    error // how the emulator exited, once exited is closed
}

// StartRIE starts the Lambda function binary bootstrap (from Build) under aws-lambda-rie
// (named by EnvRIE) on free ports of 127.0.0.1, and stops it, with the function, when the test
// ends. The emulator and the function see env and nothing of the test's environment, as a
// deployed function sees its configuration: the AWS_REGION and credentials the function needs
// go in env, and so do the emulator's settings (AWS_LAMBDA_FUNCTION_TIMEOUT in seconds, 300
// by default; AWS_LAMBDA_FUNCTION_NAME; AWS_LAMBDA_FUNCTION_MEMORY_SIZE). The output of both
// (Logs) is logged when the test ends. The emulator starts the function at the first Invoke.
//
// Without EnvRIE, or when the binary it names is missing, it skips the test, or fails it under
// CI=true.
func StartRIE(t testing.TB, bootstrap string, env map[string]string) *RIE {
	t.Helper()
	rie := os.Getenv(EnvRIE)
	if rie == "" {
		testenv.SkipOrFatal(t, "%s not set: running the Lambda function needs aws-lambda-rie; "+
			"run scripts/tools.sh rie and the tests with scripts/with-servers.sh, or set %s to the binary", EnvRIE, EnvRIE)
	}
	if _, err := os.Stat(rie); err != nil {
		testenv.SkipOrFatal(t, "aws-lambda-rie unavailable (%s=%s): %v; run scripts/tools.sh rie", EnvRIE, rie, err)
	}
	bootstrap, err := filepath.Abs(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	// The invoke API, and the Runtime API the function polls (9001 by default, which would
	// collide with another emulator running in parallel).
	addrs := freeAddrs(t, 2)
	r := &RIE{Addr: addrs[0], exited: make(chan struct{})}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, rie, "--runtime-interface-emulator-address", addrs[0],
		"--runtime-api-address", addrs[1], bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = []string{} // env only, not the test's environment
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = &r.logs, &r.logs
	// On SIGTERM the emulator kills the function (in a process group of its own) and exits.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("lambdatest: start aws-lambda-rie: %v", err)
	}
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.exited
		t.Logf("aws-lambda-rie %s (%s), its output and the function's:\n%s", bootstrap, r.Addr, r.Logs())
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", r.Addr, time.Second)
		if err == nil {
			conn.Close()
			return r
		}
		select {
		case <-r.exited:
			t.Fatalf("lambdatest: aws-lambda-rie exited before it listened on %s: %v", r.Addr, r.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("lambdatest: aws-lambda-rie does not listen on %s: %v", r.Addr, err)
		}
	}
}

// freeAddrs returns n distinct free 127.0.0.1 addresses.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until all are chosen, so that they differ
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// FunctionError is an error the function returned (or a crash, or a timeout), as the emulator
// reports it.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("lambda function error %s: %s", e.Type, e.Message)
}

// Invoke invokes the function with payload, as the Lambda Invoke API does (RequestResponse),
// and returns its response. Invocations run one at a time. When the function fails, the
// emulator still answers 200, with the error JSON ({"errorMessage", "errorType"}) as the body
// and no X-Amz-Function-Error header, or with "Task timed out after N.00 seconds": Invoke then
// returns that body and a *FunctionError.
func (r *RIE) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://"+r.Addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("lambdatest: invoke: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("lambdatest: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("lambdatest: invoke: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("lambdatest: invoke: %s: %s", resp.Status, body)
	}
	if bytes.HasPrefix(body, []byte("Task timed out after ")) {
		// Lambda itself reports this error type.
		return body, &FunctionError{Type: "Sandbox.Timedout", Message: string(body)}
	}
	var fnErr FunctionError
	if json.Unmarshal(body, &fnErr) == nil && fnErr.Type != "" {
		return body, &fnErr
	}
	return body, nil
}

// Logs returns what the emulator and the function wrote so far (stdout and stderr): the
// emulator's log, START/END/REPORT lines, and the function's log lines.
func (r *RIE) Logs() string {
	return r.logs.String()
}

// logBuffer is a bytes.Buffer safe for a writer and readers at the same time.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
