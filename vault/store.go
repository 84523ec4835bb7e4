package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/segment"
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
	// Usage is what this Store's requests cost. In a StoreBatch, the upload of a segment
	// several conversations share counts for the first of them, and the batch's look-ups
	// deciding what to pack count for none. The Vault's one check of the bucket's conditional
	// writes (CheckConditionalWrites), made before its first write, counts for the Store that
	// made it, and for none in a StoreBatch.
	Usage cost.Usage
}

// Store validates c, tokenizes its text, and stores it. An empty c.ID is replaced by a new
// UUIDv7 (sortable by time), written back into c.ID.
//
// Storing the identical conversation again is a no-op that reports Existed; storing a different
// conversation under an existing id fails with ErrConflict. Invalid input fails with an error
// wrapping conversation.ErrInvalid (or tokenizer.ErrUnknown, tokenizer.ErrTokenRange, ...) and
// changes nothing. On a bucket that ignores conditional writes, Store fails with an error
// wrapping objstore.ErrConditionsIgnored and writes nothing (see CheckConditionalWrites).
//
// Order of writes (docs/design.md, "The protocol and its invariant"): references first, then
// missing segment objects, then the manifest, which publishes the conversation. A crash at any point leaves at most leaked
// references or objects, never a manifest pointing at something missing.
func (v *Vault) Store(ctx context.Context, c *conversation.Conversation) (StoreResult, error) {
	if v.readOnly {
		return StoreResult{}, ErrReadOnly
	}
	start := v.now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(v.storeTTL))
	defer cancel()
	p := v.begin(c, start)
	ctx = cost.WithMeter(ctx, &p.ops)
	v.requireConditionsFor(ctx, []*pendingStore{p})
	v.takeRefs(ctx, p)
	v.upload(ctx, []*pendingStore{p})
	v.finish(ctx, p, start)
	v.putCatalog(ctx, []*pendingStore{p})
	p.res.Usage = p.ops.Usage()
	return p.res, p.err
}

// StoreBatch stores the conversations concurrently. The i-th result and error belong to cs[i];
// one failure does not stop the others.
//
// Unlike Store, StoreBatch packs the unique parts of conversations of the same application
// into shared pack segments, so that they compress with each other's context (see pack.go). A
// pack is a segment like any other, referenced by every conversation in it, and deleted when
// the last of them is; until then it keeps the bytes of deleted members too. Storing a batch
// again whose conversations are all stored already may upload packs (or segments) that end up
// unused: they are marked for the collector, like everything a failed Store leaves (writers
// never delete segments).
func (v *Vault) StoreBatch(ctx context.Context, cs []*conversation.Conversation) ([]StoreResult, []error) {
	if v.readOnly {
		errs := make([]error, len(cs))
		for i := range errs {
			errs[i] = ErrReadOnly
		}
		return make([]StoreResult, len(cs)), errs
	}
	start := v.now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(v.storeTTL))
	defer cancel()
	ps := make([]*pendingStore, len(cs))
	forEach(ctx, len(cs), v.concurrency, func(ctx context.Context, i int) error {
		ps[i] = v.begin(cs[i], start)
		return nil
	})
	v.pack(ctx, ps)
	v.requireConditionsFor(ctx, ps)
	forEach(ctx, len(ps), v.concurrency, func(ctx context.Context, i int) error {
		v.takeRefs(cost.WithMeter(ctx, &ps[i].ops), ps[i])
		return nil
	})
	// Every conversation referenced its segments above; now each distinct segment of the
	// batch, packs included, is uploaded once.
	v.upload(ctx, ps)
	forEach(ctx, len(ps), v.concurrency, func(ctx context.Context, i int) error {
		v.finish(cost.WithMeter(ctx, &ps[i].ops), ps[i], start)
		return nil
	})
	v.putCatalog(ctx, ps)
	results := make([]StoreResult, len(cs))
	errs := make([]error, len(cs))
	for i, p := range ps {
		p.res.Usage = p.ops.Usage()
		results[i], errs[i] = p.res, p.err
	}
	return results, errs
}

