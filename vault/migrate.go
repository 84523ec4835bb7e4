package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
)

// The layout before batches kept one manifest object per conversation (manifest.Key), whose
// references belonged to the conversation itself (manifest.Manifest.LegacyOwner) and which
// existed exactly when the conversation did. A store that still holds such manifests is
// refused (ErrOldLayout) until Migrate moved them: the audit of the batched layout would take
// their references for leaks.

// hasOldLayout reports whether the bucket holds a manifest of the layout before batches. It
// costs one LIST request.
func (v *Vault) hasOldLayout(ctx context.Context) (bool, error) {
	found := false
	err := v.bucket.List(ctx, manifest.Prefix, func(objstore.Attrs) error {
		found = true
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, fmt.Errorf("vault: look for manifests of an older layout: %w", err)
	}
	return found, nil
}

// DefaultMigrateBatch is the batch size of Migrate when none is given.
const DefaultMigrateBatch = 1000

// MigrateReport says what Migrate did.
type MigrateReport struct {
	// Moved counts the conversations stored in batches and removed from the old layout;
	// Existed those of them that a migration before had stored already.
	Moved   int `json:"moved"`
	Existed int `json:"existed"`
	// Failed counts the conversations left in the old layout, each with a line in Problems.
	Failed   int      `json:"failed"`
	Problems []string `json:"problems"`
}

// Migrate moves every conversation of the layout before batches into the batched layout, in
// batches of batchSize (DefaultMigrateBatch when 0), and reports after each batch to progress
// (nil: none) how many of the old layout's conversations it went through, of how many. Open the vault with Options.Migrate to
// call it.
//
// Per conversation: it reads and checks the old manifest and the conversation, stores the
// conversation (StoreBatch: its pointer is written before anything old goes), then deletes the
// old manifest, hides the old copy's catalog row, and drops the old copy's references, marking
// its segments for the collector. So at every moment the conversation is stored at least once,
// and a migration that stops anywhere can be run again: a conversation stored before reports
// Existed and its old copy goes. The stored copy gets a new stored-at time and nonce; its id,
// content, creation time and metadata are those it had. A conversation that cannot be read or
// stored stays in the old layout, and the store stays refused until it is dealt with.
func (v *Vault) Migrate(ctx context.Context, batchSize int, progress func(done, total int)) (MigrateReport, error) {
	var rep MigrateReport
	if v.readOnly {
		return rep, ErrReadOnly
	}
	if batchSize <= 0 {
		batchSize = DefaultMigrateBatch
	}
	var keys []string
	if err := v.bucket.List(ctx, manifest.Prefix, func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		return rep, fmt.Errorf("vault: migrate: list manifests: %w", err)
	}
	problem := func(format string, args ...any) {
		rep.Failed++
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
	}
	for done := 0; done < len(keys); done += batchSize {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		var old []*manifest.Manifest
		var cs []*conversation.Conversation
		for _, key := range keys[done:min(done+batchSize, len(keys))] {
			m, _, err := v.readManifestKey(ctx, key)
			if errors.Is(err, ErrNotFound) {
				continue // deleted since the listing
			}
			if err != nil {
				problem("%s: %v", key, err)
				continue
			}
			c, err := v.assemble(ctx, m)
			if err != nil {
				problem("%s: %v", key, err)
				continue
			}
			old, cs = append(old, m), append(cs, c)
		}
		results, errs := v.StoreBatch(ctx, cs)
		for i, m := range old {
			if errs[i] != nil {
				problem("%q: %v", m.ID, errs[i])
				continue
			}
			if err := v.retireOld(ctx, m); err != nil {
				problem("%q: stored in a batch; its old copy is left (run migrate again): %v", m.ID, err)
				continue
			}
			rep.Moved++
			if results[i].Existed {
				rep.Existed++
			}
		}
		if progress != nil {
			progress(min(done+batchSize, len(keys)), len(keys))
		}
	}
	v.log.Info("migrate", "moved", rep.Moved, "existed", rep.Existed, "failed", rep.Failed)
	return rep, nil
}

// retireOld removes the old copy of a migrated conversation: its manifest first (after which
// nothing reads it), then its catalog row, then its references.
func (v *Vault) retireOld(ctx context.Context, m *manifest.Manifest) error {
	if err := v.bucket.Delete(ctx, manifest.Key(m.ID)); err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("delete the old manifest: %w", err)
	}
	if v.catalog != nil {
		if err := v.catalog.Delete(ctx, *catalogEntry(m, 0)); err != nil {
			return fmt.Errorf("hide the old catalog row: %w", err)
		}
	}
	segs := m.Segments()
	if err := v.refs.RemoveRefs(ctx, m.LegacyOwner(), segs); err != nil {
		return fmt.Errorf("drop the old references: %w", err)
	}
	return v.refs.MarkCandidates(ctx, segs, v.now())
}
