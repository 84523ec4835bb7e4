package vault

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/manifest"
)

// SketchReport is what Sketch did.
type SketchReport struct {
	// LeaseHeld: Sketch did not run, because a GC run holds the GC lease.
	LeaseHeld bool `json:"lease_held,omitempty"`
	// Sketched is how many catalog entries got their sketches; Unreadable, how many entries
	// without sketches are left so because their conversation could not be read (deleted
	// since, or no longer stored as the entry says).
	Sketched   int `json:"sketched"`
	Unreadable int `json:"unreadable"`
	// Catalog is what the catalog's rewrite did (files read, written and deleted).
	Catalog catalog.CompactResult `json:"catalog"`
	// Partial: the run stopped at its deadline (ClaimTTL/2 after it started) before every
	// file was done; running it again goes on where it stopped.
	Partial bool `json:"partial,omitempty"`
}

// sketchChunk is how many conversations Sketch reads at once.
const sketchChunk = 1000

// Sketch writes their sketches (Options.Sketches) into the catalog entries that have none:
// entries written before the store kept sketches, or by a writer without them. It reads the
// conversations of those entries (TokensOf) and rewrites the catalog's files that hold them,
// as GC compacts the catalog (catalog.CompactOptions.Fill), under the GC lease, so that no
// GC run compacts at the same time: when a GC run holds it, Sketch returns at once with
// LeaseHeld. It writes nothing ClaimTTL/2 after it started (the deletions the catalog keeps
// outlive that, as for a compaction), and then reports Partial; running it again goes on
// where it stopped. Cost: a GET per catalog file, the reads of the conversations without
// sketches (their batch objects and segments, each once), and a PUT per file written again.
func (v *Vault) Sketch(ctx context.Context) (SketchReport, error) {
	var rep SketchReport
	if v.readOnly {
		return rep, ErrReadOnly
	}
	compactor, ok := v.catalog.(catalog.Compactor)
	if !ok {
		return rep, ErrNoCatalog
	}
	runID := randomHex(12)
	held, err := v.acquireGCLease(ctx, runID)
	if err != nil {
		return rep, fmt.Errorf("vault: sketch: lease: %w", err)
	}
	if held {
		rep.LeaseHeld = true
		return rep, nil
	}
	defer v.releaseGCLease(ctx, runID)
	start := v.now()
	var sketched, unreadable atomic.Int64
	fill := func(_ context.Context, entries []catalog.Entry) (bool, error) {
		var missing []int
		for i, e := range entries {
			if len(e.Signature) == 0 || len(e.Vector) == 0 {
				missing = append(missing, i)
			}
		}
		changed := false
		for len(missing) > 0 {
			chunk := missing[:min(len(missing), sketchChunk)]
			missing = missing[len(chunk):]
			read := make([]catalog.Entry, len(chunk))
			for j, i := range chunk {
				read[j] = entries[i]
			}
			// The vault's own ctx: its reads are metered as reads, not as the catalog's.
			var done atomic.Int64
			err := v.TokensOf(ctx, read, func(j int, m *manifest.Manifest, streams [][]int) error {
				e := &entries[chunk[j]]
				v.addSketches(e, m, streams)
				if len(e.Signature) > 0 {
					done.Add(1)
				}
				return nil
			})
			if err != nil {
				return changed, err
			}
			n := done.Load()
			sketched.Add(n)
			unreadable.Add(int64(len(chunk)) - n)
			changed = changed || n > 0
		}
		return changed, nil
	}
	rep.Catalog, err = compactor.Compact(ctx, catalog.CompactOptions{
		Deadline: start.Add(v.claimTTL / 2), Settle: v.storeTTL + v.claimTTL, Fill: fill,
	})
	rep.Sketched, rep.Unreadable = int(sketched.Load()), int(unreadable.Load())
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		rep.Partial = true
		return rep, nil
	case errors.Is(err, errors.ErrUnsupported):
		return rep, fmt.Errorf("vault: sketch: the catalog cannot be rewritten: %w", err)
	case err != nil:
		return rep, fmt.Errorf("vault: sketch: %w", err)
	}
	v.log.Info("sketch", "sketched", rep.Sketched, "unreadable", rep.Unreadable, "files_written", rep.Catalog.FilesWritten,
		"duration", v.now().Sub(start))
	return rep, nil
}
