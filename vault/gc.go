package vault

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
)

// GCOptions configure a collection.
type GCOptions struct {
	// Grace keeps segments that became unreferenced less than Grace ago (0 collects at once).
	Grace time.Duration
	// DryRun reports what would be deleted and changes nothing (and takes no lease).
	DryRun bool
	// Budget caps the segments deleted in one run (0: no cap). It is exact: a run never
	// deletes more than Budget segments, whatever its concurrency.
	Budget int
	// Lease makes the run single-flight: it first takes the GC lease (see GC), and if another
	// run holds it, returns at once with LeaseHeld set and a nil error. Scheduled runs (the
	// CLI's gc command, the GC Lambda) should set it.
	Lease bool
}

// GCReport says what a collection did.
// Its JSON form is that of `stowken gc --json` and of the GC Lambda's log.
type GCReport struct {
	// The options of the run.
	DryRun       bool    `json:"dry_run"`
	GraceSeconds float64 `json:"grace_seconds"`
	Budget       int     `json:"budget"`

	// LeaseHeld: the run did not run, because another run holds the GC lease.
	LeaseHeld bool `json:"lease_held,omitempty"`
	// Partial: the run stopped before examining every candidate (its context was done or its
	// deadline near, or the budget was spent). The rest stay marked; the next run goes on.
	Partial bool `json:"partial,omitempty"`

	Candidates int   `json:"candidates"`  // segments marked as possibly unreferenced
	TooYoung   int   `json:"too_young"`   // skipped: unreferenced for less than the grace period
	Referenced int   `json:"referenced"`  // still referenced: mark cleared, segment kept
	Claimed    int   `json:"claimed"`     // claims won
	LostClaims int   `json:"lost_claims"` // claims lost to another collector, or a writer that revived the segment
	Deleted    int   `json:"deleted"`     // segment objects deleted (or, in a dry run, that would be)
	BytesFreed int64 `json:"bytes_freed"`
	NoHead     int   `json:"no_head"` // candidates without a head (left to Verify)
	// Compacted counts the batches compacted because some of their conversations were
	// deleted (in a dry run: that would be), and Moved the conversations moved out of them
	// into new batches.
	Compacted int `json:"compacted_batches"`
	Moved     int `json:"moved_conversations"`
	// Gathered counts the catalog entries of conversations stored alone that the run wrote
	// into the catalog's files (solo.go). Dry runs do not gather.
	Gathered int `json:"gathered_entries"`
	// Catalog is what the compaction of the catalog did (see catalog.Compactor): files merged
	// and deleted entries erased. Dry runs do not compact.
	Catalog catalog.CompactResult `json:"catalog,omitzero"`
	// Duration is the run's wall time; DurationSeconds the same in seconds, for JSON.
	Duration        time.Duration `json:"-"`
	DurationSeconds float64       `json:"duration_seconds"`
}

const (
	// gcLeaseHead is the reserved head item that serves as the GC lease. It can never be a
	// segment id (64 lowercase hex digits), so no writer or collector touches it, and Verify
	// skips it.
	gcLeaseHead = "gc-lease"
	// gcLeaseMinTTL is the shortest lease: longer than a GC Lambda can run (15 minutes). The
	// lease lasts max(ClaimTTL, gcLeaseMinTTL); a run that dies keeps it until then.
	gcLeaseMinTTL = 20 * time.Minute
	// gcLeaseReleaseTimeout bounds giving the lease back, which runs even when the run's
	// context is done.
	gcLeaseReleaseTimeout = 10 * time.Second
	// gcStopMargin: a run stops claiming new candidates once its context's deadline is this
	// close, so that it finishes (deletes, releases, reports) before the deadline.
	gcStopMargin = 30 * time.Second
)

