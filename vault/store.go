package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/tokenizer"
)

// StoreResult says what a Store did.
type StoreResult struct {
	ID string
	// Existed is true when the identical conversation was already stored (Store is idempotent).
	Existed bool
	Tokens  int
	// NewSegments counts segment objects this Store uploaded; Segments all it references.
	NewSegments, Segments int
	// StoredBytes is what this Store added to the bucket: new segments, the manifest, and a
	// compression model when this Store was the one that built it.
	StoredBytes int64
}

// Store validates c, tokenizes its text, and stores it. An empty c.ID is replaced by a new
// UUIDv7 (sortable by time), written back into c.ID.
//
// Storing the identical conversation again is a no-op that reports Existed; storing a different
// conversation under an existing id fails with ErrConflict. Invalid input fails with an error
// wrapping conversation.ErrInvalid (or tokenizer.ErrUnknown, tokenizer.ErrTokenRange, ...) and
// changes nothing.
//
// Order of writes (DESIGN.md §4): references first, then missing segment objects, then the
// manifest, which publishes the conversation. A crash at any point leaves at most leaked
// references or objects, never a manifest pointing at something missing.
func (v *Vault) Store(ctx context.Context, c *conversation.Conversation) (StoreResult, error) {
	start := v.now()
	if c.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return StoreResult{}, fmt.Errorf("vault: generate id: %w", err)
		}
		c.ID = id.String()
	}
	plan, err := v.prepare(c)
	if err != nil {
		return StoreResult{ID: c.ID}, err
	}
	res := StoreResult{ID: c.ID, Tokens: plan.manifest.Totals.Tokens, Segments: len(plan.segments)}
	m := plan.manifest
	m.StoredAt = start.UnixMilli()
	m.Nonce = randomHex(8)
	owner := m.Owner()
	encoded, err := v.manifests.Encode(m, plan.model)
	if err != nil {
		return res, err
	}
	if plan.model == 0 {
		payload, _ := manifest.Payload(m)
		res.StoredBytes += v.observe(ctx, scope{c.Tokenizer, c.Application}, plan.tokenData, payload)
	}

	ctx, cancel := context.WithDeadline(ctx, start.Add(v.storeTTL))
	defer cancel()
	ids := make([]string, len(plan.segments))
	for i, s := range plan.segments {
		ids[i] = s.id
	}
	if err := v.refs.AddRefs(ctx, owner, ids, start); err != nil {
		return res, fmt.Errorf("vault: store %q: take references: %w", c.ID, err)
	}
	newSegs := make([]bool, len(plan.segments))
	err = forEach(ctx, len(plan.segments), v.concurrency, func(ctx context.Context, i int) error {
		created, err := v.ensureSegment(ctx, plan.segments[i].id, plan.segments[i].frame)
		newSegs[i] = created
		return err
	})
	if err == nil && v.now().Sub(start) >= v.storeTTL {
		err = fmt.Errorf("writer deadline of %s passed", v.storeTTL)
	}
	if err != nil {
		v.dropRefs(owner, ids)
		return res, fmt.Errorf("vault: store %q: %w", c.ID, err)
	}
	for i, created := range newSegs {
		if created {
			res.NewSegments++
			res.StoredBytes += int64(len(plan.segments[i].frame))
		}
	}

	_, err = v.bucket.Put(ctx, manifestKey(c.ID), encoded, objstore.PutOptions{IfNoneMatch: true, ContentType: "application/json"})
	switch {
	case err == nil:
		res.StoredBytes += int64(len(encoded))
		v.log.Debug("stored", "id", c.ID, "tokens", res.Tokens, "segments", res.Segments, "new_segments", res.NewSegments, "bytes", res.StoredBytes)
		return res, nil
	case errors.Is(err, objstore.ErrExists):
		return v.storeExisted(ctx, c, m, ids, res)
	default:
		// The manifest may or may not have been written (a timeout after the server applied it).
		// Our references stay: if it was written they are needed, if not Verify reclaims them.
		return res, fmt.Errorf("vault: store %q: write manifest: %w", c.ID, err)
	}
}

