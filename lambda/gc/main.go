// Command gc is stowken's garbage-collection function for AWS Lambda (runtime provided.al2023:
// build it as "bootstrap" with -tags lambda.norpc; `make lambda` does).
//
// An EventBridge Scheduler schedule invokes it. The event is any JSON and is logged; an object
// with "action": "verify" runs a read-only vault.Verify instead of the collector (for a second,
// rarer schedule; its findings are what the lost-reference alarm watches). Everything else
// runs vault.GC.
//
// Configuration comes from the environment:
//
//	STOWKEN_STORE             s3://BUCKET/PREFIX (required)
//	STOWKEN_REFS              dynamodb://TABLE (required)
//	STOWKEN_GC_GRACE          Go duration, default 24h: keep segments unreferenced for less
//	STOWKEN_GC_BUDGET         segments to delete at most per run, default 0 (no limit)
//	STOWKEN_GC_DRY_RUN        true: report what would be deleted, change nothing (default false)
//	STOWKEN_GC_SAFETY_MARGIN  Go duration, default 30s: stop this long before the deadline
//	STOWKEN_LOG_LEVEL         debug, info (default), warn or error
//
// AWS region, endpoints and credentials come from the SDK's standard chain (the Lambda
// execution role). Logs are JSON lines on stdout (log/slog), one "invoked" line, the vault's
// "gc" (or "verify") line, and a "gc finished" ("verify finished") line carrying the result, which is
// also the invocation's response. Failures are logged at level ERROR and returned as errors.
// A run that reaches the safety deadline stops, logs a warning and returns its partial result
// with "partial": true; the next run continues.
//
// docs/design.md ("Data flow", "GC") describes a collection step by step.
package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	cfg, cfgErr := ConfigFromEnv(os.Getenv)
	log := newLogger(os.Stdout, cfg.LogLevel)
	if cfgErr != nil {
		log.Error("invalid configuration", "err", cfgErr)
	}
	lambda.Start(newHandler(cfg, cfgErr, log))
}

// newLogger returns the JSON logger the function writes to w.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// newHandler returns the function's handler. A configuration error fails every invocation
// with that error (and logs it), so that it shows in the invocation's result and in the
// function's Errors metric.
func newHandler(cfg Config, cfgErr error, log *slog.Logger) func(context.Context, json.RawMessage) (Result, error) {
	return func(ctx context.Context, event json.RawMessage) (Result, error) {
		if cfgErr != nil {
			log.Error("invalid configuration", "event", loggable(event), "err", cfgErr)
			return Result{}, cfgErr
		}
		return Handle(ctx, cfg, event, log)
	}
}