// GC deletes segment objects that no conversation references, following the collector side of
// the protocol in package refcount: claim the head (live → deleting), re-check references with a
// strongly consistent read, and only then delete the object and the head, all within the first
// half of the claim's lifetime. Concurrent GC runs, Stores and Deletes are safe.
//
// Candidates are processed in windows of objstore.DeleteBatchSize: the window's candidates are
// checked, claimed and re-checked in parallel, then the objects of those it may delete go in
// one Bucket.Delete call (one S3 DeleteObjects request), under a deadline that is the earliest
// claim deadline among them, and then their heads and marks are deleted.
//
// The candidate marks are the work queue, so a run can stop anywhere: it stops claiming new
// candidates when its context is done or its deadline is less than gcStopMargin (30s) away,
// or when the budget is spent, and reports Partial (with ctx's error if ctx is done, else
// nil). Unprocessed candidates stay marked, and the next run continues with them; a claim left
// behind by a run that died expires after ClaimTTL. Budget is exact: a run never deletes more
// than Budget segments (each candidate reserves a unit before its claim and gives it back if
// it is not deleted); with Concurrency above 1 it may delete fewer when units were reserved by
// candidates that turned out not deletable.
//
// With opts.Lease, the run first takes the GC lease, a claim on the reserved head gcLeaseHead
// that lasts max(ClaimTTL, 20 minutes), and gives it back at the end. If another run holds it,
// GC returns at once with LeaseHeld. The lease only avoids duplicated work and load; it is not
// a safety mechanism: per-segment claims keep concurrent runs safe, with or without it.
// A run that outlives its lease may overlap the next one, which is equally safe. Dry runs take
// no lease.
func (v *Vault) GC(ctx context.Context, opts GCOptions) (rep GCReport, err error) {
	start := v.now()
	rep.DryRun, rep.GraceSeconds, rep.Budget = opts.DryRun, opts.Grace.Seconds(), opts.Budget
	if v.readOnly && !opts.DryRun {
		return rep, ErrReadOnly
	}
	defer func() {
		rep.Duration = v.now().Sub(start)
		rep.DurationSeconds = rep.Duration.Seconds()
		v.log.Info("gc", "dry_run", opts.DryRun, "lease_held", rep.LeaseHeld, "partial", rep.Partial,
			"candidates", rep.Candidates, "too_young", rep.TooYoung,
			"referenced", rep.Referenced, "claimed", rep.Claimed, "lost_claims", rep.LostClaims,
			"deleted", rep.Deleted, "bytes_freed", rep.BytesFreed, "no_head", rep.NoHead,
			"compacted_batches", rep.Compacted, "moved_conversations", rep.Moved, "gathered_entries", rep.Gathered,
			"catalog_files_merged", rep.Catalog.FilesDeleted, "catalog_rows_erased", rep.Catalog.RowsErased, "duration", rep.Duration)
	}()
	runID := randomHex(12)
	if opts.Lease && !opts.DryRun {
		held, err := v.acquireGCLease(ctx, runID)
		if err != nil {
			return rep, fmt.Errorf("vault: gc: lease: %w", err)
		}
		if held {
			rep.LeaseHeld = true
			return rep, nil
		}
		defer v.releaseGCLease(ctx, runID)
	}
	var cands []refcount.Candidate
	err = v.refs.ListCandidates(ctx, func(c refcount.Candidate) error {
		cands = append(cands, c)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("vault: gc: list candidates: %w", err)
	}
	rep.Candidates = len(cands)
	run := &gcRun{v: v, opts: opts, claimID: runID}
	windows := gcWindows(cands)
	for len(windows) > 0 && err == nil && !run.stopped.Load() {
		err = run.window(ctx, windows[0])
		windows = windows[1:]
	}
	rep.TooYoung, rep.Referenced, rep.Claimed = int(run.tooYoung.Load()), int(run.referenced.Load()), int(run.claimed.Load())
	rep.LostClaims, rep.Deleted, rep.NoHead, rep.BytesFreed = int(run.lost.Load()), int(run.deleted.Load()), int(run.noHead.Load()), run.freed.Load()
	rep.Compacted, rep.Moved = int(run.compacted.Load()), int(run.moved.Load())
	rep.Partial = run.stopped.Load() || err != nil || len(windows) > 0
	if err == nil && !rep.Partial && !opts.DryRun {
		rep.Gathered, err = v.gatherSolos(ctx, start, func() bool {
			if run.stop(ctx) {
				run.stopped.Store(true)
			}
			return run.stopped.Load()
		})
		if err != nil {
			err = fmt.Errorf("vault: gc: %w", err)
		}
		rep.Partial = run.stopped.Load() || err != nil
	}
	if err == nil && !rep.Partial && !opts.DryRun {
		rep.Catalog, err = v.compactCatalog(ctx, start)
	}
	if err == nil && run.stopped.Load() {
		err = context.Cause(ctx) // nil when the run stopped for its deadline margin or budget
	}
	return rep, err
}

// compactCatalog compacts the catalog, when it is a catalog.Compactor, so that the entries
// of deleted conversations leave its files. It writes nothing after the collectors' deadline
// (half the claim TTL after start), and forgets a deletion once it is older than the writer
// deadline plus the claim TTL: longer than any Store's catalog write and any compaction.
func (v *Vault) compactCatalog(ctx context.Context, start time.Time) (catalog.CompactResult, error) {
	c, ok := v.catalog.(catalog.Compactor)
	if !ok {
		return catalog.CompactResult{}, nil
	}
	res, err := c.Compact(ctx, catalog.CompactOptions{Deadline: start.Add(v.claimTTL / 2), Settle: v.storeTTL + v.claimTTL})
	if errors.Is(err, errors.ErrUnsupported) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("vault: gc: compact the catalog: %w", err)
	}
	return res, nil
}