// storeExisted finishes a Store whose manifest write found a manifest already there: our own,
// when a retried request was applied before (keep everything), or another Store's (drop our
// references; the same conversation is success, a different one ErrConflict).
func (v *Vault) storeExisted(ctx context.Context, c *conversation.Conversation, m *manifest.Manifest, ids []string, res StoreResult) (StoreResult, error) {
	existing, err := v.readManifest(ctx, c.ID)
	if err != nil {
		return res, fmt.Errorf("vault: store %q: manifest exists but cannot be read: %w", c.ID, err)
	}
	if existing.Nonce == m.Nonce {
		return res, nil
	}
	// Drop our references. Only segments the existing manifest does not use may have become
	// unreferenced (ours were uploaded for nothing): only they are marked for the collector.
	var unused []string
	inExisting := map[string]bool{}
	for _, id := range existing.Segments() {
		inExisting[id] = true
	}
	for _, id := range ids {
		if !inExisting[id] {
			unused = append(unused, id)
		}
	}
	v.dropRefsMarking(m.Owner(), ids, unused)
	stored, err := v.assemble(ctx, existing)
	if err != nil {
		return res, fmt.Errorf("vault: store %q: read the stored conversation: %w", c.ID, err)
	}
	a, aerr := conversation.Marshal(stored)
	b, berr := conversation.Marshal(c)
	if err := errors.Join(aerr, berr); err != nil {
		return res, err
	}
	if !bytes.Equal(a, b) {
		return res, fmt.Errorf("%w: %q", ErrConflict, c.ID)
	}
	// Segments this call uploaded stay counted: they are stored until GC collects them.
	res.Existed = true
	return res, nil
}

// StoreBatch stores the conversations concurrently. The i-th result and error belong to cs[i];
// one failure does not stop the others.
func (v *Vault) StoreBatch(ctx context.Context, cs []*conversation.Conversation) ([]StoreResult, []error) {
	results := make([]StoreResult, len(cs))
	errs := make([]error, len(cs))
	forEach(ctx, len(cs), v.concurrency, func(ctx context.Context, i int) error {
		results[i], errs[i] = v.Store(ctx, cs[i])
		return nil
	})
	return results, errs
}

// dropRefs removes references a failed Store took and marks the segments for the collector.
func (v *Vault) dropRefs(owner string, ids []string) { v.dropRefsMarking(owner, ids, ids) }

// dropRefsMarking removes owner's references on ids and marks the segments in mark for the
// collector. Failures only leak references, which Verify reclaims, so they are logged.
func (v *Vault) dropRefsMarking(owner string, ids, mark []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := v.refs.RemoveRefs(ctx, owner, ids); err != nil {
		v.log.Warn("leaked references of a failed store; verify --repair reclaims them", "owner", owner, "err", err)
		return
	}
	if len(mark) == 0 {
		return
	}
	if err := v.refs.MarkCandidates(ctx, mark, v.now()); err != nil {
		v.log.Warn("could not mark segments for gc", "owner", owner, "err", err)
	}
}

