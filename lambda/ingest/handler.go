package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/ingest"
	"github.com/stowken/stowken/internal/meter"
	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/location/aws"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/vault"
)

// backends are the store backends the function opens: S3 + DynamoDB only.
var backends = location.NewRegistry(aws.Backend{})

// Handler handles the function's invocations. It opens the vault at the first one and keeps
// it for the next.
type Handler struct {
	Config Config
	Log    *slog.Logger
	// Open opens the vault and its bucket (nil: the store Config names, with backends).
	Open func(ctx context.Context, cfg Config, log *slog.Logger) (*vault.Vault, objstore.Bucket, error)

	mu     sync.Mutex
	v      *vault.Vault
	bucket objstore.Bucket // metered in inboxUsage
	// inboxUsage meters the requests for inbox objects (reading, reporting and deleting
	// them), which the vault's own meter does not see.
	inboxUsage cost.Meter
}

// InboxResult is the result of an invocation by S3 notifications.
type InboxResult struct {
	Objects []ingest.InboxReport `json:"objects"`
	// Requests is what the invocation's requests cost, in billing units: the vault's and
	// those for the inbox objects.
	Requests cost.Usage `json:"requests"`
}

// usage is what the vault's requests and the inbox's have cost so far.
func (h *Handler) usage(v *vault.Vault) cost.Usage { return v.Usage().Add(h.inboxUsage.Usage()) }

// open returns the vault and its bucket, opening them at the first call.
func (h *Handler) open(ctx context.Context) (*vault.Vault, objstore.Bucket, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.v != nil {
		return h.v, h.bucket, nil
	}
	open := h.Open
	if open == nil {
		open = openStore
	}
	v, b, err := open(ctx, h.Config, h.Log)
	if err != nil {
		return nil, nil, fmt.Errorf("stowken ingest: open %s (refs %s): %w", h.Config.Store, h.Config.Refs, err)
	}
	h.v, h.bucket = v, meter.Bucket(b, &h.inboxUsage, func(string) cost.Part { return cost.Other })
	return h.v, h.bucket, nil
}

// openStore opens the store cfg names.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (*vault.Vault, objstore.Bucket, error) {
	return backends.OpenStore(ctx, cfg.Store, cfg.Refs, vault.Options{Logger: log, Sketches: cfg.Sketches}, false)
}

// Handle runs one invocation: an S3 notification event (InboxResult) or an SQS event
// (events.SQSEventResponse), told apart by their records' event source.
func (h *Handler) Handle(ctx context.Context, event json.RawMessage) (any, error) {
	log := h.Log
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("request_id", lc.AwsRequestID)
	}
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		}
	}
	if err := json.Unmarshal(event, &probe); err != nil || len(probe.Records) == 0 {
		err = fmt.Errorf("stowken ingest: the event is neither an S3 notification nor an SQS batch (no records)")
		log.Error("bad event", "err", err)
		return nil, err
	}
	v, bucket, err := h.open(ctx)
	if err != nil {
		log.Error("open failed", "err", err)
		return nil, err
	}
	switch src := probe.Records[0].EventSource; src {
	case "aws:s3":
		var e events.S3Event
		if err := json.Unmarshal(event, &e); err != nil {
			return nil, fmt.Errorf("stowken ingest: S3 event: %w", err)
		}
		return h.inbox(ctx, log, v, bucket, e)
	case "aws:sqs":
		var e events.SQSEvent
		if err := json.Unmarshal(event, &e); err != nil {
			return nil, fmt.Errorf("stowken ingest: SQS event: %w", err)
		}
		return h.messages(ctx, log, v, e), nil
	default:
		err := fmt.Errorf("stowken ingest: records from %q: want aws:s3 or aws:sqs", src)
		log.Error("bad event", "err", err)
		return nil, err
	}
}

// inbox stores the objects the notifications name. Objects outside the store's inbox are
// skipped with a warning (a notification configured too broadly). Every object is processed;
// if any failed, the invocation fails, so that Lambda delivers the event again.
func (h *Handler) inbox(ctx context.Context, log *slog.Logger, v *vault.Vault, bucket objstore.Bucket, e events.S3Event) (InboxResult, error) {
	before := h.usage(v)
	var res InboxResult
	var errs []error
	for _, r := range e.Records {
		key, inStore := strings.CutPrefix(r.S3.Object.URLDecodedKey, h.Config.Prefix)
		if r.S3.Bucket.Name != h.Config.Bucket || !inStore || !strings.HasPrefix(key, ingest.InboxPrefix) {
			log.Warn("skipped: not an object of the store's inbox", "bucket", r.S3.Bucket.Name, "key", r.S3.Object.URLDecodedKey,
				"inbox", "s3://"+h.Config.Bucket+"/"+h.Config.Prefix+ingest.InboxPrefix)
			continue
		}
		rep, err := ingest.Inbox(ctx, v, bucket, key)
		res.Objects = append(res.Objects, rep)
		if err != nil {
			log.Error("inbox object not done; the event will be delivered again", "key", key, "report", rep, "err", err)
			errs = append(errs, err)
			continue
		}
		if rep.Rejected > 0 {
			log.Warn("lines rejected", "key", key, "rejected", rep.Rejected, "rejects", rep.RejectsKey)
		}
	}
	res.Requests = h.usage(v).Sub(before)
	log.Info("ingested", "source", "s3", "result", res)
	return res, errors.Join(errs...)
}

// messages stores an SQS batch and reports the messages that failed.
func (h *Handler) messages(ctx context.Context, log *slog.Logger, v *vault.Vault, e events.SQSEvent) events.SQSEventResponse {
	before := v.Usage()
	msgs := make([]ingest.Message, len(e.Records))
	for i, r := range e.Records {
		msgs[i] = ingest.Message{ID: r.MessageId, Body: r.Body}
	}
	rep := ingest.Messages(ctx, v, msgs)
	var resp events.SQSEventResponse
	for _, f := range rep.Failures {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: f.ID})
		if f.Rejected {
			log.Warn("message rejected: it goes to the dead-letter queue after the queue's maximum receive count", "message_id", f.ID, "reason", f.Reason)
		} else {
			log.Error("message not stored; it will be delivered again", "message_id", f.ID, "reason", f.Reason)
		}
	}
	log.Info("ingested", "source", "sqs", "messages", rep.Messages, "stored", rep.Stored, "existed", rep.Existed,
		"failures", len(rep.Failures), "requests", v.Usage().Sub(before))
	return resp
}
