package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/refcount"
)

// Compaction. A batch object holds the manifests of all its conversations, and its packs their
// unique tokens, so a conversation deleted from a batch whose other conversations stay would
// stay in the bucket until the last of them is deleted. So that a deletion erases, GC compacts
// such a batch (docs/design.md, "What a deletion erases"): it stores the conversations still
// stored in it as a new batch, with the same pipeline as StoreBatch (their pieces packed anew,
// without the deleted ones), moves their pointers to the new batch, and then retires the old
// one like any batch no pointer names, which sends its packs and batch object to the collector.
//
// A pointer is moved with a conditional write (refcount.Backend.MovePointer) that keeps its
// nonce, so the conversation's catalog entry, which is keyed by id and nonce, stays its entry.
// The write is sent once: a move whose outcome is unknown counts as applied for the new batch,
// which keeps its references (as a Store does), and as not applied for the old one, which
// stays until a later compaction finds its pointer moved or not.
//
// The new batch is marked for the collector before any pointer moves: a compaction cut short
// (a crash, the writer deadline) leaves both batches with some of the conversations, and the
// next collections compact each of them again. A Delete that read a conversation's pointer
// before it moved finds it changed when it deletes (its delete is conditional on batch and
// nonce), reads again, and marks the new batch.

// compactBatch stores the conversations of batch id that its pointers still name (live, by id)
// as a new batch, and moves their pointers to it. It reports whether no pointer names batch id
// any more: every move was applied, or found the pointer changed.
func (v *Vault) compactBatch(ctx context.Context, id string, b *batchObject, live map[string]refcount.Pointer) (moved int, vacated bool, err error) {
	start := v.now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(v.storeTTL))
	defer cancel()
	ids := make([]string, 0, len(live))
	for cid := range live {
		ids = append(ids, cid)
	}
	slices.Sort(ids) // the batch's order is lost in its object's map: any fixed order packs as well
	ps := make([]*pendingStore, len(ids))
	err = forEach(ctx, len(ids), v.concurrency, func(ctx context.Context, i int) error {
		old := b.manifests[ids[i]]
		streams, err := v.streams(ctx, old)
		if err != nil {
			return err
		}
		m := *old
		m.Chunks, m.Inline, m.Totals.SegmentBytes, m.Batch, m.Nonce = nil, nil, 0, "", live[ids[i]].Nonce
		ps[i] = &pendingStore{c: &conversation.Conversation{ID: m.ID, Application: m.Application, Model: m.Model, Tokenizer: m.Tokenizer},
			plan: v.newPlan(&m, streams)}
		ps[i].res.ID = m.ID
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("read the conversations of batch %s: %w", id, err)
	}
	v.pack(ctx, ps)
	nb := v.newBatch(ctx, manifest.NewBatchID(), ps, start.Add(v.storeTTL))
	v.requireConditionsFor(ctx, nb.members)
	v.takeRefs(ctx, nb, start)
	if nb.refs == nil {
		return 0, false, fmt.Errorf("write the batch replacing %s: %w", id, errors.Join(errsOf(ps)...))
	}
	if err := v.refs.MarkCandidates(ctx, []string{nb.id}, v.now()); err != nil {
		v.dropRefs(nb.id, nb.refs)
		return 0, false, fmt.Errorf("mark the batch replacing %s: %w", id, err)
	}
	v.upload(ctx, nb)
	var errs []error
	vacated = len(nb.live()) == len(ids)
	for _, p := range nb.live() {
		if v.now().Sub(start) >= v.storeTTL {
			vacated = false
			break
		}
		from := live[p.c.ID]
		err := v.refs.MovePointer(ctx, p.c.ID, from, refcount.Pointer{Batch: nb.id, Nonce: from.Nonce})
		switch {
		case err == nil:
			nb.sent.Store(true)
			moved++
		case errors.Is(err, refcount.ErrConflict):
			// Deleted, or deleted and stored again, since GC read its pointer.
		default:
			nb.sent.Store(true) // it may have been applied
			vacated = false
			errs = append(errs, fmt.Errorf("move the pointer of %q: %w", p.c.ID, err))
		}
	}
	if !nb.sent.Load() {
		v.dropRefs(nb.id, nb.refs)
	}
	v.log.Debug("gc: batch compacted", "batch", id, "into", nb.id, "moved", moved, "of", len(ids), "vacated", vacated)
	return moved, vacated, errors.Join(append(errs, errsOf(ps)...)...)
}

// errsOf returns the errors of the stores that failed.
func errsOf(ps []*pendingStore) []error {
	var errs []error
	for _, p := range ps {
		if p.err != nil {
			errs = append(errs, p.err)
		}
	}
	return errs
}