// acquireGCLease claims the GC lease for runID; held reports that another run holds it.
func (v *Vault) acquireGCLease(ctx context.Context, runID string) (held bool, err error) {
	for range 2 {
		now := v.now()
		err = v.refs.Claim(ctx, gcLeaseHead, runID, now.Add(max(v.claimTTL, gcLeaseMinTTL)), now)
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, refcount.ErrConflict):
			return true, nil
		case !errors.Is(err, refcount.ErrNotFound):
			return false, err
		}
		// First run on this store: create the lease head (live = free), then claim it.
		if err = v.refs.CreateHead(ctx, gcLeaseHead, 0, now); err != nil && !errors.Is(err, refcount.ErrExists) {
			return false, err
		}
	}
	return false, err
}

// releaseGCLease gives the lease back, even when ctx is done. A lease that expired and was
// taken over is not ours any more (ErrConflict); a lease that cannot be given back expires.
func (v *Vault) releaseGCLease(ctx context.Context, runID string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gcLeaseReleaseTimeout)
	defer cancel()
	if err := v.refs.Release(rctx, gcLeaseHead, runID); err != nil && !errors.Is(err, refcount.ErrConflict) {
		v.log.Warn("gc: release lease", "err", err)
	}
}

// gcRun is the state of one collection.
type gcRun struct {
	v       *Vault
	opts    GCOptions
	claimID string
	// reserved counts budget units taken by candidates being processed or deleted; a
	// candidate that ends up not deleted gives its unit back.
	reserved                                             atomic.Int64
	tooYoung, referenced, claimed, lost, deleted, noHead atomic.Int64
	freed, compacted, moved                              atomic.Int64
	stopped                                              atomic.Bool
}

// gcPending is a candidate claimed and re-checked, whose object may be deleted until deadline;
// or the object of a retired batch, which has no head (headless) and no deadline but the run's.
type gcPending struct {
	c        refcount.Candidate
	size     int64
	deadline time.Time
	headless bool
}

// stop reports whether the run must not start on another candidate.
func (r *gcRun) stop(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && d.Sub(r.v.now()) < gcStopMargin
}

// take reserves a unit of the budget; false when it is spent.
func (r *gcRun) take() bool {
	if r.opts.Budget <= 0 {
		return true
	}
	if r.reserved.Add(1) > int64(r.opts.Budget) {
		r.reserved.Add(-1)
		return false
	}
	return true
}

func (r *gcRun) giveBack() {
	if r.opts.Budget > 0 {
		r.reserved.Add(-1)
	}
}

// window processes up to objstore.DeleteBatchSize candidates: check and claim in parallel,
// then one batched object delete, then the heads and marks.
// gcWindows cuts the candidates into the windows a run works through one after the other, each
// in parallel and with one DeleteObjects: the batches' windows first, then the segments', of
// at most objstore.DeleteBatchSize each, never a window of both (race (w) in doc.go).
// Compacting a batch uploads its new packs as a Store does, which waits while a segment is
// claimed; a claim of this run on a segment, held until its window ends, would make the
// compaction wait for its own run.
func gcWindows(cands []refcount.Candidate) [][]refcount.Candidate {
	var batches, segments []refcount.Candidate
	for _, c := range cands {
		if manifest.IsBatchID(c.Segment) {
			batches = append(batches, c)
		} else {
			segments = append(segments, c)
		}
	}
	var windows [][]refcount.Candidate
	for _, kind := range [][]refcount.Candidate{batches, segments} {
		for len(kind) > 0 {
			n := min(objstore.DeleteBatchSize, len(kind))
			windows = append(windows, kind[:n])
			kind = kind[n:]
		}
	}
	return windows
}

