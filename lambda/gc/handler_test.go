package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/vault"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	const store, refs = "s3://bucket/prefix", "dynamodb://table"
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{EnvStore: store, EnvRefs: refs}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr []string // substrings of the error, all required; nil: no error
	}{
		{
			name: "defaults",
			env:  base(nil),
			want: Config{Store: store, Refs: refs, GC: vault.GCOptions{Grace: 24 * time.Hour, Lease: true}, SafetyMargin: 30 * time.Second, LogLevel: slog.LevelInfo},
		},
		{
			name: "everything set",
			env: base(map[string]string{EnvGrace: "90m", EnvBudget: "500", EnvDryRun: "true",
				EnvSafetyMargin: "45s", EnvLogLevel: "debug", EnvSketches: "true"}),
			want: Config{Store: store, Refs: refs, GC: vault.GCOptions{Grace: 90 * time.Minute, Budget: 500, DryRun: true, Lease: true},
				SafetyMargin: 45 * time.Second, LogLevel: slog.LevelDebug, Sketches: true},
		},
		{
			name: "zero grace, explicit false, blanks trimmed",
			env:  base(map[string]string{EnvGrace: " 0s ", EnvBudget: "0", EnvDryRun: "false", EnvStore: " " + store + " "}),
			want: Config{Store: store, Refs: refs, GC: vault.GCOptions{Lease: true}, SafetyMargin: 30 * time.Second, LogLevel: slog.LevelInfo},
		},
		{
			name: "path style store URL",
			env:  base(map[string]string{EnvStore: "s3://bucket/a/b?path_style=true"}),
			want: Config{Store: "s3://bucket/a/b?path_style=true", Refs: refs, GC: vault.GCOptions{Grace: 24 * time.Hour, Lease: true}, SafetyMargin: 30 * time.Second, LogLevel: slog.LevelInfo},
		},
		{name: "no store", env: map[string]string{EnvRefs: refs}, wantErr: []string{"STOWKEN_STORE is not set", "s3://BUCKET/PREFIX"}},
		{name: "no refs", env: map[string]string{EnvStore: store}, wantErr: []string{"STOWKEN_REFS is not set", "dynamodb://TABLE"}},
		{name: "local store", env: map[string]string{EnvStore: "/var/data"}, wantErr: []string{"STOWKEN_REFS is not set"}},
		{name: "local store with refs", env: base(map[string]string{EnvStore: "/var/data"}), wantErr: []string{"STOWKEN_STORE", "local store"}},
		{name: "file store", env: map[string]string{EnvStore: "file:///var/data", EnvRefs: ""}, wantErr: []string{"STOWKEN_REFS is not set"}},
		{name: "refs not dynamodb", env: base(map[string]string{EnvRefs: "redis://x"}), wantErr: []string{"STOWKEN_REFS", "dynamodb://TABLE"}},
		{name: "unknown scheme", env: base(map[string]string{EnvStore: "gs://bucket/x"}), wantErr: []string{"STOWKEN_STORE", "unsupported scheme"}},
		{name: "grace not a duration", env: base(map[string]string{EnvGrace: "24"}), wantErr: []string{"STOWKEN_GC_GRACE=\"24\"", "Go duration"}},
		{name: "grace days", env: base(map[string]string{EnvGrace: "1d"}), wantErr: []string{"STOWKEN_GC_GRACE"}},
		{name: "negative grace", env: base(map[string]string{EnvGrace: "-1h"}), wantErr: []string{"STOWKEN_GC_GRACE", "negative"}},
		{name: "budget not a number", env: base(map[string]string{EnvBudget: "lots"}), wantErr: []string{"STOWKEN_GC_BUDGET=\"lots\"", "whole number"}},
		{name: "negative budget", env: base(map[string]string{EnvBudget: "-5"}), wantErr: []string{"STOWKEN_GC_BUDGET", "negative"}},
		{name: "sketches not a bool", env: base(map[string]string{EnvSketches: "yes please"}), wantErr: []string{"STOWKEN_SKETCHES=\"yes please\"", "true or false"}},
		{name: "dry run not a bool", env: base(map[string]string{EnvDryRun: "maybe"}), wantErr: []string{"STOWKEN_GC_DRY_RUN=\"maybe\"", "true or false"}},
		{name: "bad margin", env: base(map[string]string{EnvSafetyMargin: "soon"}), wantErr: []string{"STOWKEN_GC_SAFETY_MARGIN"}},
		{name: "bad log level", env: base(map[string]string{EnvLogLevel: "loud"}), wantErr: []string{"STOWKEN_LOG_LEVEL"}},
		{
			name:    "every problem is reported",
			env:     base(map[string]string{EnvGrace: "x", EnvBudget: "y", EnvDryRun: "z"}),
			wantErr: []string{"STOWKEN_GC_GRACE", "STOWKEN_GC_BUDGET", "STOWKEN_GC_DRY_RUN"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(env(tt.env))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, config %+v", got)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestActionOf(t *testing.T) {
	tests := []struct {
		event, want string
		wantErr     bool
	}{
		{`{}`, ActionGC, false},
		{`null`, ActionGC, false},
		{``, ActionGC, false},
		{`"tick"`, ActionGC, false},
		{`[1,2]`, ActionGC, false},
		{`{"version":"0","detail-type":"Scheduled Event","source":"aws.scheduler","detail":{}}`, ActionGC, false},
		{`{"action":"gc"}`, ActionGC, false},
		{`{"action":"verify"}`, ActionVerify, false},
		{`{"action":"repair"}`, "", true},
		{`{"action":1}`, "", true},
		{`{"action":""}`, "", true},
	}
	for _, tt := range tests {
		got, err := actionOf(json.RawMessage(tt.event))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("actionOf(%s) = %q, %v; want %q, error %v", tt.event, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestWorkDeadline(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		remaining time.Duration // 0: no deadline
		margin    time.Duration
		want      time.Duration // from now
	}{
		{"15 minutes", 15 * time.Minute, 30 * time.Second, 14*time.Minute + 30*time.Second},
		{"exactly twice the margin", time.Minute, 30 * time.Second, 30 * time.Second},
		{"short timeout: half the time", 40 * time.Second, 30 * time.Second, 20 * time.Second},
		{"no margin", time.Minute, 0, time.Minute},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithDeadline(context.Background(), now.Add(tt.remaining))
		got, ok := workDeadline(ctx, tt.margin, now)
		cancel()
		if !ok || !got.Equal(now.Add(tt.want)) {
			t.Errorf("%s: got %v (%v), want now+%v", tt.name, got.Sub(now), ok, tt.want)
		}
	}
	if _, ok := workDeadline(context.Background(), time.Second, now); ok {
		t.Error("a context without deadline got a work deadline")
	}
}

// fakeVault is a collector whose GC and Verify are functions.
type fakeVault struct {
	gc     func(ctx context.Context, opts vault.GCOptions) (vault.GCReport, error)
	verify func(ctx context.Context, opts vault.VerifyOptions) (vault.VerifyReport, error)
	closed bool
}

func (f *fakeVault) GC(ctx context.Context, o vault.GCOptions) (vault.GCReport, error) {
	return f.gc(ctx, o)
}
func (f *fakeVault) Verify(ctx context.Context, o vault.VerifyOptions) (vault.VerifyReport, error) {
	return f.verify(ctx, o)
}
func (f *fakeVault) Inbox(context.Context) (int, time.Time, error) {
	return 2, time.Now().Add(-90 * time.Minute), nil
}
func (f *fakeVault) Close() error      { f.closed = true; return nil }
func (f *fakeVault) Usage() cost.Usage { return cost.Usage{S3Delete: 1} }

// logLines parses JSON log output into one map per line.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		out = append(out, m)
	}
	return out
}

// findLog returns the first log line with msg, or fails.
func findLog(t *testing.T, lines []map[string]any, msg string) map[string]any {
	t.Helper()
	for _, l := range lines {
		if l["msg"] == msg {
			return l
		}
	}
	t.Fatalf("no log line with msg %q in %v", msg, lines)
	return nil
}

func TestHandle(t *testing.T) {
	cfg := Config{Store: "s3://b/p", Refs: "dynamodb://t", GC: vault.GCOptions{Grace: time.Hour, Budget: 7, DryRun: true, Lease: true}, SafetyMargin: 200 * time.Millisecond}
	report := vault.GCReport{Candidates: 5, TooYoung: 1, Referenced: 1, Claimed: 2, LostClaims: 0, Deleted: 2, BytesFreed: 2048, NoHead: 1, Duration: 1500 * time.Millisecond}
	errBoom := errors.New("boom")
	// blockGC waits until its context ends, like a GC with more work than time.
	blockGC := func(ctx context.Context, _ vault.GCOptions) (vault.GCReport, error) {
		<-ctx.Done()
		return vault.GCReport{Candidates: 100, Deleted: 3}, fmt.Errorf("vault: gc segment x: %w", ctx.Err())
	}
	tests := []struct {
		name        string
		event       string
		timeout     time.Duration // 0: no deadline
		gc          func(context.Context, vault.GCOptions) (vault.GCReport, error)
		verify      func(context.Context, vault.VerifyOptions) (vault.VerifyReport, error)
		openErr     error
		wantErr     string
		wantPartial bool
		wantLog     string // msg of the final line
		wantLevel   string
	}{
		{
			name:  "scheduled gc",
			event: `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.scheduler","time":"2026-01-01T00:00:00Z","detail":{}}`,
			gc: func(_ context.Context, o vault.GCOptions) (vault.GCReport, error) {
				if o != cfg.GC {
					return vault.GCReport{}, fmt.Errorf("GC got %+v, want %+v", o, cfg.GC)
				}
				return report, nil
			},
			wantLog: "gc finished", wantLevel: "INFO",
		},
		{
			name:  "gc fails",
			event: `{}`,
			gc: func(context.Context, vault.GCOptions) (vault.GCReport, error) {
				return vault.GCReport{Candidates: 1}, errBoom
			},
			wantErr: "boom", wantLog: "gc failed", wantLevel: "ERROR",
		},
		{
			name: "gc stops at the safety deadline", event: `{}`, timeout: 2 * time.Second, gc: blockGC,
			wantPartial: true, wantLog: "gc stopped at the safety deadline; the next run continues", wantLevel: "WARN",
		},
		{
			name: "short timeout: gc gets half of it", event: `{}`, timeout: 300 * time.Millisecond, gc: blockGC,
			wantPartial: true, wantLog: "gc stopped at the safety deadline; the next run continues", wantLevel: "WARN",
		},
		{
			name:  "verify",
			event: `{"action":"verify"}`,
			verify: func(_ context.Context, o vault.VerifyOptions) (vault.VerifyReport, error) {
				if o.Repair {
					return vault.VerifyReport{}, errors.New("verify must not repair")
				}
				return vault.VerifyReport{Manifests: 3, Segments: 4}, nil
			},
			wantLog: "verify finished", wantLevel: "INFO",
		},
		{
			name:    "verify runs out of time",
			event:   `{"action":"verify"}`,
			timeout: time.Second,
			verify: func(ctx context.Context, _ vault.VerifyOptions) (vault.VerifyReport, error) {
				<-ctx.Done()
				return vault.VerifyReport{}, ctx.Err()
			},
			wantErr: "did not finish", wantPartial: true, wantLog: "verify failed", wantLevel: "ERROR",
		},
		{name: "open fails", event: `{}`, openErr: errBoom, wantErr: "open s3://b/p", wantLog: "open failed", wantLevel: "ERROR"},
		{name: "unknown action", event: `{"action":"compact"}`, wantErr: `"compact"`, wantLog: "bad event", wantLevel: "ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var parentDeadline time.Time
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
				parentDeadline, _ = ctx.Deadline()
			}
			fv := &fakeVault{gc: tt.gc, verify: tt.verify}
			if tt.gc != nil {
				// Every GC must run under a deadline that leaves time before the invocation's.
				inner := tt.gc
				fv.gc = func(c context.Context, o vault.GCOptions) (vault.GCReport, error) {
					if tt.timeout > 0 {
						dl, ok := c.Deadline()
						if !ok || !dl.Before(parentDeadline) {
							t.Errorf("GC deadline %v (%v), invocation deadline %v", dl, ok, parentDeadline)
						}
					}
					return inner(c, o)
				}
			}
			opened := false
			open := func(context.Context, Config, *slog.Logger) (collector, error) {
				opened = true
				if tt.openErr != nil {
					return nil, tt.openErr
				}
				return fv, nil
			}
			var buf bytes.Buffer
			res, err := handle(ctx, cfg, json.RawMessage(tt.event), newLogger(&buf, slog.LevelInfo), open)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if res.Partial != tt.wantPartial {
				t.Errorf("partial = %v, want %v", res.Partial, tt.wantPartial)
			}
			if opened && tt.openErr == nil && !fv.closed {
				t.Error("the vault was not closed")
			}
			if opened && tt.openErr == nil && res.Requests.S3Delete != 1 {
				t.Errorf("result's requests %+v, want the vault's usage", res.Requests)
			}
			if tt.timeout > 0 && ctx.Err() != nil {
				t.Errorf("handler returned only after the invocation deadline")
			}
			lines := logLines(t, &buf)
			last := lines[len(lines)-1]
			if last["msg"] != tt.wantLog || last["level"] != tt.wantLevel {
				t.Errorf("last log line %v, want msg %q at %s", last, tt.wantLog, tt.wantLevel)
			}
			if tt.wantErr != "" {
				return
			}
			invoked := findLog(t, lines, "invoked")
			if got, _ := json.Marshal(invoked["event"]); !jsonEqual(t, got, []byte(tt.event)) {
				t.Errorf("logged event %s, want %s", got, tt.event)
			}
			// A collection logs what waits in the inbox, for the inbox-age alarm.
			if tt.wantLog == "gc finished" {
				if l := findLog(t, lines, "inbox"); l["objects"] != 2.0 || l["oldest_seconds"].(float64) < 5400 {
					t.Errorf("inbox log line %v, want 2 objects, the oldest 90 minutes old", l)
				}
			}
			// The logged result is the returned one.
			logged, _ := json.Marshal(last["result"])
			returned, _ := json.Marshal(res)
			if !jsonEqual(t, logged, returned) {
				t.Errorf("logged result %s, returned %s", logged, returned)
			}
		})
	}
}

