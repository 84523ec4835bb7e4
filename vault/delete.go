package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/stowken/stowken/refcount"
)

// deleteAttempts bounds the attempts of one Delete: an attempt whose conversation was deleted
// and stored again, or moved to another batch by GC's compaction, between reading the pointer
// and deleting it starts again.
const deleteAttempts = 3

// Delete removes a stored conversation: first its pointer (the conversation is gone from that
// moment), then its catalog entry, and then it marks its batch for the collector, which drops
// the batch's references once no conversation of the batch is stored. A crash after the
// pointer is gone may leave the catalog entry or the mark, which Verify reclaims; it never
// loses data. Deleting a conversation that does not exist returns ErrNotFound.
//
// The manifest stays in its batch object, and the unique text in the batch's packs, until GC
// compacts the batch without it, or retires it when no conversation of it is left, and
// collects them (docs/design.md, "What a deletion erases").
func (v *Vault) Delete(ctx context.Context, id string) error {
	if v.readOnly {
		return ErrReadOnly
	}
	for attempt := 1; ; attempt++ {
		// The manifest is read while the pointer keeps its batch alive: the catalog's
		// tombstone needs its day. A manifest that cannot be read does not stop the Delete.
		m, err := v.readManifest(ctx, id)
		var ptr refcount.Pointer
		switch {
		case err == nil:
			ptr = refcount.Pointer{Batch: m.Batch, Nonce: m.Nonce}
		case errors.Is(err, ErrNotFound):
			return err
		default:
			if ptr, err = v.refs.GetPointer(ctx, id); errors.Is(err, refcount.ErrNotFound) {
				return fmt.Errorf("%w: %q", ErrNotFound, id)
			} else if err != nil {
				return fmt.Errorf("vault: delete %q: %w", id, err)
			}
			m = nil
		}
		err = v.refs.DeletePointer(ctx, id, ptr)
		if errors.Is(err, refcount.ErrConflict) && attempt < deleteAttempts {
			continue // deleted and stored again, or moved, since the read
		}
		if err != nil {
			return fmt.Errorf("vault: delete %q: %w", id, err)
		}
		var catalogErr error
		switch {
		case v.catalog == nil:
		case m == nil:
			catalogErr = fmt.Errorf("vault: delete %q: deleted; its manifest could not be read, so its catalog entry is left (verify --repair removes it)", id)
		default:
			if err := v.catalog.Delete(ctx, *catalogEntry(m, 0)); err != nil {
				catalogErr = fmt.Errorf("vault: delete %q: deleted, catalog entry left (verify --repair removes it): %w", id, err)
			}
		}
		if err := v.refs.MarkCandidates(ctx, []string{ptr.Batch}, v.now()); err != nil {
			return errors.Join(catalogErr, fmt.Errorf("vault: delete %q: deleted; mark its batch for gc (verify --repair does it): %w", id, err))
		}
		v.log.Debug("deleted", "id", id, "batch", ptr.Batch)
		return catalogErr
	}
}