// pendingStore is one conversation on its way through Store or StoreBatch. Each step does
// nothing once err is set.
type pendingStore struct {
	c    *conversation.Conversation
	plan *storePlan
	res  StoreResult
	err  error
	// refs lists the segments owner references once takeRefs succeeded (nil before).
	refs []string
	// entry is the catalog entry of the conversation once this Store stored it (a write
	// found applied included), for putCatalog; nil otherwise.
	entry *catalog.Entry
	// ops meters this conversation's requests: the Vault's metered backends also record in
	// the meter of a context made by cost.WithMeter.
	ops cost.Meter
}

// begin validates, tokenizes and segments c, without I/O.
func (v *Vault) begin(c *conversation.Conversation, start time.Time) *pendingStore {
	p := &pendingStore{c: c}
	if c.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			p.err = fmt.Errorf("vault: generate id: %w", err)
			return p
		}
		c.ID = id.String()
	}
	p.res.ID = c.ID
	if p.plan, p.err = v.prepare(c); p.err != nil {
		return p
	}
	m := p.plan.manifest
	m.StoredAt = start.UnixMilli()
	m.Nonce = randomHex(6)
	p.res.Tokens = m.Totals.Tokens
	return p
}

// segmentIDs returns the ids of every segment the plan references, its packs included.
func (plan *storePlan) segmentIDs() []string {
	ids := make([]string, 0, len(plan.segments)+len(plan.packs))
	for _, s := range plan.segments {
		ids = append(ids, s.id)
	}
	for _, pk := range plan.packs {
		ids = append(ids, pk.id)
	}
	return ids
}

// takeRefs takes the conversation's references on all its segments: the first write.
func (v *Vault) takeRefs(ctx context.Context, p *pendingStore) {
	if p.err != nil {
		return
	}
	ids := p.plan.segmentIDs()
	p.res.Segments = len(ids)
	if err := v.refs.AddRefs(ctx, p.plan.manifest.Owner(), ids, time.UnixMilli(p.plan.manifest.StoredAt)); err != nil {
		p.err = fmt.Errorf("vault: store %q: take references: %w", p.c.ID, err)
		return
	}
	p.refs = ids
}

// fail records err for the conversation and drops the references it took.
func (v *Vault) fail(p *pendingStore, err error) {
	p.err = fmt.Errorf("vault: store %q: %w", p.c.ID, err)
	if p.refs != nil {
		v.dropRefs(p.plan.manifest.Owner(), p.refs)
	}
}

// upload encodes every distinct segment the conversations reference and makes sure it exists,
// each at most once (a batch's conversations often share one: a system prompt), once all of
// them took their references. A conversation whose segment fails fails and drops its
// references. Each segment uploaded is credited to the first conversation using it.
func (v *Vault) upload(ctx context.Context, ps []*pendingStore) {
	var segs []*segmentPlan
	users := map[string][]*pendingStore{}
	for _, p := range ps {
		if p.err != nil {
			continue
		}
		for i := range p.plan.segments {
			s := &p.plan.segments[i]
			if users[s.id] == nil {
				segs = append(segs, s)
			}
			users[s.id] = append(users[s.id], p)
		}
		for _, pk := range p.plan.packs {
			if users[pk.id] == nil {
				segs = append(segs, pk)
			}
			users[pk.id] = append(users[pk.id], p)
		}
	}
	created := make([]bool, len(segs))
	encoded := make([]bool, len(segs)) // here, not as a pack (whose bytes are shared out when built)
	errs := make([]error, len(segs))
	forEach(ctx, len(segs), v.concurrency, func(ctx context.Context, i int) error {
		s, first := segs[i], users[segs[i].id][0]
		if s.frame == nil {
			if s.frame, errs[i] = v.codec.Encode(s.tokens, first.plan.model); errs[i] != nil {
				return nil
			}
			encoded[i] = true
		}
		created[i], errs[i] = v.ensureSegment(cost.WithMeter(ctx, &first.ops), s.id, s.frame)
		return nil
	})
	for i, s := range segs {
		for _, p := range users[s.id] {
			if encoded[i] {
				p.plan.manifest.Totals.SegmentBytes += int64(len(s.frame))
			}
			if errs[i] != nil && p.err == nil {
				v.fail(p, errs[i])
			}
		}
		if created[i] {
			p := users[s.id][0]
			p.res.NewSegments++
			p.res.StoredBytes += int64(len(s.frame))
		}
	}
}