func TestHandleResultFields(t *testing.T) {
	cfg := Config{Store: "s3://b/p", Refs: "dynamodb://t", GC: vault.GCOptions{Grace: time.Hour, Budget: 7, Lease: true}}
	rep := vault.GCReport{GraceSeconds: 3600, Budget: 7, Candidates: 5, TooYoung: 1, Referenced: 1, Claimed: 2, LostClaims: 3, Deleted: 2,
		BytesFreed: 2048, NoHead: 1, Duration: 1500 * time.Millisecond, DurationSeconds: 1.5}
	fv := &fakeVault{gc: func(context.Context, vault.GCOptions) (vault.GCReport, error) { return rep, nil }}
	open := func(context.Context, Config, *slog.Logger) (collector, error) { return fv, nil }
	res, err := handle(context.Background(), cfg, json.RawMessage(`{}`), slog.New(slog.DiscardHandler), open)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res)
	want := `{"action":"gc","partial":false,"gc":{"dry_run":false,"grace_seconds":3600,"budget":7,"candidates":5,"too_young":1,` +
		`"referenced":1,"claimed":2,"lost_claims":3,"deleted":2,"bytes_freed":2048,"no_head":1,"compacted_batches":0,"moved_conversations":0,"gathered_entries":0,"duration_seconds":1.5},` +
		`"requests":{"s3_put_class":0,"s3_get_class":0,"s3_delete":1,"ddb_wru":0,"ddb_rru":0,"sqs_requests":0,` +
		`"lambda_invocations":0,"lambda_gb_seconds":0,"firehose_bytes":0,"s3_bytes":0,"ddb_bytes":0}}`
	if string(got) != want {
		t.Errorf("result\n got %s\nwant %s", got, want)
	}
}

