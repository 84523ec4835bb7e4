package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/ingest"
	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/location/aws"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/vault"
)

// Actions an event may ask for, in its "action" field. Any other event (an EventBridge event,
// an empty object, null) runs the collector.
const (
	ActionGC     = "gc"
	ActionVerify = "verify"
)

// maxLoggedEvent bounds the event bytes written to the log.
const maxLoggedEvent = 8 << 10

// maxProblems bounds the verify findings returned and logged (the total is always reported).
const maxProblems = 50

// Result is what an invocation returns (and logs as "result").
type Result struct {
	Action string `json:"action"`
	// Partial: the run stopped at the safety deadline before it was done; the next scheduled
	// run continues where it left off (what was collected stays collected).
	Partial bool                `json:"partial"`
	GC      *vault.GCReport     `json:"gc,omitempty"`
	Verify  *vault.VerifyReport `json:"verify,omitempty"`
	// ProblemsTotal counts the verify findings; Verify.Problems holds the first maxProblems.
	ProblemsTotal int `json:"problems_total,omitempty"`
	// Requests is what the invocation's requests to S3 and DynamoDB cost, in billing units.
	Requests cost.Usage `json:"requests"`
}

// collector is what the handler needs of a vault, and of its bucket: what waits in the
// ingest function's inbox (ingest.Waiting).
type collector interface {
	GC(ctx context.Context, opts vault.GCOptions) (vault.GCReport, error)
	Verify(ctx context.Context, opts vault.VerifyOptions) (vault.VerifyReport, error)
	Inbox(ctx context.Context) (objects int, oldest time.Time, err error)
	Usage() cost.Usage
	Close() error
}

// openFunc opens the vault cfg names.
type openFunc func(ctx context.Context, cfg Config, log *slog.Logger) (collector, error)

// backends are the store backends the function opens: S3 + DynamoDB only, so that it links
// no local store.
var backends = location.NewRegistry(aws.Backend{})

// store is the vault the function opens, with its bucket.
type store struct {
	*vault.Vault
	bucket objstore.Bucket
}

func (s store) Inbox(ctx context.Context) (int, time.Time, error) {
	return ingest.Waiting(ctx, s.bucket)
}

func openVault(ctx context.Context, cfg Config, log *slog.Logger) (collector, error) {
	v, b, err := backends.OpenStore(ctx, cfg.Store, cfg.Refs, vault.Options{Logger: log, Sketches: cfg.Sketches}, false)
	if err != nil {
		return nil, err
	}
	return store{v, b}, nil
}

// Handle runs one invocation: it opens the vault cfg names, runs the event's action (the
// collector unless the event says {"action":"verify"}) bounded by the invocation's deadline
// less cfg.SafetyMargin, closes the vault, and returns and logs the result.
func Handle(ctx context.Context, cfg Config, event json.RawMessage, log *slog.Logger) (Result, error) {
	return handle(ctx, cfg, event, log, openVault)
}

