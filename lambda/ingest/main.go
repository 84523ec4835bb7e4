// Command ingest is stowken's ingest function for AWS Lambda (runtime provided.al2023: build
// it as "bootstrap" with -tags lambda.norpc; `make lambda` does). It stores what producers
// send in batches (package ingest), from two kinds of events:
//
//   - S3 notifications of objects created under the store's inbox prefix (PREFIX/inbox/):
//     each object's lines are stored with StoreBatch, the rejected ones reported beside it
//     (PREFIX/inbox-rejects/), and the object is deleted once every line is stored or
//     rejected (ingest.Inbox). A failure returns an error, so that Lambda delivers the event
//     again; what was stored is then found stored.
//   - SQS batches from an event source mapping with ReportBatchItemFailures: the messages'
//     lines are stored with StoreBatch (ingest.Messages), and the response lists the messages
//     that failed, so that the queue delivers only them again, or, after its maximum receive
//     count, moves them to its dead-letter queue. Each failure is logged with its reason.
//
// Configuration comes from the environment:
//
//	STOWKEN_STORE      s3://BUCKET/PREFIX (required)
//	STOWKEN_REFS       dynamodb://TABLE (required)
//	STOWKEN_LOG_LEVEL  debug, info (default), warn or error
//
// The vault is opened at the first invocation and kept for the next ones of the same
// execution environment. Logs are JSON lines on stdout (log/slog): one "ingested" line per
// invocation with what it stored.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	cfg, cfgErr := ConfigFromEnv(os.Getenv)
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfgErr != nil {
		log.Error("invalid configuration", "err", cfgErr)
	}
	h := &Handler{Config: cfg, Log: log}
	lambda.Start(func(ctx context.Context, event json.RawMessage) (any, error) {
		if cfgErr != nil {
			return nil, cfgErr
		}
		return h.Handle(ctx, event)
	})
}