// ensureSegment makes sure the segment object exists and its head is live, following the
// writer side of the protocol; the caller already holds a reference. It reports whether it
// uploaded the object.
func (v *Vault) ensureSegment(ctx context.Context, id string, frame []byte) (bool, error) {
	uploaded := false
	upload := func() error {
		_, err := v.bucket.Put(ctx, segmentKey(id), frame, objstore.PutOptions{IfNoneMatch: true, ContentType: "application/octet-stream"})
		if err == nil {
			uploaded = true
			return nil
		}
		if errors.Is(err, objstore.ErrExists) {
			return nil // dedup: someone stored it first
		}
		return fmt.Errorf("upload segment %s: %w", id, err)
	}
	wait := 10 * time.Millisecond
	for {
		h, err := v.refs.GetHead(ctx, id)
		switch {
		case err == nil && h.State == refcount.Live:
			return uploaded, nil
		case errors.Is(err, refcount.ErrNotFound):
			if err := upload(); err != nil {
				return uploaded, err
			}
			err = v.refs.CreateHead(ctx, id, int64(len(frame)), v.now())
			if err == nil {
				return uploaded, nil
			}
			if !errors.Is(err, refcount.ErrExists) {
				return uploaded, fmt.Errorf("create head of %s: %w", id, err)
			}
		case err != nil:
			return uploaded, fmt.Errorf("read head of %s: %w", id, err)
		case h.State == refcount.Deleting && !v.now().Before(h.ClaimExpires):
			// The collector that claimed it is past its lease: re-upload and take it back.
			if err := upload(); err != nil {
				return uploaded, err
			}
			if err := v.refs.Revive(ctx, id, h.ClaimID, v.now()); err != nil && !errors.Is(err, refcount.ErrConflict) {
				return uploaded, fmt.Errorf("revive %s: %w", id, err)
			}
		default:
			// Claimed by a collector: it will find our reference and release it, or delete the
			// object and the head, after which we upload again.
			select {
			case <-ctx.Done():
				return uploaded, fmt.Errorf("waiting for gc to release segment %s: %w", id, context.Cause(ctx))
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
		}
	}
}

type segmentPlan struct {
	id    string
	frame []byte
}

type storePlan struct {
	manifest *manifest.Manifest
	segments []segmentPlan // distinct, in first-use order
	model    uint32        // compression model of the frames and the manifest, 0 for none
	// tokenData is the varint token data of every piece, kept only when no model exists yet
	// (samples for building one).
	tokenData [][]byte
}

// prepare validates and tokenizes c and builds its manifest (without owner and time) and the
// frames of its segments. It does no I/O.
func (v *Vault) prepare(c *conversation.Conversation) (*storePlan, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", conversation.ErrInvalid, err)
	}
	m := &manifest.Manifest{
		SchemaVersion: manifest.SchemaVersion,
		ID:            c.ID,
		Application:   c.Application,
		Model:         c.Model,
		Tokenizer:     c.Tokenizer,
		Metadata:      c.Metadata,
		Messages:      make([]manifest.Message, len(c.Messages)),
	}
	if !c.CreatedAt.IsZero() {
		m.CreatedAt = c.CreatedAt.Format(time.RFC3339Nano)
	}
	streams := make([][]int, len(c.Messages))
	for i := range c.Messages {
		msg := &c.Messages[i]
		if msg.HasTokens() {
			if err := tok.Validate(msg.Tokens); err != nil {
				return nil, fmt.Errorf("%w: message %d: %w", conversation.ErrInvalid, i, err)
			}
			streams[i] = msg.Tokens
		} else {
			streams[i] = tok.Encode(msg.Content)
		}
		mm := manifest.Message{Role: msg.Role, Tokens: len(streams[i]), AsTokens: msg.HasTokens(),
			ContentNull: msg.ContentNull, Name: msg.Name, ToolCallID: msg.ToolCallID}
		for _, tc := range msg.ToolCalls {
			mm.ToolCalls = append(mm.ToolCalls, manifest.ToolCall{ID: tc.ID, Type: tc.Type, Name: tc.Name, Arguments: tc.Arguments})
		}
		m.Messages[i] = mm
		m.Totals.Tokens += len(streams[i])
	}

	plan := &storePlan{manifest: m, model: v.activeModel(scope{c.Tokenizer, c.Application})}
	seen := map[string]bool{}
	var inline []int
	for _, p := range cutPieces(c.Tokenizer, streams) {
		if plan.model == 0 {
			plan.tokenData = append(plan.tokenData, codec.AppendVarints(nil, p.tokens))
		}
		if p.segment == "" {
			inline = append(inline, p.tokens...)
			if n := len(m.Chunks); n > 0 && m.Chunks[n-1].Segment == "" {
				m.Chunks[n-1].Tokens += len(p.tokens)
			} else {
				m.Chunks = append(m.Chunks, manifest.Chunk{Tokens: len(p.tokens)})
			}
			continue
		}
		m.Chunks = append(m.Chunks, manifest.Chunk{Segment: p.segment, Tokens: len(p.tokens)})
		if !seen[p.segment] {
			seen[p.segment] = true
			frame, err := v.codec.Encode(p.tokens, plan.model)
			if err != nil {
				return nil, err
			}
			plan.segments = append(plan.segments, segmentPlan{id: p.segment, frame: frame})
			m.Totals.SegmentBytes += int64(len(frame))
		}
	}
	m.Inline = inline
	return plan, nil
}
