package refcount

import (
	"context"
	"sync/atomic"
	"time"
)

// RefShards is the number of partitions one segment's references are spread over (see the
// DynamoDB backend); HasRefs and a full check of one segment cost up to RefShards reads.
const RefShards = 16

// Counts is a snapshot of request counts.
type Counts struct {
	Reads, Writes int64
}

// Sub returns c minus o.
func (c Counts) Sub(o Counts) Counts { return Counts{c.Reads - o.Reads, c.Writes - o.Writes} }

// Counter counts the requests a Backend makes, in the DynamoDB backend's request model: one write
// per conditional write, one per BatchSize items of a batched write; one read per GetHead, up
// to RefShards per HasRefs (counted as RefShards), one per listing call (however many pages
// it reads). Retries are not counted. Safe for concurrent use.
type Counter struct {
	reads, writes atomic.Int64
}

// Snapshot returns the counts so far.
func (c *Counter) Snapshot() Counts { return Counts{c.reads.Load(), c.writes.Load()} }

// Counting wraps s so that every request is counted in c, and also in the Counter of the
// request's context, if it has one (see WithCounter).
func Counting(s Backend, c *Counter) Backend { return &counting{s, c} }

type counting struct {
	Backend
	c *Counter
}

type counterKey struct{}

// WithCounter returns a context under which the requests of a Counting store are also counted
// in c: the requests of one operation.
func WithCounter(ctx context.Context, c *Counter) context.Context {
	return context.WithValue(ctx, counterKey{}, c)
}

func (s *counting) read(ctx context.Context, n int64) {
	s.c.reads.Add(n)
	if c, ok := ctx.Value(counterKey{}).(*Counter); ok {
		c.reads.Add(n)
	}
}

func (s *counting) write(ctx context.Context, n int64) {
	s.c.writes.Add(n)
	if c, ok := ctx.Value(counterKey{}).(*Counter); ok {
		c.writes.Add(n)
	}
}

func batches(n int) int64 { return int64((n + BatchSize - 1) / BatchSize) }

func (s *counting) AddRefs(ctx context.Context, owner string, segments []string, now time.Time) error {
	s.write(ctx, batches(len(segments)))
	return s.Backend.AddRefs(ctx, owner, segments, now)
}

func (s *counting) RemoveRefs(ctx context.Context, owner string, segments []string) error {
	s.write(ctx, batches(len(segments)))
	return s.Backend.RemoveRefs(ctx, owner, segments)
}

func (s *counting) HasRefs(ctx context.Context, segment string) (bool, error) {
	s.read(ctx, RefShards)
	return s.Backend.HasRefs(ctx, segment)
}

func (s *counting) ListRefs(ctx context.Context, fn func(Ref) error) error {
	s.read(ctx, 1)
	return s.Backend.ListRefs(ctx, fn)
}

func (s *counting) GetHead(ctx context.Context, segment string) (Head, error) {
	s.read(ctx, 1)
	return s.Backend.GetHead(ctx, segment)
}

func (s *counting) CreateHead(ctx context.Context, segment string, size int64, now time.Time) error {
	s.write(ctx, 1)
	return s.Backend.CreateHead(ctx, segment, size, now)
}

func (s *counting) Claim(ctx context.Context, segment, claimID string, expires, now time.Time) error {
	s.write(ctx, 1)
	return s.Backend.Claim(ctx, segment, claimID, expires, now)
}

func (s *counting) Release(ctx context.Context, segment, claimID string) error {
	s.write(ctx, 1)
	return s.Backend.Release(ctx, segment, claimID)
}

func (s *counting) Revive(ctx context.Context, segment, claimID string, now time.Time) error {
	s.write(ctx, 1)
	return s.Backend.Revive(ctx, segment, claimID, now)
}

func (s *counting) DeleteHead(ctx context.Context, segment, claimID string) error {
	s.write(ctx, 1)
	return s.Backend.DeleteHead(ctx, segment, claimID)
}

func (s *counting) ListHeads(ctx context.Context, fn func(Head) error) error {
	s.read(ctx, 1)
	return s.Backend.ListHeads(ctx, fn)
}

func (s *counting) MarkCandidates(ctx context.Context, segments []string, now time.Time) error {
	s.write(ctx, batches(len(segments)))
	return s.Backend.MarkCandidates(ctx, segments, now)
}

func (s *counting) ListCandidates(ctx context.Context, fn func(Candidate) error) error {
	s.read(ctx, 1)
	return s.Backend.ListCandidates(ctx, fn)
}

func (s *counting) RemoveCandidate(ctx context.Context, segment string, since time.Time) error {
	s.write(ctx, 1)
	return s.Backend.RemoveCandidate(ctx, segment, since)
}
