package main

import (
	"context"
	"fmt"
	"time"

	"github.com/stowken/stowken/internal/progress"
	"github.com/stowken/stowken/vault"
)

var gcCommand = &command{
	name:    "gc",
	summary: "delete segments that no conversation references any more",
	doc: `Collects garbage: retires the batches none of whose conversations is stored any more (past
their writer deadline), and deletes the segment and batch objects that nothing references and
that have been unreferenced for longer than --grace; compacts the batches some of whose
conversations were deleted; writes into the catalog's files the rows of the conversations
stored one at a time (put) whose writer deadline has passed (25 minutes), and compacts the
catalog. Safe to run while other processes store and delete (on an S3 store; the local store
has one writer at a time). --dry-run reports what would be deleted and changes nothing.`,
	run: runGC,
}

func runGC(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	opts := vault.GCOptions{Lease: true} // one collector at a time; others return at once
	fs.DurationVar(&opts.Grace, "grace", time.Hour, "keep segments unreferenced for less than `DURATION` (0s collects at once)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "report what would be deleted, change nothing")
	fs.IntVar(&opts.Budget, "budget", 0, "delete at most `N` segments (0: no limit)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("gc takes no arguments")
	}
	if opts.Grace < 0 || opts.Budget < 0 {
		return usageErrorf("--grace and --budget must not be negative")
	}
	mode := readWrite
	if opts.DryRun {
		mode = readOnly
	}
	return e.withVault(ctx, mode, func(v *vault.Vault) error {
		rep, gcErr := v.GC(ctx, opts)
		if *asJSON {
			if err := writeJSON(e.stdout, rep); err != nil {
				return err
			}
		} else {
			w := e.stdout
			verb := "deleted"
			if opts.DryRun {
				verb = "would delete"
				fmt.Fprintln(w, "dry run: nothing was changed")
			}
			if rep.LeaseHeld {
				fmt.Fprintln(w, "another gc is running (it holds the gc lease): nothing to do")
			}
			if rep.Partial {
				fmt.Fprintln(w, "stopped early (deadline or budget): the next run continues")
			}
			fmt.Fprintf(w, "candidates             %d\n", rep.Candidates)
			fmt.Fprintf(w, "%-23s%d\n", fmt.Sprintf("too young (< %s)", opts.Grace), rep.TooYoung)
			fmt.Fprintf(w, "still referenced       %d\n", rep.Referenced)
			fmt.Fprintf(w, "claims won / lost      %d / %d\n", rep.Claimed, rep.LostClaims)
			fmt.Fprintf(w, "without head           %d\n", rep.NoHead)
			fmt.Fprintf(w, "%-23s%d segments, %s\n", verb, rep.Deleted, formatBytes(rep.BytesFreed))
			fmt.Fprintf(w, "catalog rows gathered  %d\n", rep.Gathered)
			fmt.Fprintf(w, "duration               %s\n", rep.Duration.Round(time.Millisecond))
		}
		return gcErr
	})
}

var verifyCommand = &command{
	name:    "verify",
	summary: "check every stored conversation and the references; optionally repair",
	doc: `Checks the whole store: every conversation's pointer leads to a batch object that decodes and
holds its manifest, every segment it uses exists, decodes, matches its checksum and its id, and is
referenced by its batch; and looks for leaks (references, objects and heads nobody owns) older
than --min-age. Prints the counts and every problem found. The exit
status is 1 when a stored conversation is damaged or lacks a reference (leaks alone are not
failures). --repair fixes reference problems and hands leaked segments to the collector.`,
	run: runVerify,
}

func runVerify(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	var opts vault.VerifyOptions
	fs.BoolVar(&opts.Repair, "repair", false, "fix reference problems and hand leaked segments to the collector")
	fs.DurationVar(&opts.MinAge, "min-age", vault.DefaultMinAge, "treat only references and objects older than `DURATION` as leaked")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("verify takes no arguments")
	}
	if opts.MinAge < 0 {
		return usageErrorf("--min-age must not be negative")
	}
	mode := readOnly
	if opts.Repair {
		mode = readWrite
	}
	return e.withVault(ctx, mode, func(v *vault.Vault) error {
		rep, err := v.Verify(ctx, opts)
		if err != nil {
			return err
		}
		if *asJSON {
			if rep.Problems == nil {
				rep.Problems = []string{}
			}
			if err := writeJSON(e.stdout, rep); err != nil {
				return err
			}
		} else {
			w := e.stdout
			fmt.Fprintf(w, "conversations          %d\n", rep.Manifests)
			fmt.Fprintf(w, "segment objects        %d\n", rep.Segments)
			fmt.Fprintf(w, "corrupt manifests      %d\n", rep.CorruptManifests)
			fmt.Fprintf(w, "missing segments       %d\n", rep.MissingSegments)
			fmt.Fprintf(w, "corrupt segments       %d\n", rep.CorruptSegments)
			fmt.Fprintf(w, "unreadable             %d\n", rep.Unreadable)
			fmt.Fprintf(w, "missing references     %d\n", rep.MissingRefs)
			fmt.Fprintf(w, "missing heads          %d\n", rep.MissingHeads)
			fmt.Fprintf(w, "leaked references      %d\n", rep.LeakedRefs)
			fmt.Fprintf(w, "leaked objects         %d\n", rep.LeakedObjects)
			fmt.Fprintf(w, "unreferenced segments  %d\n", rep.Unreferenced)
			fmt.Fprintf(w, "dangling heads         %d\n", rep.DanglingHeads)
			fmt.Fprintf(w, "expired claims         %d\n", rep.ExpiredClaims)
			fmt.Fprintf(w, "retiring batches       %d (every conversation deleted; GC drops their references)\n", rep.RetiringBatches)
			fmt.Fprintf(w, "missing catalog rows   %d\n", rep.MissingCatalogEntries)
			fmt.Fprintf(w, "stale catalog rows     %d\n", rep.StaleCatalogEntries)
			fmt.Fprintf(w, "held for deletions     %s in unused objects (GC deletes them past the grace period), %s in %d packs (until every conversation of the batch is deleted)\n",
				formatBytes(rep.UnusedSegmentBytes), formatBytes(rep.HeldInPacksBytes), rep.PacksHolding)
			if rep.PendingDeletions > 0 {
				fmt.Fprintf(w, "pending deletions      %d catalog rows, the oldest deleted %s (GC erases them)\n",
					rep.PendingDeletions, rep.OldestPendingDeletion.UTC().Format(time.RFC3339))
			} else {
				fmt.Fprintf(w, "pending deletions      0 catalog rows\n")
			}
			if opts.Repair {
				fmt.Fprintf(w, "repaired               %d\n", rep.Repaired)
			}
			for _, p := range rep.Problems {
				fmt.Fprintf(w, "problem: %s\n", p)
			}
			if rep.OK() {
				fmt.Fprintln(w, "OK: every stored conversation is intact")
			}
		}
		if !rep.OK() {
			return &exitError{code: exitFailed, err: fmt.Errorf("verify found damaged or unreadable conversations or missing references (%d problems)", len(rep.Problems))}
		}
		return nil
	})
}

