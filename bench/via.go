package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/ingest"
	"github.com/stowken/stowken/internal/meter"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/vault"
)

// Routes of Options.Via: how conversations reach StoreBatch from producers that hand them over
// one at a time (package ingest, lambda/ingest).
const (
	// ViaInbox: a Writer's gzip JSONL object under inbox/ per batch, stored by the function.
	ViaInbox = "inbox"
	// ViaFirehose: one delivery-stream record per conversation; the stream writes a gzip
	// object under inbox/ per batch, which the function stores.
	ViaFirehose = "firehose"
	// ViaSQS: one SQS message per conversation; the event source mapping hands the function
	// the batch, in invocations of at most 6 MB.
	ViaSQS = "sqs"
)

// Routes lists the routes of Options.Via.
var Routes = []string{ViaInbox, ViaFirehose, ViaSQS}

// IngestMemoryGB is the ingest function's memory its GB-seconds are priced at: the Terraform
// module's default ingest_memory_size (1,024 MB).
const IngestMemoryGB = 1.0

// Limits of the SQS route: the event source mapping receives 10 messages per ReceiveMessage
// and deletes 10 per DeleteMessageBatch, SQS bills a request per 64 KB of payload, and an
// invocation carries at most 6 MB.
const (
	sqsPerReceive = 10
	sqsChunk      = 64 << 10
	lambdaPayload = 6 << 20
)

// route runs a batch of conversations through a route as the function would see it: the
// route's own requests and the function's invocations and duration (measured here, wall time
// of the ingest code at IngestMemoryGB) are recorded in m under cost.Ingest, the inbox
// objects' requests through bucket (metered into m too).
type route struct {
	via    string
	bucket objstore.Bucket
	m      cost.Meter
}

func newRoute(via string, bucket objstore.Bucket) *route {
	rt := &route{via: via}
	rt.bucket = meter.Bucket(bucket, &rt.m, func(string) cost.Part { return cost.Ingest })
	return rt
}

// capture is a vault seen by the ingest code that keeps the outcome of every conversation, in
// the order the code stores them (the order of the lines).
type capture struct {
	v       *vault.Vault
	mu      sync.Mutex
	results []vault.StoreResult
	errs    []error
}

func (c *capture) StoreBatch(ctx context.Context, cs []*conversation.Conversation) ([]vault.StoreResult, []error) {
	rs, es := c.v.StoreBatch(ctx, cs)
	c.mu.Lock()
	c.results, c.errs = append(c.results, rs...), append(c.errs, es...)
	c.mu.Unlock()
	return rs, es
}

// store hands convs to the ingest code by the route, and returns each one's outcome.
func (rt *route) store(ctx context.Context, v *vault.Vault, convs []*conversation.Conversation) ([]vault.StoreResult, []error, error) {
	lines := make([][]byte, len(convs))
	for i, c := range convs {
		l, err := ingest.Encode(c)
		if err != nil {
			return nil, nil, err // it stored in the analysis: not expected
		}
		lines[i] = l
	}
	cp := &capture{v: v}
	var u cost.Usage
	invoke := func(fn func() error) error {
		t0 := time.Now()
		err := fn()
		u.LambdaInvocations++
		u.LambdaGBSeconds += time.Since(t0).Seconds() * IngestMemoryGB
		return err
	}
	switch rt.via {
	case ViaSQS:
		for start := 0; start < len(lines); {
			var msgs []ingest.Message
			size := 0
			for ; start < len(lines) && (len(msgs) == 0 || size+len(lines[start]) <= lambdaPayload); start++ {
				msgs = append(msgs, ingest.Message{ID: fmt.Sprint(start), Body: string(lines[start])})
				size += len(lines[start])
				u.SQSRequests += chunks(len(lines[start]), sqsChunk) // SendMessage
			}
			for i := 0; i < len(msgs); i += sqsPerReceive {
				group := 0
				for _, m := range msgs[i:min(i+sqsPerReceive, len(msgs))] {
					group += len(m.Body)
				}
				u.SQSRequests += chunks(group, sqsChunk) + 1 // ReceiveMessage, DeleteMessageBatch
			}
			invoke(func() error { ingest.Messages(ctx, cp, msgs); return nil }) // failures are in cp
		}
	case ViaInbox, ViaFirehose:
		var all []byte
		for _, l := range lines {
			all = append(all, l...)
			if rt.via == ViaFirehose {
				u.FirehoseBytes += chunks(len(l), cost.FirehoseRecordBytes) * cost.FirehoseRecordBytes
			}
		}
		data, err := ingest.InboxObject(all)
		if err != nil {
			return nil, nil, err
		}
		key := ingest.InboxKey(time.Now())
		if _, err := rt.bucket.Put(ctx, key, data, objstore.PutOptions{IfNoneMatch: true}); err != nil {
			return nil, nil, fmt.Errorf("bench: write inbox object: %w", err)
		}
		if err := invoke(func() error { _, err := ingest.Inbox(ctx, cp, rt.bucket, key); return err }); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("bench: unknown route %q (want one of %v)", rt.via, Routes)
	}
	rt.m.Add(cost.Ingest, u)
	if len(cp.results) != len(convs) {
		return nil, nil, fmt.Errorf("bench: the route stored %d of %d conversations", len(cp.results), len(convs))
	}
	return cp.results, cp.errs, nil
}

// chunks is how many units of size n takes (at least one).
func chunks(n, unit int) float64 { return float64(max(1, (n+unit-1)/unit)) }