func (r *gcRun) window(ctx context.Context, cands []refcount.Candidate) error {
	v := r.v
	pending := make([]*gcPending, len(cands))
	err := forEach(ctx, len(cands), v.concurrency, func(ctx context.Context, i int) error {
		c := cands[i]
		if v.now().Sub(c.Since) < r.opts.Grace {
			r.tooYoung.Add(1)
			return nil
		}
		if r.stop(ctx) || !r.take() {
			r.stopped.Store(true)
			return nil
		}
		p, outcome, err := r.claimCandidate(ctx, c)
		if err != nil {
			r.giveBack()
			return fmt.Errorf("vault: gc segment %s: %w", c.Segment, err)
		}
		switch outcome {
		case gcTooYoung:
			r.tooYoung.Add(1)
		case gcReferenced:
			r.referenced.Add(1)
		case gcLost:
			r.lost.Add(1)
		case gcNoHead:
			r.noHead.Add(1)
		case gcDryRun:
			r.deleted.Add(1)
			r.freed.Add(p.size)
			return nil
		case gcDeleted:
			r.claimed.Add(1)
			pending[i] = p
			return nil // the budget unit stays reserved
		}
		r.giveBack()
		return nil
	})
	var todo []*gcPending
	for _, p := range pending {
		if p != nil {
			todo = append(todo, p)
		}
	}
	if err != nil {
		// Claims won in this window are not acted on: give them back (release), as when
		// the re-check fails. Use a context that outlives a cancelled run.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gcLeaseReleaseTimeout)
		defer cancel()
		for _, p := range todo {
			if rerr := v.release(rctx, p.c.Segment, r.claimID); rerr != nil {
				err = errors.Join(err, fmt.Errorf("vault: gc segment %s: release: %w", p.c.Segment, rerr))
			}
		}
		return err
	}
	return r.deleteBatch(ctx, todo)
}