var migrateCommand = &command{
	name:    "migrate",
	summary: "move conversations stored by an older stowken into batches",
	doc: `Moves every conversation a stowken before the batched layout stored (one manifest object per
conversation under manifests/) into batches of --batch conversations: each is read, checked,
stored again in a batch, and only then its old manifest, catalog row and references are removed.
Other commands refuse such a store until it is migrated. Run it once, with no other writer; a
migration that stops can be run again, and finishes what is left. On a terminal a progress line
is drawn on stderr.`,
	run: runMigrate,
}

func runMigrate(ctx context.Context, e *env, c *command, args []string) error {
	fs := e.flagSet(c.name)
	batch := fs.Int("batch", vault.DefaultMigrateBatch, "conversations per batch (`N`)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	pos, err := e.parseCommand(c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("migrate takes no arguments")
	}
	if *batch <= 0 {
		return usageErrorf("--batch must be positive")
	}
	return e.withVault(ctx, migrating, func(v *vault.Vault) error {
		var bar *progress.Reporter
		last := 0
		rep, err := v.Migrate(ctx, *batch, func(done, total int) {
			if bar == nil {
				bar = progress.New(e.stderr, int64(total), "migrate")
			}
			bar.Add(int64(done - last))
			last = done
		})
		bar.Done()
		if err != nil {
			return err
		}
		if *asJSON {
			if err := writeJSON(e.stdout, rep); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(e.stdout, "moved into batches     %d (of them stored before: %d)\n", rep.Moved, rep.Existed)
			fmt.Fprintf(e.stdout, "left in the old layout %d\n", rep.Failed)
			for _, p := range rep.Problems {
				fmt.Fprintf(e.stdout, "  %s\n", p)
			}
		}
		if rep.Failed > 0 {
			return fmt.Errorf("%d conversations could not be migrated (listed above); the store stays refused until they are", rep.Failed)
		}
		return nil
	})
}