func TestNewHandlerConfigError(t *testing.T) {
	_, cfgErr := ConfigFromEnv(env(nil))
	if cfgErr == nil {
		t.Fatal("empty environment accepted")
	}
	var buf bytes.Buffer
	h := newHandler(Config{}, cfgErr, newLogger(&buf, slog.LevelInfo))
	_, err := h(context.Background(), json.RawMessage(`{"source":"aws.scheduler"}`))
	if !errors.Is(err, cfgErr) {
		t.Fatalf("error %v, want the configuration error", err)
	}
	l := findLog(t, logLines(t, &buf), "invalid configuration")
	if l["level"] != "ERROR" || !strings.Contains(fmt.Sprint(l["err"]), EnvStore) {
		t.Errorf("log line %v", l)
	}
}

func TestLoggable(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelInfo)
	log.Info("a", "event", loggable(json.RawMessage(`{"k": [1, 2]}`)))
	log.Info("b", "event", loggable(json.RawMessage(`{not json`)))
	log.Info("c", "event", loggable(json.RawMessage(`"`+strings.Repeat("x", 2*maxLoggedEvent)+`"`)))
	lines := logLines(t, &buf)
	if got, _ := json.Marshal(lines[0]["event"]); string(got) != `{"k":[1,2]}` {
		t.Errorf("event logged as %s", got)
	}
	if lines[1]["event"] != "{not json" {
		t.Errorf("invalid event logged as %v", lines[1]["event"])
	}
	if s, _ := lines[2]["event"].(string); len(s) > maxLoggedEvent+100 || !strings.Contains(s, "bytes)") {
		t.Errorf("long event logged as %d bytes", len(s))
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}
