package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
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
	// StoredBytes is what this Store added to the bucket: new segments, its share of the batch
	// object, and a compression model when this Store was the one that built it.
	StoredBytes int64
	// Usage is what this Store's requests cost. In a StoreBatch, what the batch does once (its
	// references, its batch object, the upload of a segment several conversations share, the
	// look-ups deciding what to pack, the catalog file) counts for the first conversation
	// using it. The Vault's one check of the bucket's conditional writes
	// (CheckConditionalWrites), made before its first write, counts for the Store that made
	// it, and for none in a StoreBatch.
	Usage cost.Usage
}

// Store validates c, tokenizes its text, and stores it. An empty c.ID is replaced by a new
// UUIDv7 (sortable by time), written back into c.ID. A Store is a batch of one (StoreBatch):
// the same writes, except that the pieces a batch would pack stay inline in the batch object,
// so that a conversation without a new piece of 2,048 tokens or more makes one PUT for its
// content (pack.go, inlineShort).
//
// Storing the identical conversation again is a no-op that reports Existed; storing a different
// conversation under an existing id fails with ErrConflict. Invalid input fails with an error
// wrapping conversation.ErrInvalid (or tokenizer.ErrUnknown, tokenizer.ErrTokenRange, ...) and
// changes nothing. On a bucket that ignores conditional writes, Store fails with an error
// wrapping objstore.ErrConditionsIgnored and writes nothing (see CheckConditionalWrites).
func (v *Vault) Store(ctx context.Context, c *conversation.Conversation) (StoreResult, error) {
	rs, errs := v.storeBatch(ctx, []*conversation.Conversation{c}, true)
	return rs[0], errs[0]
}

// StoreBatch stores the conversations as one batch. The i-th result and error belong to cs[i];
// one failure does not stop the others.
//
// A batch is the unit of writing (docs/design.md, "Store"): its manifests go into one batch
// object, and the batch owns the references of every segment its conversations use, so that
// a batch of a thousand conversations makes a few PUTs and a few reference items, plus one
// pointer item per conversation, which publishes it.
//
// Order of writes (docs/design.md, "The protocol and its invariant"): the batch's references
// first, then the missing segment objects and the batch object, then the pointers. A crash at
// any point leaves at most leaked references or objects, never a pointer to something missing.
//
// StoreBatch also packs everything of its conversations but their long shared pieces into pack
// segments, so that they compress with each other's context and a batch makes few PUTs (see
// pack.go). When some of its conversations are deleted, GC compacts the batch (compact.go): the
// conversations left are stored again without them, and the old packs and batch object are
// collected. Storing a batch again whose
// conversations are all stored already uploads a batch object (and maybe packs) that end up
// unused: they are marked for the collector, like everything a failed Store leaves (writers
// never delete objects).
func (v *Vault) StoreBatch(ctx context.Context, cs []*conversation.Conversation) ([]StoreResult, []error) {
	return v.storeBatch(ctx, cs, false)
}

// storeBatch is StoreBatch, and Store when solo is set: a batch of one conversation, whose
// short pieces stay inline, with a solo batch id, and whose catalog entry GC gathers (solo.go).
func (v *Vault) storeBatch(ctx context.Context, cs []*conversation.Conversation, solo bool) ([]StoreResult, []error) {
	results := make([]StoreResult, len(cs))
	errs := make([]error, len(cs))
	if v.readOnly {
		for i := range errs {
			errs[i] = ErrReadOnly
		}
		return results, errs
	}
	start := v.now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(v.storeTTL))
	defer cancel()
	ps := make([]*pendingStore, len(cs))
	forEach(ctx, len(cs), v.concurrency, func(ctx context.Context, i int) error {
		ps[i] = v.begin(cs[i], start)
		return nil
	})
	if len(ps) == 1 {
		ctx = cost.WithMeter(ctx, &ps[0].ops) // everything counts for the one conversation
	}
	dups := sameIDs(ps)
	id := manifest.NewBatchID()
	if solo {
		id = manifest.NewSoloBatchID(start)
		if ps[0].err == nil {
			ps[0].plan.inlineShort()
		}
	} else {
		v.pack(ctx, ps)
	}
	b := v.newBatch(ctx, id, ps, start.Add(v.storeTTL))
	v.requireConditionsFor(ctx, b.members)
	v.takeRefs(ctx, b, start)
	v.upload(ctx, b)
	forEach(ctx, len(b.members), v.concurrency, func(ctx context.Context, i int) error {
		v.publish(cost.WithMeter(ctx, &b.members[i].ops), b, b.members[i], start)
		return nil
	})
	v.settleSameIDs(dups)
	if solo {
		checkSoloEntry(ps[0])
	} else {
		v.putCatalog(ctx, ps)
	}
	v.endBatch(b)
	for i, p := range ps {
		p.res.Usage = p.ops.Usage()
		results[i], errs[i] = p.res, p.err
	}
	return results, errs
}

