package vault

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
)

// GCOptions configure a collection.
type GCOptions struct {
	// Grace keeps segments that became unreferenced less than Grace ago (0 collects at once).
	Grace time.Duration
	// DryRun reports what would be deleted and changes nothing.
	DryRun bool
	// Budget caps the segments deleted in one run (0: no cap).
	Budget int
}

// GCReport says what a collection did.
// Its JSON form is that of `stowken gc --json` and of the GC Lambda's log.
type GCReport struct {
	// The options of the run.
	DryRun       bool    `json:"dry_run"`
	GraceSeconds float64 `json:"grace_seconds"`
	Budget       int     `json:"budget"`

	Candidates int   `json:"candidates"`  // segments marked as possibly unreferenced
	TooYoung   int   `json:"too_young"`   // skipped: unreferenced for less than the grace period
	Referenced int   `json:"referenced"`  // still referenced: mark cleared, segment kept
	Claimed    int   `json:"claimed"`     // claims won
	LostClaims int   `json:"lost_claims"` // claims lost to another collector, or a writer that revived the segment
	Deleted    int   `json:"deleted"`     // segment objects deleted (or, in a dry run, that would be)
	BytesFreed int64 `json:"bytes_freed"`
	NoHead     int   `json:"no_head"` // candidates without a head (left to Verify)
	// Duration is the run's wall time; DurationSeconds the same in seconds, for JSON.
	Duration        time.Duration `json:"-"`
	DurationSeconds float64       `json:"duration_seconds"`
}

// GC deletes segment objects that no conversation references, following the collector side of
// the protocol in package refcount: claim the head (live → deleting), re-check references with a
// strongly consistent read, and only then delete the object and the head, all within the first
// half of the claim's lifetime. Concurrent GC runs, Stores and Deletes are safe.
func (v *Vault) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	start := v.now()
	var rep GCReport
	var cands []refcount.Candidate
	err := v.refs.ListCandidates(ctx, func(c refcount.Candidate) error {
		cands = append(cands, c)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("vault: gc: list candidates: %w", err)
	}
	rep.Candidates = len(cands)
	var tooYoung, referenced, claimed, lost, deleted, noHead atomic.Int64
	var freed atomic.Int64
	claimID := randomHex(12)
	err = forEach(ctx, len(cands), v.concurrency, func(ctx context.Context, i int) error {
		c := cands[i]
		if v.now().Sub(c.Since) < opts.Grace {
			tooYoung.Add(1)
			return nil
		}
		if opts.Budget > 0 && deleted.Load() >= int64(opts.Budget) {
			return nil
		}
		outcome, size, err := v.collect(ctx, c, claimID, opts.DryRun)
		if err != nil {
			return fmt.Errorf("vault: gc segment %s: %w", c.Segment, err)
		}
		switch outcome {
		case gcReferenced:
			referenced.Add(1)
		case gcLost:
			lost.Add(1)
		case gcNoHead:
			noHead.Add(1)
		case gcDeleted:
			claimed.Add(1)
			deleted.Add(1)
			freed.Add(size)
		case gcDryRun:
			deleted.Add(1)
			freed.Add(size)
		}
		return nil
	})
	rep.TooYoung, rep.Referenced, rep.Claimed = int(tooYoung.Load()), int(referenced.Load()), int(claimed.Load())
	rep.LostClaims, rep.Deleted, rep.NoHead, rep.BytesFreed = int(lost.Load()), int(deleted.Load()), int(noHead.Load()), freed.Load()
	rep.Duration = v.now().Sub(start)
	rep.DurationSeconds = rep.Duration.Seconds()
	rep.DryRun, rep.GraceSeconds, rep.Budget = opts.DryRun, opts.Grace.Seconds(), opts.Budget
	v.log.Info("gc", "dry_run", opts.DryRun, "candidates", rep.Candidates, "too_young", rep.TooYoung,
		"referenced", rep.Referenced, "claimed", rep.Claimed, "lost_claims", rep.LostClaims,
		"deleted", rep.Deleted, "bytes_freed", rep.BytesFreed, "no_head", rep.NoHead, "duration", rep.Duration)
	return rep, err
}

