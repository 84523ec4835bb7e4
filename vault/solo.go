package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
)

// Conversations stored alone. A Store writes its conversation's batch object, with a batch id
// that carries its start time (manifest.NewSoloBatchID), so that such objects list in time
// order under manifest.SoloPrefix, and its pointer, and no catalog file: a catalog file is a
// PUT, and a Store makes one PUT for its content. The catalog entry is in the batch object
// (the manifest) and the pointer (the nonce of the stored copy).
//
// GC gathers these entries into the catalog's files (gatherSolos) once the writer deadline of
// each Store has passed by ClaimTTL/2, and records in soloGatheredKey the time before which
// every one is gathered. List, Stats, exports and Verify list the catalog together with the
// entries of the conversations stored alone since then (soloEntries, union.List).
//
// Cost, per conversation stored alone: a PUT less for its Store (5 × 10⁻⁶ dollars); GC reads
// its batch object and its pointer once (about 5 × 10⁻⁷), and each listing until then reads
// them too. A listing thus reads every conversation stored alone since the last gathering:
// about the writer deadline and ClaimTTL/2 (25 minutes by default) and the GC schedule's
// worth of Stores.

// soloGatheredKey is the object that records how far GC has gathered the entries of
// conversations stored alone (soloMark). Only GC writes it: create-if-absent, then with If-Match.
const soloGatheredKey = "catalog-gathered/solo.json"

// soloMark is soloGatheredKey's content: every conversation stored alone by a Store that
// started before BeforeMS (Unix milliseconds) has its entry in the catalog's files, or is not
// stored.
type soloMark struct {
	BeforeMS int64 `json:"before_ms"`
}

// soloGatherChunk is how many batch objects GC reads before it writes their entries and moves
// the mark: it bounds the memory a gathering takes, and what a run cut short reads again.
const soloGatherChunk = 10_000

// soloGathered reads the mark: the time before which every entry is gathered (zero when
// nothing was), and its ETag, to move it with (empty when there is none).
func (v *Vault) soloGathered(ctx context.Context) (time.Time, string, error) {
	data, attrs, err := v.bucket.Get(ctx, soloGatheredKey)
	if errors.Is(err, objstore.ErrNotFound) {
		return time.Time{}, "", nil
	}
	if err != nil {
		return time.Time{}, "", fmt.Errorf("read %s: %w", soloGatheredKey, err)
	}
	var m soloMark
	if err := json.Unmarshal(data, &m); err != nil {
		return time.Time{}, "", fmt.Errorf("%w: %s: %v", ErrCorrupt, soloGatheredKey, err)
	}
	return time.UnixMilli(m.BeforeMS).UTC(), attrs.ETag, nil
}