// pendingStore is one conversation on its way through a Store or StoreBatch. Each step does
// nothing once err is set.
type pendingStore struct {
	c    *conversation.Conversation
	plan *storePlan
	res  StoreResult
	err  error
	// entry is the catalog entry of the conversation once this Store stored it (a write
	// found applied included), for putCatalog; nil otherwise.
	entry *catalog.Entry
	// ops meters this conversation's requests: the Vault's metered backends also record in
	// the meter of a context made by cost.WithMeter.
	ops cost.Meter
}

// batch is the batch of one Store or StoreBatch on its way.
type batch struct {
	id string
	// members are the conversations its batch object holds: those prepared without error, one
	// per id.
	members []*pendingStore
	// segs are the distinct segments the members reference, packs included; users are the
	// members using each, by id.
	segs  []*segmentPlan
	users map[string][]*pendingStore
	// object is the encoded batch object.
	object []byte
	// refs lists what the batch references once takeRefs succeeded (nil before).
	refs []string
	// sent is set once a pointer write of the batch may have been applied. Until then, a
	// batch that stores nothing drops its references at once.
	sent atomic.Bool
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
	p.res.Tokens = m.Totals.Tokens
	return p
}

// sameIDs finds the conversations of a batch whose id an earlier one of the batch has, and
// takes them out of the batch (err set): each later one maps to the first. settleSameIDs
// gives them their outcome.
func sameIDs(ps []*pendingStore) map[*pendingStore]*pendingStore {
	first := map[string]*pendingStore{}
	dups := map[*pendingStore]*pendingStore{}
	for _, p := range ps {
		if p.err != nil {
			continue
		}
		if f := first[p.c.ID]; f != nil {
			dups[p] = f
			p.err = errSameID
			continue
		}
		first[p.c.ID] = p
	}
	return dups
}

// errSameID marks a conversation whose id an earlier one of its batch has, until
// settleSameIDs replaces it.
var errSameID = errors.New("vault: the id occurs earlier in the batch")