func handle(ctx context.Context, cfg Config, event json.RawMessage, log *slog.Logger, open openFunc) (Result, error) {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("request_id", lc.AwsRequestID)
	}
	action, err := actionOf(event)
	if err != nil {
		log.Error("bad event", "event", loggable(event), "err", err)
		return Result{}, err
	}
	res := Result{Action: action}
	stop, bounded := workDeadline(ctx, cfg.SafetyMargin, time.Now())
	attrs := []any{"action", action, "event", loggable(event), "store", cfg.Store, "refs", cfg.Refs,
		"grace", cfg.GC.Grace.String(), "budget", cfg.GC.Budget, "dry_run", cfg.GC.DryRun}
	if bounded {
		dl, _ := ctx.Deadline()
		attrs = append(attrs, "deadline", dl, "stop_at", stop)
	}
	log.Info("invoked", attrs...)

	v, err := open(ctx, cfg, log)
	if err != nil {
		err = fmt.Errorf("stowken gc: open %s (refs %s): %w", cfg.Store, cfg.Refs, err)
		log.Error("open failed", "err", err)
		return res, err
	}
	defer func() {
		if cerr := v.Close(); cerr != nil {
			log.Warn("close failed", "err", cerr)
		}
	}()

	wctx, cancel := ctx, context.CancelFunc(func() {})
	if bounded {
		wctx, cancel = context.WithDeadline(ctx, stop)
	}
	defer cancel()

	switch action {
	case ActionVerify:
		rep, err := v.Verify(wctx, vault.VerifyOptions{})
		res.Requests = v.Usage()
		res.ProblemsTotal = len(rep.Problems)
		if len(rep.Problems) > maxProblems {
			rep.Problems = rep.Problems[:maxProblems]
		}
		res.Verify = &rep
		if err != nil {
			if stoppedAtDeadline(wctx, ctx) {
				res.Partial = true
				err = fmt.Errorf("stowken gc: verify did not finish within the invocation's time (the store is too large for a scheduled verify; run `stowken verify` elsewhere): %w", err)
			} else {
				err = fmt.Errorf("stowken gc: verify: %w", err)
			}
			log.Error("verify failed", "err", err, "result", res)
			return res, err
		}
		log.Info("verify finished", "result", res)
		return res, nil
	default:
		rep, err := v.GC(wctx, cfg.GC)
		res.Requests = v.Usage()
		res.GC = &rep
		if err != nil {
			if stoppedAtDeadline(wctx, ctx) {
				// Not a failure: what was collected stays collected, claims left behind expire,
				// and the next run picks up the remaining candidates.
				res.Partial = true
				log.Warn("gc stopped at the safety deadline; the next run continues", "err", err, "result", res)
				return res, nil
			}
			err = fmt.Errorf("stowken gc: %w", err)
			log.Error("gc failed", "err", err, "result", res)
			return res, err
		}
		res.Partial = rep.Partial
		logInbox(wctx, v, log)
		log.Info("gc finished", "result", res)
		return res, nil
	}
}

// logInbox logs what waits in the ingest function's inbox, for the inbox-age alarm:
// {"msg":"inbox","objects":N,"oldest_seconds":S}.
func logInbox(ctx context.Context, v collector, log *slog.Logger) {
	n, oldest, err := v.Inbox(ctx)
	if err != nil {
		log.Warn("inbox not listed", "err", err)
		return
	}
	age := 0.0
	if n > 0 {
		age = time.Since(oldest).Seconds()
	}
	log.Info("inbox", "objects", n, "oldest_seconds", age)
}

// actionOf returns the action an event asks for: its "action" field when it is a JSON object
// that has one, ActionGC otherwise.
func actionOf(event json.RawMessage) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(event, &obj); err != nil || obj == nil {
		return ActionGC, nil // not an object: a scheduled run
	}
	raw, ok := obj["action"]
	if !ok {
		return ActionGC, nil
	}
	var a string
	if err := json.Unmarshal(raw, &a); err != nil {
		return "", fmt.Errorf("stowken gc: event field \"action\" is %s, want the string %q or %q", raw, ActionGC, ActionVerify)
	}
	switch a {
	case ActionGC, ActionVerify:
		return a, nil
	default:
		return "", fmt.Errorf("stowken gc: event field \"action\" is %q, want %q or %q", a, ActionGC, ActionVerify)
	}
}

// workDeadline returns when the run must stop: margin before ctx's deadline, but no earlier
// than halfway through the time that remains (so a short timeout still gets work done). It
// reports false when ctx has no deadline.
func workDeadline(ctx context.Context, margin time.Duration, now time.Time) (time.Time, bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Time{}, false
	}
	remaining := dl.Sub(now)
	if remaining < 2*margin {
		margin = remaining / 2
	}
	return dl.Add(-margin), true
}

// stoppedAtDeadline reports whether work stopped because wctx, the run's own deadline, expired
// while the invocation (parent) was still alive.
func stoppedAtDeadline(wctx, parent context.Context) bool {
	return errors.Is(wctx.Err(), context.DeadlineExceeded) && parent.Err() == nil
}

// loggable returns the event as a log value: raw JSON when it is valid and small, else a
// (truncated) string.
func loggable(event json.RawMessage) any {
	if len(event) <= maxLoggedEvent && json.Valid(event) {
		return event
	}
	if len(event) > maxLoggedEvent {
		return fmt.Sprintf("%s… (%d bytes)", event[:maxLoggedEvent], len(event))
	}
	return string(event)
}