type gcOutcome int

const (
	gcReferenced gcOutcome = iota
	gcLost
	gcNoHead
	gcDeleted
	gcDryRun
)

// collect runs the collector protocol on one candidate.
func (v *Vault) collect(ctx context.Context, c refcount.Candidate, claimID string, dryRun bool) (gcOutcome, int64, error) {
	head, err := v.refs.GetHead(ctx, c.Segment)
	if errors.Is(err, refcount.ErrNotFound) {
		if !dryRun {
			err = v.refs.RemoveCandidate(ctx, c.Segment, c.Since)
		}
		return gcNoHead, 0, err
	}
	if err != nil {
		return 0, 0, err
	}
	referenced, err := v.refs.HasRefs(ctx, c.Segment)
	if err != nil {
		return 0, 0, err
	}
	if referenced {
		if !dryRun {
			err = v.refs.RemoveCandidate(ctx, c.Segment, c.Since)
		}
		return gcReferenced, 0, err
	}
	if dryRun {
		return gcDryRun, head.Size, nil
	}

	claimedAt := v.now()
	deadline := claimedAt.Add(v.claimTTL / 2)
	err = v.refs.Claim(ctx, c.Segment, claimID, claimedAt.Add(v.claimTTL), claimedAt)
	switch {
	case errors.Is(err, refcount.ErrConflict):
		return gcLost, 0, nil
	case errors.Is(err, refcount.ErrNotFound):
		return gcNoHead, 0, v.refs.RemoveCandidate(ctx, c.Segment, c.Since)
	case err != nil:
		return 0, 0, err
	}
	// Won the claim: writers cannot pass it now. A reference taken before the claim is visible
	// to this strongly consistent read; one taken after it makes its writer wait for us.
	if referenced, err = v.refs.HasRefs(ctx, c.Segment); err != nil || referenced {
		if rerr := v.release(ctx, c.Segment, claimID); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if err == nil {
			err = v.refs.RemoveCandidate(ctx, c.Segment, c.Since)
		}
		return gcReferenced, 0, err
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if v.now().After(deadline) {
		return 0, 0, v.release(ctx, c.Segment, claimID)
	}
	if err := v.bucket.Delete(dctx, segmentKey(c.Segment)); err != nil {
		return 0, 0, fmt.Errorf("delete object: %w", err)
	}
	if err := v.refs.DeleteHead(ctx, c.Segment, claimID); err != nil {
		return 0, 0, fmt.Errorf("delete head: %w", err)
	}
	v.cache.remove(c.Segment)
	return gcDeleted, head.Size, v.refs.RemoveCandidate(ctx, c.Segment, c.Since)
}

// release gives up a claim the collector will not act on. The claim may have been taken over
// from a collector that died after deleting the object and before deleting the head (Claim
// succeeds on a head whose claim expired), so the object may be gone: making that head live
// again would break "head is live ⇒ the object exists", and a writer trusting it would skip
// the upload (TestGCRaceTakeoverOfDeletedObject). So the head goes back to live only if the
// object exists; if it does not, the deletion is finished instead (the head is deleted, and
// writers waiting on it upload the object again). While the claim holds, nobody else deletes
// the object (an earlier holder is past its deadline), so what Stat saw still holds.
func (v *Vault) release(ctx context.Context, segment, claimID string) error {
	_, err := v.bucket.Stat(ctx, segmentKey(segment))
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		return v.refs.DeleteHead(ctx, segment, claimID)
	case err != nil:
		return err // the claim stays; after it expires writers upload, then revive the head
	}
	return v.refs.Release(ctx, segment, claimID)
}