// settleSameIDs gives a conversation whose id occurs earlier in its batch the outcome of the
// first: Existed when the two are identical and the first was stored, ErrConflict when they
// differ.
func (v *Vault) settleSameIDs(dups map[*pendingStore]*pendingStore) {
	for p, f := range dups {
		a, aerr := conversation.Marshal(p.c)
		b, berr := conversation.Marshal(f.c)
		switch {
		case errors.Join(aerr, berr) != nil:
			p.err = errors.Join(aerr, berr)
		case !bytes.Equal(a, b):
			p.err = fmt.Errorf("%w: %q (twice in one batch, with different content)", ErrConflict, p.c.ID)
		case f.err != nil:
			p.err = fmt.Errorf("vault: store %q: not stored (it occurs twice in the batch): %w", p.c.ID, f.err)
		default:
			p.err = nil
			p.res.Existed, p.res.Segments = true, f.res.Segments
		}
	}
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

// newBatch gathers the prepared conversations into batch id: it encodes every distinct segment
// they reference (once), completes their manifests, and encodes the batch object, which
// records the writer deadline. It does no I/O. When the batch object cannot be encoded, every
// member fails.
func (v *Vault) newBatch(ctx context.Context, id string, ps []*pendingStore, deadline time.Time) *batch {
	b := &batch{id: id, users: map[string][]*pendingStore{}}
	for _, p := range ps {
		if p.err != nil {
			continue
		}
		b.members = append(b.members, p)
		for i := range p.plan.segments {
			b.use(&p.plan.segments[i], p)
		}
		for _, pk := range p.plan.packs {
			b.use(pk, p)
		}
		p.res.Segments = len(p.plan.segmentIDs())
	}
	if len(b.members) == 0 {
		return b
	}
	// Encode what no pack encoded already (a pack's bytes were shared out when it was built).
	encoded := make([]bool, len(b.segs))
	errs := make([]error, len(b.segs))
	forEach(ctx, len(b.segs), v.concurrency, func(ctx context.Context, i int) error {
		s := b.segs[i]
		if s.frame == nil {
			s.frame, errs[i] = v.codec.Encode(s.tokens, b.users[s.id][0].plan.model)
			encoded[i] = errs[i] == nil
		}
		return nil
	})
	for i, s := range b.segs {
		for _, p := range b.users[s.id] {
			if encoded[i] {
				p.plan.manifest.Totals.SegmentBytes += int64(len(s.frame))
			}
			if errs[i] != nil && p.err == nil {
				p.err = fmt.Errorf("vault: store %q: encode segment %s: %w", p.c.ID, s.id, errs[i])
			}
		}
	}
	b.members = slices.DeleteFunc(b.members, func(p *pendingStore) bool { return p.err != nil })
	ms := make([]*manifest.Manifest, len(b.members))
	for i, p := range b.members {
		ms[i] = p.plan.manifest
		ms[i].Batch = b.id
	}
	if len(ms) == 0 {
		return b
	}
	object, err := v.manifests.EncodeBatch(manifest.Batch{Deadline: deadline.UnixMilli(), Manifests: ms}, b.members[0].plan.model)
	if err != nil {
		for _, p := range b.members {
			p.err = fmt.Errorf("vault: store %q: encode the batch object: %w", p.c.ID, err)
		}
		b.members = nil
		return b
	}
	b.object = object
	share := int64(len(object)) / int64(len(b.members))
	for i, p := range b.members {
		p.plan.objectBytes = share
		if i == 0 {
			p.plan.objectBytes += int64(len(object)) - share*int64(len(b.members))
		}
	}
	return b
}

// use records that the members use segment s.
func (b *batch) use(s *segmentPlan, members ...*pendingStore) {
	if b.users[s.id] == nil {
		b.segs = append(b.segs, s)
	}
	b.users[s.id] = append(b.users[s.id], members...)
}

// live returns the members without an error.
func (b *batch) live() []*pendingStore {
	var out []*pendingStore
	for _, p := range b.members {
		if p.err == nil {
			out = append(out, p)
		}
	}
	return out
}

// takeRefs takes the batch's references on every segment its members use: the first write.
// Its requests count for the first member. The batch object itself has no reference (see
// putBatchObject).
func (v *Vault) takeRefs(ctx context.Context, b *batch, start time.Time) {
	live := b.live()
	if len(live) == 0 {
		return
	}
	ids := make([]string, len(b.segs))
	for i, s := range b.segs {
		ids[i] = s.id
	}
	if len(ids) == 0 {
		b.refs = ids
		return
	}
	if err := v.refs.AddRefs(cost.WithMeter(ctx, &live[0].ops), b.id, ids, start); err != nil {
		// Some may have been written: drop them all.
		v.dropRefs(b.id, ids)
		for _, p := range live {
			p.err = fmt.Errorf("vault: store %q: take references: %w", p.c.ID, err)
		}
		return
	}
	b.refs = ids
}

// upload makes sure that every distinct segment of the batch exists, each at most once, once
// the batch holds its references, and uploads the batch object. A member whose segment fails
// fails, and every member when the batch object fails. Each segment uploaded is credited to
// the first member using it, the batch object's PUT to the first member; each member stored
// gets its share of the batch object's bytes (publish).
func (v *Vault) upload(ctx context.Context, b *batch) {
	live := b.live()
	if b.refs == nil || len(live) == 0 {
		return
	}
	n := len(b.segs)
	created := make([]bool, n)
	errs := make([]error, n+1)
	forEach(ctx, n+1, v.concurrency, func(ctx context.Context, i int) error {
		if i == n {
			errs[i] = v.putBatchObject(cost.WithMeter(ctx, &live[0].ops), b)
			return nil
		}
		s, first := b.segs[i], b.users[b.segs[i].id][0]
		created[i], errs[i] = v.ensureSegment(cost.WithMeter(ctx, &first.ops), s.id, s.frame)
		return nil
	})
	for i, s := range b.segs {
		for _, p := range b.users[s.id] {
			if errs[i] != nil && p.err == nil {
				p.err = fmt.Errorf("vault: store %q: %w", p.c.ID, errs[i])
			}
		}
		if created[i] {
			p := b.users[s.id][0]
			p.res.StoredBytes += int64(len(s.frame))
			p.res.NewSegments++
		}
	}
	if err := errs[n]; err != nil {
		for _, p := range b.members {
			if p.err == nil {
				p.err = fmt.Errorf("vault: store %q: %w", p.c.ID, err)
			}
		}
	}
}

// putBatchObject uploads the batch object, with If-None-Match: "already exists" is an earlier
// attempt of this upload, since batch ids are random. A batch object has no head and no
// reference: only its writer writes it, before its deadline, and the collector deletes it once
// it has retired the batch (gc.go, retireBatch), which it does only past that deadline and
// when no pointer names the batch.
func (v *Vault) putBatchObject(ctx context.Context, b *batch) error {
	_, err := v.bucket.Put(ctx, manifest.BatchKey(b.id), b.object, objstore.PutOptions{IfNoneMatch: true, ContentType: "application/octet-stream"})
	if err != nil && !errors.Is(err, objstore.ErrExists) {
		return fmt.Errorf("upload batch object %s: %w", b.id, err)
	}
	return nil
}

// pointerWrites bounds the pointer writes of one conversation: writes whose outcome is unknown,
// and writes that found a pointer deleted before it could be read.
const pointerWrites = 4

// publish writes the member's pointer, which stores it, its batch's objects and references
// being in place.
//
// Each pointer write has a nonce of its own, and is sent once (refcount.Backend.CreatePointer):
// a write whose outcome is unknown is written again under a new nonce, and a write that then
// finds the pointer of one of its own earlier writes has succeeded. The batch's references stay
// until no pointer names the batch and its writer deadline has passed (GC checks it), so a
// write that lands late never publishes a conversation whose segments are going (races (g) and
// (q) in the package documentation).
func (v *Vault) publish(ctx context.Context, b *batch, p *pendingStore, start time.Time) {
	if p.err != nil {
		return
	}
	plan, m := p.plan, p.plan.manifest
	if plan.sampling {
		if payload, err := manifest.Payload(m); err == nil {
			p.res.StoredBytes += v.observe(ctx, p.c.Tokenizer, plan.runs, payload)
		}
	}
	var err error
writes:
	for write := 0; write < pointerWrites; write++ {
		if v.now().Sub(start) >= v.storeTTL {
			err = fmt.Errorf("writer deadline of %s passed", v.storeTTL)
			break
		}
		m.Nonce = randomHex(6)
		err = v.refs.CreatePointer(ctx, p.c.ID, refcount.Pointer{Batch: b.id, Nonce: m.Nonce})
		switch {
		case err == nil:
			b.sent.Store(true)
			p.res.StoredBytes += plan.objectBytes
			p.entry = catalogEntry(m, plan.objectBytes)
			r := p.ops.Usage()
			v.log.Debug("stored", "id", p.c.ID, "batch", b.id, "tokens", p.res.Tokens, "segments", p.res.Segments, "new_segments", p.res.NewSegments,
				"bytes", p.res.StoredBytes, "s3_put_class", r.S3PutClass, "s3_get_class", r.S3GetClass, "ddb_wru", r.DDBWRU, "ddb_rru", r.DDBRRU)
			return
		case errors.Is(err, refcount.ErrExists):
			// Not applied: a pointer was there before this write.
			if v.storeExisted(ctx, b, p) {
				return
			}
			// It was deleted before it could be read: write again.
			err = fmt.Errorf("%w: stored and deleted again while this store ran, %d times over", ErrConflict, pointerWrites)
		default:
			b.sent.Store(true)
			err = fmt.Errorf("write pointer: %w", err)
			if ctx.Err() != nil || v.now().Sub(start) >= v.storeTTL {
				break writes // the writer deadline or the caller ended the Store
			}
			v.log.Warn("pointer write failed; writing again under a new nonce", "id", p.c.ID, "err", err)
			v.backoff(ctx, write)
		}
	}
	p.err = fmt.Errorf("vault: store %q: %w", p.c.ID, err)
}

// backoff waits before write number n+1 of a pointer: 50ms, 100ms, 200ms, ... with jitter,
// or until ctx is done.
func (v *Vault) backoff(ctx context.Context, n int) {
	d := time.Duration(50<<n) * time.Millisecond
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// storeExisted finishes a pointer write that found a pointer already there, and reports
// whether it did. A pointer naming this batch is one of this Store's own earlier writes, applied
// with its response lost: success. Another batch's pointer of the same conversation is success
// too (Existed), of a different one ErrConflict. When the pointer is deleted before it can be
// read (or compared), storeExisted reports false, and the caller writes again.
//
// A conversation found stored (Existed) writes no catalog entry: storing it again changes
// nothing. An entry a crash left out is written by Verify with Repair.
func (v *Vault) storeExisted(ctx context.Context, b *batch, p *pendingStore) bool {
	c := p.c
	existing, size, err := v.readManifestSized(ctx, c.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return false
	case err != nil:
		p.err = fmt.Errorf("vault: store %q: a pointer exists but its conversation cannot be read: %w", c.ID, err)
		return true
	case existing.Batch == b.id:
		b.sent.Store(true)
		p.res.StoredBytes += size
		p.entry = catalogEntry(existing, size)
		return true
	}
	stored, err := v.assemble(ctx, existing)
	if err != nil {
		// The existing conversation may have been deleted (and collected) while we read it:
		// then ours is written after all. If GC's compaction moved it, it is read again.
		if now, rerr := v.readManifest(ctx, c.ID); errors.Is(rerr, ErrNotFound) || rerr == nil && (now.Nonce != existing.Nonce || now.Batch != existing.Batch) {
			return false
		}
		p.err = fmt.Errorf("vault: store %q: read the stored conversation: %w", c.ID, err)
		return true
	}
	a, aerr := conversation.Marshal(stored)
	bb, berr := conversation.Marshal(c)
	if err := errors.Join(aerr, berr); err != nil {
		p.err = err
		return true
	}
	if !bytes.Equal(a, bb) {
		p.err = fmt.Errorf("%w: %q", ErrConflict, c.ID)
		return true
	}
	// Segments this call uploaded stay counted: they are stored until GC collects them.
	p.res.Existed = true
	return true
}

// endBatch settles the batch's references once its members are done. A batch no pointer can
// name (none was written, or every write was refused) drops them at once and marks what they
// kept for the collector, and the batch, whose object GC deletes once its writer deadline has
// passed. A batch of which some pointer write may have been applied keeps them: GC drops them
// once no pointer names the batch and its writer deadline has passed; when no member is known
// to be stored, the batch is marked for GC to check.
func (v *Vault) endBatch(b *batch) {
	if b.refs == nil {
		return
	}
	stored := slices.ContainsFunc(b.members, func(p *pendingStore) bool { return p.entry != nil })
	if !b.sent.Load() {
		v.dropRefs(b.id, b.refs)
	}
	if !stored {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := v.refs.MarkCandidates(ctx, []string{b.id}, v.now()); err != nil {
			v.log.Warn("could not mark a batch for gc; verify --repair reclaims it", "batch", b.id, "err", err)
		}
	}
}

// dropRefs removes owner's references (of a Store that failed or found its conversation stored
// already) and marks the segments for the collector. Failures only leak references, which
// Verify reclaims, so they are logged.
func (v *Vault) dropRefs(owner string, ids []string) {
	if len(ids) == 0 {
		return
	}
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
		_, err := v.bucket.Put(ctx, objectKey(id), frame, objstore.PutOptions{IfNoneMatch: true, ContentType: "application/octet-stream"})
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
	// objectBytes is the conversation's share of its batch object.
	objectBytes int64
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

// Validate returns the error Store would return for c's content, or nil when Store would
// accept it: every such error wraps conversation.ErrInvalid. It checks what Store checks
// before any I/O (the conversation's fields and limits, its tokenizer, the range of its
// token ids), so that a producer can refuse a conversation before sending it anywhere
// (package ingest). An empty id is valid: Store gives the conversation one.
func Validate(c *conversation.Conversation) error {
	_, err := validate(c)
	return err
}

// validate is Validate, returning c's tokenizer.
func validate(c *conversation.Conversation) (*tokenizer.Tokenizer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tok, err := tokenizer.Get(c.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", conversation.ErrInvalid, err)
	}
	for i := range c.Messages {
		if msg := &c.Messages[i]; msg.HasTokens() {
			if err := tok.Validate(msg.Tokens); err != nil {
				return nil, fmt.Errorf("%w: message %d: %w", conversation.ErrInvalid, i, err)
			}
		}
	}
	return tok, nil
}

// prepare validates and tokenizes c and builds its manifest (without owner and time) and its
// segments (not encoded yet). It does no I/O.
func (v *Vault) prepare(c *conversation.Conversation) (*storePlan, error) {
	tok, err := validate(c)
	if err != nil {
		return nil, err
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

	return v.newPlan(m, streams), nil
}

// newPlan plans the storing of manifest m (without chunks, inline tokens and segment bytes yet)
// whose messages have the streams' tokens: it cuts them into pieces.
func (v *Vault) newPlan(m *manifest.Manifest, streams [][]int) *storePlan {
	plan := &storePlan{manifest: m, streams: streams}
	plan.model, plan.sampling = v.activeModel(m.Tokenizer)
	plan.addPieces(m.Tokenizer, streams)
	return plan
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