// manifestWrites bounds the manifest writes of one Store: writes whose response was lost, and
// writes that found a manifest deleted before it could be read.
const manifestWrites = 4

// finish publishes the conversation's manifest, its segments being in place.
//
// Each manifest write is sent once (PutOptions.SingleAttempt) under an owner (nonce and id)
// that no other write uses: to write again, the Store first takes references under a new
// nonce, and only then drops those of a write that was not applied. So an owner is sent in at
// most one request, and a Delete that read an owner's manifest and dropped its references never
// sees that owner published again (races (g) and (q) in the package documentation). The
// references of a write whose outcome is unknown stay: the write may have been applied, and
// Verify reclaims them once past the writer deadline if it was not.
func (v *Vault) finish(ctx context.Context, p *pendingStore, start time.Time) {
	if p.err != nil {
		return
	}
	plan, m := p.plan, p.plan.manifest
	if plan.sampling {
		if payload, err := manifest.Payload(m); err == nil {
			p.res.StoredBytes += v.observe(ctx, p.c.Tokenizer, plan.runs, payload)
		}
	}
	var (
		sent   []string // nonces of writes whose outcome is unknown: they may have been applied
		unused string   // owner of a write that was not applied, whose references go once new ones are taken
		err    error
	)
writes:
	for write := 0; write < manifestWrites; write++ {
		if v.now().Sub(start) >= v.storeTTL {
			err = fmt.Errorf("writer deadline of %s passed", v.storeTTL)
			break
		}
		if write > 0 {
			if err = v.takeNewOwner(ctx, p); err != nil {
				break
			}
		}
		if unused != "" {
			v.dropRefs(unused, p.refs)
			unused = ""
		}
		var encoded []byte
		if encoded, err = v.manifests.Encode(m, plan.model); err != nil {
			break
		}
		_, err = v.bucket.Put(ctx, manifest.Key(p.c.ID), encoded, objstore.PutOptions{IfNoneMatch: true, SingleAttempt: true, ContentType: "application/json"})
		switch {
		case err == nil:
			p.res.StoredBytes += int64(len(encoded))
			p.entry = catalogEntry(m, int64(len(encoded)))
			r := p.ops.Usage()
			v.log.Debug("stored", "id", p.c.ID, "tokens", p.res.Tokens, "segments", p.res.Segments, "new_segments", p.res.NewSegments,
				"bytes", p.res.StoredBytes, "s3_put_class", r.S3PutClass, "s3_get_class", r.S3GetClass, "ddb_wru", r.DDBWRU, "ddb_rru", r.DDBRRU)
			return
		case errors.Is(err, objstore.ErrExists):
			// Not applied: a manifest was there before this write.
			if v.storeExisted(ctx, p, sent) {
				return
			}
			// It was deleted before it could be read: write again, under a new owner.
			unused = m.Owner()
			err = fmt.Errorf("%w: stored and deleted again while this store ran, %d times over", ErrConflict, manifestWrites)
		default:
			sent = append(sent, m.Nonce)
			err = fmt.Errorf("write manifest: %w", err)
			if ctx.Err() != nil || v.now().Sub(start) >= v.storeTTL {
				break writes // the writer deadline or the caller ended the Store
			}
			v.log.Warn("manifest write failed; writing again under a new owner", "id", p.c.ID, "err", err)
			v.backoff(ctx, write)
		}
	}
	// Failed. The references of writes that may have been applied stay (Verify reclaims them
	// if they were not); those of the current owner go unless its write was sent.
	if unused != "" {
		v.dropRefs(unused, p.refs)
	} else if !slices.Contains(sent, m.Nonce) {
		v.dropRefs(m.Owner(), p.refs)
	}
	p.err = fmt.Errorf("vault: store %q: %w", p.c.ID, err)
}