// deleteBatch deletes the objects of claimed candidates in one request, within the earliest
// claim deadline among them, then their heads and marks. Candidates already past their
// deadline are released instead.
func (r *gcRun) deleteBatch(ctx context.Context, todo []*gcPending) error {
	v := r.v
	if len(todo) == 0 {
		return nil
	}
	var live []*gcPending
	var errs []error
	giveUp := func(p *gcPending) {
		r.giveBack()
		if p.headless {
			return // the mark stays: the next run deletes it
		}
		if err := v.release(ctx, p.c.Segment, r.claimID); err != nil {
			errs = append(errs, fmt.Errorf("vault: gc segment %s: release: %w", p.c.Segment, err))
		}
	}
	now := v.now()
	for _, p := range todo {
		if now.After(p.deadline) {
			giveUp(p)
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return errors.Join(errs...)
	}
	deadline := live[0].deadline
	keys := make([]string, len(live))
	for i, p := range live {
		keys[i] = objectKey(p.c.Segment)
		if p.deadline.Before(deadline) {
			deadline = p.deadline
		}
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// The deadline is checked before the request and carried by it (a request is applied
	// before its context's deadline or not at all).
	if v.now().After(deadline) {
		for _, p := range live {
			giveUp(p)
		}
		return errors.Join(errs...)
	}
	if err := v.bucket.Delete(dctx, keys...); err != nil {
		return errors.Join(append(errs, fmt.Errorf("vault: gc: delete %d objects: %w", len(keys), err))...)
	}
	return errors.Join(append(errs, forEach(ctx, len(live), v.concurrency, func(ctx context.Context, i int) error {
		p := live[i]
		if !p.headless {
			if err := v.refs.DeleteHead(ctx, p.c.Segment, r.claimID); err != nil {
				return fmt.Errorf("vault: gc segment %s: delete head: %w", p.c.Segment, err)
			}
		}
		v.cache.Remove(p.c.Segment)
		v.batches.Remove(p.c.Segment)
		r.deleted.Add(1)
		r.freed.Add(p.size)
		if err := v.refs.RemoveCandidate(ctx, p.c.Segment, p.c.Since); err != nil {
			return fmt.Errorf("vault: gc segment %s: %w", p.c.Segment, err)
		}
		return nil
	}))...)
}

type gcOutcome int

const (
	gcReferenced gcOutcome = iota
	gcLost
	gcNoHead
	gcDeleted // claimed and re-checked: to be deleted
	gcDryRun
	gcTooYoung // a batch whose writer may still be at work
	gcGone     // a batch whose object does not exist
)

// claimCandidate runs the collector protocol on one candidate up to the delete: check, claim,
// re-check. gcDeleted means the claim is held and the object may be deleted until p.deadline.
//
// A batch is a question about its conversations first: its object is deleted only once the
// batch is retired (retireBatch: past its writer deadline, no pointer names it, its references
// dropped). A batch object has no head: it is deleted then, without a claim, since nobody
// writes it any more. A batch object of the layout before, which has a head and the batch's
// reference, is then collected like a segment.
func (r *gcRun) claimCandidate(ctx context.Context, c refcount.Candidate) (*gcPending, gcOutcome, error) {
	v, claimID, dryRun := r.v, r.claimID, r.opts.DryRun
	var size int64
	retired := false
	if manifest.IsBatchID(c.Segment) {
		var outcome gcOutcome
		var err error
		outcome, size, err = v.retireBatch(ctx, r, c.Segment)
		switch {
		case err != nil:
			return nil, 0, err
		case outcome == gcTooYoung:
			return nil, outcome, nil // the mark stays for a later run
		case outcome == gcReferenced:
			if !dryRun {
				err = v.refs.RemoveCandidate(ctx, c.Segment, c.Since)
			}
			return nil, outcome, err
		}
		retired = outcome == gcDeleted
		if retired && dryRun {
			return &gcPending{c: c, size: size}, gcDryRun, nil
		}
	}
	head, err := v.refs.GetHead(ctx, c.Segment)
	switch {
	case errors.Is(err, refcount.ErrNotFound) && retired:
		return &gcPending{c: c, size: size, deadline: v.now().Add(v.claimTTL / 2), headless: true}, gcDeleted, nil
	case errors.Is(err, refcount.ErrNotFound):
		if !dryRun {
			err = v.refs.RemoveCandidate(ctx, c.Segment, c.Since)
		}
		return nil, gcNoHead, err
	case err != nil:
		return nil, 0, err
	}
	referenced, err := v.refs.HasRefs(ctx, c.Segment)
	if err != nil {
		return nil, 0, err
	}
	if referenced {
		if !dryRun {
			err = v.refs.RemoveCandidate(ctx, c.Segment, c.Since)
		}
		return nil, gcReferenced, err
	}
	if dryRun {
		return &gcPending{c: c, size: head.Size}, gcDryRun, nil
	}

	claimedAt := v.now()
	err = v.refs.Claim(ctx, c.Segment, claimID, claimedAt.Add(v.claimTTL), claimedAt)
	switch {
	case errors.Is(err, refcount.ErrConflict):
		return nil, gcLost, nil
	case errors.Is(err, refcount.ErrNotFound):
		return nil, gcNoHead, v.refs.RemoveCandidate(ctx, c.Segment, c.Since)
	case err != nil:
		return nil, 0, err
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
		return nil, gcReferenced, err
	}
	return &gcPending{c: c, size: head.Size, deadline: claimedAt.Add(v.claimTTL / 2)}, gcDeleted, nil
}

// retireBatch drops the references of batch id once no conversation of it is stored, so that
// the collector deletes what only it used. A batch is retired once the writer deadline its
// object records has passed by ClaimTTL/2 (so that no pointer write of it can still land, with
// clocks that agree to within the margin the collector's claims assume) and no pointer names
// it, read with strongly consistent reads. Before that time it is gcTooYoung. A batch some of
// whose conversations are stored and others not (deleted) is compacted first (compact.go),
// which moves the stored ones to a new batch; it is gcReferenced when every conversation is
// stored, or when compaction left one in it (with its mark kept, for a later run), and
// gcDeleted once retired, with the size of its object. A batch object that is gone (gcGone),
// or cannot be decoded (with a warning), keeps its references for Verify to report. In a dry
// run nothing is written.
func (v *Vault) retireBatch(ctx context.Context, r *gcRun, id string) (gcOutcome, int64, error) {
	b, err := v.readBatch(ctx, id)
	switch {
	case errors.Is(err, ErrMissingSegment):
		return gcGone, 0, nil
	case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNewerVersion):
		v.log.Warn("gc: batch object cannot be decoded; its references stay (stowken verify reports it)", "batch", id, "err", err)
		return gcTooYoung, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("read batch object: %w", err)
	}
	if v.now().Before(b.deadline.Add(v.claimTTL / 2)) {
		return gcTooYoung, 0, nil
	}
	ids := make([]string, 0, len(b.manifests))
	for cid := range b.manifests {
		ids = append(ids, cid)
	}
	ptrs := make([]refcount.Pointer, len(ids))
	err = forEach(ctx, len(ids), v.concurrency, func(ctx context.Context, i int) error {
		ptr, err := v.refs.GetPointer(ctx, ids[i])
		switch {
		case errors.Is(err, refcount.ErrNotFound):
		case err != nil:
			return fmt.Errorf("read the pointer of %q: %w", ids[i], err)
		case ptr.Batch == id:
			ptrs[i] = ptr
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	live := map[string]refcount.Pointer{}
	for i, ptr := range ptrs {
		if ptr.Batch != "" {
			live[ids[i]] = ptr
		}
	}
	switch {
	case len(live) == len(ids):
		return gcReferenced, 0, nil
	case len(live) > 0 && r.opts.DryRun:
		r.compacted.Add(1)
		return gcReferenced, 0, nil
	case len(live) > 0:
		moved, vacated, err := v.compactBatch(ctx, id, b, live)
		r.compacted.Add(1)
		r.moved.Add(int64(moved))
		if err != nil {
			return 0, 0, fmt.Errorf("compact batch %s: %w", id, err)
		}
		if !vacated {
			return gcTooYoung, 0, nil // the mark stays: a later run compacts what is left
		}
	case r.opts.DryRun:
		return gcDeleted, b.size, nil
	}
	// No pointer names the batch now: compaction moved or found changed every one that did,
	// and only the batch's own writer, past its deadline, writes pointers naming it.
	var segs []string
	seen := map[string]bool{id: true}
	for _, m := range b.manifests {
		for _, s := range m.Segments() {
			if !seen[s] {
				seen[s] = true
				segs = append(segs, s)
			}
		}
	}
	// The batch's mark stays until its object is deleted, so that the next collection finishes
	// a retirement that failed half-way. A batch of the layout before also has a reference on
	// its own object, which goes last: its object is then collected like a segment.
	if err := v.refs.RemoveRefs(ctx, id, segs); err != nil {
		return 0, 0, fmt.Errorf("drop the references of batch %s: %w", id, err)
	}
	if err := v.refs.MarkCandidates(ctx, segs, v.now()); err != nil {
		return 0, 0, fmt.Errorf("mark the segments of batch %s: %w", id, err)
	}
	if err := v.refs.RemoveRefs(ctx, id, []string{id}); err != nil {
		return 0, 0, fmt.Errorf("drop the reference of batch %s on its object: %w", id, err)
	}
	v.log.Debug("gc: batch retired", "batch", id, "segments", len(segs))
	return gcDeleted, b.size, nil
}

// collect runs the whole collector protocol on one candidate, deleting it alone.
func (v *Vault) collect(ctx context.Context, c refcount.Candidate, claimID string, dryRun bool) (gcOutcome, int64, error) {
	r := &gcRun{v: v, opts: GCOptions{DryRun: dryRun}, claimID: claimID}
	p, outcome, err := r.claimCandidate(ctx, c)
	if err != nil || outcome != gcDeleted {
		var size int64
		if p != nil {
			size = p.size
		}
		return outcome, size, err
	}
	if err := r.deleteBatch(ctx, []*gcPending{p}); err != nil {
		return 0, 0, err
	}
	if r.deleted.Load() == 0 {
		return 0, 0, nil // past the deadline: released
	}
	return gcDeleted, p.size, nil
}

// release gives up a claim the collector will not act on. The claim may have been taken over
// from a collector that died after deleting the object and before deleting the head (Claim
// succeeds on a head whose claim expired), so the object may be gone: making that head live
// again would break "head is live ⇒ the object exists", and a writer trusting it would skip
// the upload (TestGCRaceTakeoverOfDeletedObject). So the head goes back to live only if the
// object exists; if it does not, the deletion is finished instead (the head is deleted, and
// writers waiting on it upload the object again). While the claim holds, nobody else deletes
// the object (an earlier holder is past its deadline), so what Stat saw still holds.
func (v *Vault) release(ctx context.Context, seg, claimID string) error {
	_, err := v.bucket.Stat(ctx, objectKey(seg))
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		return v.refs.DeleteHead(ctx, seg, claimID)
	case err != nil:
		return err // the claim stays; after it expires writers upload, then revive the head
	}
	return v.refs.Release(ctx, seg, claimID)
}
