package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
)

// Delete removes a stored conversation: first its manifest (the conversation is gone from that
// moment), then its catalog entry and its references, then it marks the segments for the
// collector. A crash after the manifest is gone leaks references and may leave the catalog
// entry, which Verify reclaims; it never loses data. Deleting a conversation that does not
// exist returns ErrNotFound.
func (v *Vault) Delete(ctx context.Context, id string) error {
	if v.readOnly {
		return ErrReadOnly
	}
	m, err := v.readManifest(ctx, id)
	if err != nil {
		return err
	}
	if err := v.bucket.Delete(ctx, manifest.Key(id)); err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("vault: delete %q: %w", id, err)
	}
	var catalogErr error
	if v.catalog != nil {
		if err := v.catalog.Delete(ctx, *catalogEntry(m, 0)); err != nil {
			catalogErr = fmt.Errorf("vault: delete %q: manifest deleted, catalog entry left (verify --repair removes it): %w", id, err)
		}
	}
	segs := m.Segments()
	if err := v.refs.RemoveRefs(ctx, m.Owner(), segs); err != nil {
		return fmt.Errorf("vault: delete %q: manifest deleted, references leaked (verify --repair reclaims them): %w", id, err)
	}
	if err := v.refs.MarkCandidates(ctx, segs, v.now()); err != nil {
		return fmt.Errorf("vault: delete %q: mark segments for gc: %w", id, err)
	}
	v.log.Debug("deleted", "id", id, "segments", len(segs))
	return catalogErr
}