// soloBatches lists the ids of the batch objects of conversations stored alone from since on,
// in time order, up to (not including) until when it is not zero.
func (v *Vault) soloBatches(ctx context.Context, since, until time.Time) ([]string, error) {
	var ids []string
	err := v.bucket.ListAfter(ctx, manifest.SoloPrefix, manifest.SoloKey(since), func(a objstore.Attrs) error {
		id := strings.TrimPrefix(a.Key, manifest.BatchPrefix)
		t, ok := manifest.SoloTime(id)
		switch {
		case !ok:
			return nil // not a batch object
		case !until.IsZero() && !t.Before(until):
			return errStop
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("list the batch objects of conversations stored alone: %w", err)
	}
	return ids, nil
}

// soloEntries returns the catalog entries of the conversations stored alone whose batch
// objects ids names, read from the objects and the pointers: one GET (unless cached) and one
// strongly consistent read each. A conversation not stored (deleted, stored again in another
// batch, or a Store that failed) has none. With sketches, each entry gets its conversation's
// sketches too, which reads the segments of its long pieces (shared, and cached).
func (v *Vault) soloEntries(ctx context.Context, ids []string, sketches bool) ([]catalog.Entry, error) {
	entries := make([]*catalog.Entry, len(ids))
	err := forEach(ctx, len(ids), v.concurrency, func(ctx context.Context, i int) error {
		b, err := v.readBatch(ctx, ids[i])
		switch {
		case errors.Is(err, ErrMissingSegment):
			return nil // collected since the listing
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNewerVersion):
			v.log.Warn("catalog: the batch object of a conversation stored alone cannot be decoded; its entry is left out (stowken verify reports it)", "batch", ids[i], "err", err)
			return nil
		case err != nil:
			return err
		}
		for _, m := range b.manifests {
			ptr, err := v.refs.GetPointer(ctx, m.ID)
			switch {
			case errors.Is(err, refcount.ErrNotFound):
			case err != nil:
				return fmt.Errorf("read the pointer of %q: %w", m.ID, err)
			case ptr.Batch == ids[i]:
				c := *m
				c.Nonce = ptr.Nonce
				e := catalogEntry(&c, b.size)
				if sketches {
					// A conversation whose tokens cannot be read (deleted and collected since
					// the pointer read, or a segment unreadable: verify reports it) keeps an
					// entry without sketches, which is complete.
					switch streams, err := v.streams(ctx, m); {
					case ctx.Err() != nil:
						return ctx.Err()
					case err != nil:
						v.log.Warn("catalog: the tokens of a conversation stored alone cannot be read; its entry is gathered without sketches", "id", m.ID, "err", err)
					default:
						v.addSketches(e, m, streams)
					}
				}
				entries[i] = e
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []catalog.Entry
	for _, e := range entries {
		if e != nil {
			out = append(out, *e)
		}
	}
	return out, nil
}

// ungathered returns the entries of the conversations stored alone that GC has not gathered
// into the catalog yet.
func (v *Vault) ungathered(ctx context.Context) ([]catalog.Entry, error) {
	since, _, err := v.soloGathered(ctx)
	if err != nil {
		return nil, err
	}
	ids, err := v.soloBatches(ctx, since, time.Time{})
	if err != nil {
		return nil, err
	}
	return v.soloEntries(ctx, ids, false)
}

// gatherSolos writes the catalog entries of the conversations stored alone whose Stores
// started StoreTimeout + ClaimTTL/2 before start or earlier (so that every pointer write of
// them has landed or never will) into the catalog, and moves the mark past them. It reads in chunks
// of soloGatherChunk, writing each chunk's entries and moving the mark after it, so that a run
// cut short (ctx, or stop) keeps what it did. It writes nothing half the ClaimTTL after start:
// a Delete's catalog deletion outlives that (catalog.CompactOptions.Settle), so an entry
// written after its pointer was read and deleted stays deleted. It reports how many entries
// it wrote.
func (v *Vault) gatherSolos(ctx context.Context, start time.Time, stop func() bool) (int, error) {
	if v.catalog == nil {
		return 0, nil
	}
	mark, etag, err := v.soloGathered(ctx)
	if err != nil {
		return 0, err
	}
	// A Store that started at cutoff or before is past its deadline by ClaimTTL/2, as a batch
	// GC retires; ids carry milliseconds.
	cutoff := start.Add(-v.storeTTL - v.claimTTL/2).Truncate(time.Millisecond).Add(time.Millisecond)
	if !cutoff.After(mark) {
		return 0, nil
	}
	ids, err := v.soloBatches(ctx, mark, cutoff)
	if err != nil || len(ids) == 0 {
		return 0, err // with none, listings after the mark read what they would after cutoff
	}
	deadline := start.Add(v.claimTTL / 2)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	gathered := 0
	for len(ids) > 0 {
		if stop() {
			return gathered, nil
		}
		chunk := ids[:min(len(ids), soloGatherChunk)]
		ids = ids[len(chunk):]
		next := cutoff
		if len(ids) > 0 {
			// The next chunk starts with this chunk's last millisecond: entries of it read
			// twice are written twice, which leaves one (catalog.Backend.Put).
			next, _ = manifest.SoloTime(chunk[len(chunk)-1])
		}
		entries, err := v.soloEntries(dctx, chunk, v.sketches)
		if err != nil {
			return gathered, err
		}
		if len(entries) > 0 {
			if !v.now().Before(deadline) {
				return gathered, fmt.Errorf("gather catalog entries: past the deadline of %s", deadline.Format(time.RFC3339))
			}
			if err := v.catalog.Put(dctx, entries...); err != nil {
				return gathered, fmt.Errorf("gather catalog entries: %w", err)
			}
			gathered += len(entries)
		}
		if etag, err = v.moveSoloMark(dctx, next, etag); err != nil {
			return gathered, err
		}
	}
	return gathered, nil
}

// moveSoloMark writes the mark at t, replacing the one of ETag etag (creating it when etag is
// empty), and returns the new ETag. Another run that moved the mark meanwhile wins: this one
// stops with an error, and what it wrote is written again, harmlessly, by a later run.
func (v *Vault) moveSoloMark(ctx context.Context, t time.Time, etag string) (string, error) {
	data, err := json.Marshal(soloMark{BeforeMS: t.UnixMilli()})
	if err != nil {
		return "", err
	}
	opts := objstore.PutOptions{ContentType: "application/json", IfMatch: etag, IfNoneMatch: etag == ""}
	attrs, err := v.bucket.Put(ctx, soloGatheredKey, data, opts)
	if err != nil {
		return "", fmt.Errorf("move the mark of gathered catalog entries: %w", err)
	}
	return attrs.ETag, nil
}