// takeNewOwner gives the pending Store a new nonce and takes references under it, for another
// manifest write.
func (v *Vault) takeNewOwner(ctx context.Context, p *pendingStore) error {
	m := p.plan.manifest
	m.Nonce = randomHex(6)
	if err := v.refs.AddRefs(ctx, m.Owner(), p.refs, time.UnixMilli(m.StoredAt)); err != nil {
		return fmt.Errorf("take references for another manifest write: %w", err)
	}
	return nil
}

// backoff waits before write number n+1 of a manifest: 50ms, 100ms, 200ms, ... with jitter,
// or until ctx is done.
func (v *Vault) backoff(ctx context.Context, n int) {
	d := time.Duration(50<<n) * time.Millisecond
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// storeExisted finishes a Store whose manifest write found a manifest already there, and
// reports whether it did. The manifest found is this Store's own when an earlier write of it
// (nonce in sent) was applied but its response lost: success, that owner's references kept.
// Another Store's manifest of the same conversation is success too (Existed), of a different
// one ErrConflict; either way this Store's references go. When the manifest is deleted before
// it can be read (or compared), storeExisted reports false with the references kept, and the
// caller writes again under a new owner.
//
// A conversation found stored (Existed) writes no catalog entry: storing it again changes
// nothing. An entry a crash left out is written by Verify with Repair.
func (v *Vault) storeExisted(ctx context.Context, p *pendingStore, sent []string) bool {
	c, m := p.c, p.plan.manifest
	existing, existingSize, err := v.readManifestSized(ctx, c.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return false
	case err != nil:
		// Our write was not applied; the manifest there is unknown.
		v.dropRefs(m.Owner(), p.refs)
		p.err = fmt.Errorf("vault: store %q: manifest exists but cannot be read: %w", c.ID, err)
		return true
	case existing.Nonce == m.Nonce:
		// A backend that retried our write itself (not the S3 one: the write is sent once).
		p.res.StoredBytes += existingSize
		p.entry = catalogEntry(existing, existingSize)
		return true
	case slices.Contains(sent, existing.Nonce):
		v.dropRefs(m.Owner(), p.refs)
		p.res.StoredBytes += existingSize
		p.entry = catalogEntry(existing, existingSize)
		return true
	}
	stored, err := v.assemble(ctx, existing)
	if err != nil {
		// The existing conversation may have been deleted (and collected) while we read it:
		// then ours is written after all, our references still held.
		if now, rerr := v.readManifest(ctx, c.ID); errors.Is(rerr, ErrNotFound) || rerr == nil && now.Nonce != existing.Nonce {
			return false
		}
		v.dropRefs(m.Owner(), p.refs)
		p.err = fmt.Errorf("vault: store %q: read the stored conversation: %w", c.ID, err)
		return true
	}
	// Drop our references and mark all our segments for the collector: one the existing
	// conversation uses may have lost its last reference too, if it was deleted meanwhile.
	v.dropRefs(m.Owner(), p.refs)
	a, aerr := conversation.Marshal(stored)
	b, berr := conversation.Marshal(c)
	if err := errors.Join(aerr, berr); err != nil {
		p.err = err
		return true
	}
	if !bytes.Equal(a, b) {
		p.err = fmt.Errorf("%w: %q", ErrConflict, c.ID)
		return true
	}
	// Segments this call uploaded stay counted: they are stored until GC collects them.
	p.res.Existed = true
	return true
}

// dropRefs removes owner's references (of a Store that failed or found its conversation stored
// already) and marks the segments for the collector. Failures only leak references, which
// Verify reclaims, so they are logged.
func (v *Vault) dropRefs(owner string, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := v.refs.RemoveRefs(ctx, owner, ids); err != nil {
		v.log.Warn("leaked references of a failed store; verify --repair reclaims them", "owner", owner, "err", err)
		return
	}
	if err := v.refs.MarkCandidates(ctx, ids, v.now()); err != nil {
		v.log.Warn("could not mark segments for gc", "owner", owner, "err", err)
	}
}

// ensureSegment makes sure the segment object exists and its head is live, following the
// writer side of the protocol; the caller already holds a reference. It reports whether it
// uploaded the object.
func (v *Vault) ensureSegment(ctx context.Context, id string, frame []byte) (bool, error) {
	uploaded := false
	upload := func() error {
		_, err := v.bucket.Put(ctx, segment.Key(id), frame, objstore.PutOptions{IfNoneMatch: true, ContentType: "application/octet-stream"})
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

// segmentPlan is a segment a Store references: its tokens, and its frame once encoded.
type segmentPlan struct {
	id     string
	tokens []int
	frame  []byte
}

type storePlan struct {
	manifest *manifest.Manifest
	streams  [][]int       // the messages' tokens
	segments []segmentPlan // distinct, in first-use order
	// packs are the pack segments the chunks use, when StoreBatch packed: the conversation's
	// own, and those of the conversation whose messages it continues (see pack.go).
	packs []*segmentPlan
	model uint32 // compression model of the frames and the manifest, 0 for none
	// sampling is set while the vault samples data to build the tokenizer's next model; runs
	// then holds the conversation's pieces.
	sampling bool
	runs     [][]int
}

// addPieces cuts the streams (consecutive messages) into pieces and appends them to the plan:
// chunks, inline tokens and segments.
func (plan *storePlan) addPieces(tokenizer string, streams [][]int) {
	m := plan.manifest
	seen := map[string]bool{}
	for _, s := range plan.segments {
		seen[s.id] = true
	}
	for _, p := range segment.Cut(tokenizer, streams) {
		if plan.sampling {
			plan.runs = append(plan.runs, p.Tokens)
		}
		if p.ID == "" {
			m.Inline = append(m.Inline, p.Tokens...)
			if n := len(m.Chunks); n > 0 && m.Chunks[n-1].Segment == "" {
				m.Chunks[n-1].Tokens += len(p.Tokens)
			} else {
				m.Chunks = append(m.Chunks, manifest.Chunk{Tokens: len(p.Tokens)})
			}
			continue
		}
		m.Chunks = append(m.Chunks, manifest.Chunk{Segment: p.ID, Tokens: len(p.Tokens)})
		if !seen[p.ID] {
			seen[p.ID] = true
			plan.segments = append(plan.segments, segmentPlan{id: p.ID, tokens: p.Tokens})
		}
	}
}

// prepare validates and tokenizes c and builds its manifest (without owner and time) and its
// segments (not encoded yet). It does no I/O.
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
			streams[i] = v.tokenize(tok, msg.Content)
		}
		mm := manifest.Message{Role: msg.Role, Tokens: len(streams[i]), AsTokens: msg.HasTokens(),
			ContentNull: msg.ContentNull, Name: msg.Name, ToolCallID: msg.ToolCallID}
		for _, tc := range msg.ToolCalls {
			mm.ToolCalls = append(mm.ToolCalls, manifest.ToolCall{ID: tc.ID, Type: tc.Type, Name: tc.Name, Arguments: tc.Arguments})
		}
		m.Messages[i] = mm
		m.Totals.Tokens += len(streams[i])
	}

	plan := &storePlan{manifest: m, streams: streams}
	plan.model, plan.sampling = v.activeModel(c.Tokenizer)
	plan.addPieces(c.Tokenizer, streams)
	return plan, nil
}

// minCachedText is the shortest text whose tokens the token cache keeps: shorter ones
// tokenize in about the time a lookup takes.
const minCachedText = 64

// tokenize returns the tokens of text, from the vault's token cache when the same text was
// tokenized lately. Tokenizing is deterministic, so a cached result is exact; the key is the
// whole text, so there are no collisions. The returned slice is the caller's.
func (v *Vault) tokenize(tok *tokenizer.Tokenizer, text string) []int {
	if len(text) < minCachedText {
		return tok.Encode(text)
	}
	key := tok.Name() + "\x00" + text
	if tokens, ok := v.tokens.Get(key); ok {
		return slices.Clone(tokens)
	}
	tokens := tok.Encode(text)
	v.tokens.Add(key, slices.Clone(tokens))
	return tokens
}
