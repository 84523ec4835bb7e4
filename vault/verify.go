package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/segment"
)

// DefaultMinAge is VerifyOptions.MinAge when it is zero.
const DefaultMinAge = 24 * time.Hour

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Repair fixes what can be fixed without risk: it adds missing references of stored
	// conversations, removes leaked references, hands unreferenced segments to the collector,
	// and rebuilds the catalog's entries from the pointers and their manifests.
	Repair bool
	// MinAge protects in-flight writes: references and objects younger than this are never
	// treated as leaks (default 24h; never less than the writer deadline, Options.StoreTimeout).
	MinAge time.Duration
}

// VerifyReport is what Verify found. Problems lists every finding in words.
// Its JSON form (`stowken verify --json`, the GC Lambda's log) adds "ok": OK().
type VerifyReport struct {
	Manifests int `json:"manifests"`
	Segments  int `json:"segments"` // segment objects
	// Data problems: a conversation that cannot be retrieved exactly.
	CorruptManifests int `json:"corrupt_manifests"`
	MissingSegments  int `json:"missing_segments"`
	CorruptSegments  int `json:"corrupt_segments"`
	// Unreadable counts manifests and segments that could not be checked: a read failed (a
	// transient error; run Verify again) or a newer stowken wrote them.
	Unreadable int `json:"unreadable"`
	// Reference problems, repairable.
	MissingRefs  int `json:"missing_refs"`  // a stored conversation lacks a reference on a segment it uses
	MissingHeads int `json:"missing_heads"` // a referenced object has no head item
	LeakedRefs   int `json:"leaked_refs"`   // references of a batch no stored conversation is in, unmarked (older than MinAge)
	// RetiringBatches: batches none of whose conversations is stored, marked for GC, which
	// drops their references once their writer deadline has passed.
	RetiringBatches int `json:"retiring_batches"`
	LeakedObjects   int `json:"leaked_objects"` // objects without a head and without references (older than MinAge)
	Unreferenced    int `json:"unreferenced"`   // live heads with no reference, handed to the collector
	DanglingHeads   int `json:"dangling_heads"` // heads whose object is missing and that no manifest uses
	// ExpiredClaims: deleting heads whose claim expired (their collector died), with an object
	// but no reference and no manifest using them, handed to the collector again.
	ExpiredClaims int `json:"expired_claims"`
	// What deleted conversations still hold: UnusedSegmentBytes is the segment and batch
	// objects no stored conversation uses (GC collects them past the grace period); PendingDeletions the
	// deleted conversations whose catalog rows the catalog's files still hold (until GC
	// compacts them), the oldest deleted at OldestPendingDeletion.
	UnusedSegmentBytes int64 `json:"unused_segment_bytes"`
	// HeldInPacksBytes is the part of the segments some stored conversation uses that no
	// stored conversation uses (in proportion to their tokens), in PacksHolding segments: the
	// unique text of deleted conversations that StoreBatch packed with others, which stays
	// until every conversation of the pack is deleted.
	HeldInPacksBytes      int64     `json:"held_in_packs_bytes"`
	PacksHolding          int       `json:"packs_holding"`
	PendingDeletions      int       `json:"pending_deletions"`
	OldestPendingDeletion time.Time `json:"oldest_pending_deletion,omitzero"`
	// Catalog problems, repairable (older than MinAge).
	MissingCatalogEntries int      `json:"missing_catalog_entries"` // a stored conversation has no catalog entry
	StaleCatalogEntries   int      `json:"stale_catalog_entries"`   // an entry summarizes no stored conversation, or another copy
	Repaired              int      `json:"repaired"`
	Problems              []string `json:"problems"`
}

// OK reports whether every stored conversation was checked and is intact (leaks are not data
// problems).
func (r *VerifyReport) OK() bool {
	return r.CorruptManifests == 0 && r.MissingSegments == 0 && r.CorruptSegments == 0 && r.Unreadable == 0 &&
		r.MissingRefs == 0 && r.MissingHeads == 0
}

// MarshalJSON writes the report's fields and "ok".
func (r VerifyReport) MarshalJSON() ([]byte, error) {
	type fields VerifyReport // without this method
	return json.Marshal(struct {
		OK bool `json:"ok"`
		fields
	}{r.OK(), fields(r)})
}

// Verify checks the whole store: every pointer leads to a batch object that decodes and holds
// its manifest; every segment a manifest references exists, decodes, matches its checksum and
// hashes to its id; every such segment has a live head and a reference from the batch; and
// nothing is leaked. With Repair it fixes reference problems and hands leaks to GC (see
// VerifyOptions). It reads every object once.
func (v *Vault) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	if v.readOnly && opts.Repair {
		return VerifyReport{}, ErrReadOnly
	}
	minAge := opts.MinAge
	if minAge <= 0 {
		minAge = DefaultMinAge
	}
	minAge = max(minAge, v.storeTTL)
	cutoff := v.now().Add(-minAge)
	var rep VerifyReport
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
	}

	// Pointers and manifests first: whatever a conversation uses existed before its pointer
	// was written, so listing references, heads and objects afterwards sees it unless the
	// conversation was deleted in the meantime, which verifyManifest checks before it reports
	// anything.
	batches := map[string]map[string]string{} // batch → id → nonce of the pointers naming it
	if err := v.refs.ListPointers(ctx, func(id string, p refcount.Pointer) error {
		if batches[p.Batch] == nil {
			batches[p.Batch] = map[string]string{}
		}
		batches[p.Batch][id] = p.Nonce
		rep.Manifests++
		return nil
	}); err != nil {
		return rep, fmt.Errorf("vault: verify: list pointers: %w", err)
	}
	var manifests []*manifest.Manifest
	// Batches whose object exists but could not be read (a transient error, a model that
	// failed to load, corruption): their references are not leaks.
	unreadable := map[string]bool{}
	for _, batch := range slices.Sorted(maps.Keys(batches)) {
		b, berr := v.readBatch(ctx, batch)
		for _, id := range slices.Sorted(maps.Keys(batches[batch])) {
			nonce, err := batches[batch][id], berr
			var m *manifest.Manifest
			switch {
			case err == nil && b.manifests[id] == nil:
				err = fmt.Errorf("%w: batch object %s does not hold %q", ErrCorrupt, batch, id)
			case err == nil:
				c := *b.manifests[id]
				c.Nonce = nonce
				m = &c
			}
			if err != nil && !v.stillStored(ctx, id, nonce) {
				continue // deleted since the listing
			}
			switch {
			case m != nil:
				manifests = append(manifests, m)
			case errors.Is(err, ErrMissingSegment):
				rep.MissingSegments++
				problem("conversation %q: %v", id, err)
			case errors.Is(err, ErrCorrupt):
				rep.CorruptManifests++
				unreadable[batch] = true
				problem("conversation %q: %v", id, err)
			default:
				rep.Unreadable++
				unreadable[batch] = true
				problem("conversation %q: %v", id, err)
			}
		}
	}

	refs := map[string]map[string]time.Time{} // segment → owner → created
	if err := v.refs.ListRefs(ctx, func(r refcount.Ref) error {
		if refs[r.Segment] == nil {
			refs[r.Segment] = map[string]time.Time{}
		}
		refs[r.Segment][r.Owner] = r.Created
		return nil
	}); err != nil {
		return rep, fmt.Errorf("vault: verify: list references: %w", err)
	}
	heads := map[string]refcount.Head{}
	if err := v.refs.ListHeads(ctx, func(h refcount.Head) error {
		if h.Segment == gcLeaseHead {
			return nil // the GC lease, not a segment
		}
		heads[h.Segment] = h
		return nil
	}); err != nil {
		return rep, fmt.Errorf("vault: verify: list heads: %w", err)
	}
	objects := map[string]objstore.Attrs{} // segments and batch objects, by id
	if err := v.bucket.List(ctx, segment.Prefix, func(a objstore.Attrs) error {
		objects[segment.KeyID(a.Key)] = a
		return nil
	}); err != nil {
		return rep, fmt.Errorf("vault: verify: list segments: %w", err)
	}
	rep.Segments = len(objects)
	if err := v.bucket.List(ctx, manifest.BatchPrefix, func(a objstore.Attrs) error {
		objects[strings.TrimPrefix(a.Key, manifest.BatchPrefix)] = a
		return nil
	}); err != nil {
		return rep, fmt.Errorf("vault: verify: list batch objects: %w", err)
	}

	owners := map[string]bool{}
	used := map[string]bool{}
	checked := map[string]error{}
	use := segmentUse{tokens: map[string]int{}, slices: map[string][][2]int{}}
	for batch := range batches {
		owners[batch] = true
	}
	for _, m := range manifests {
		if err := v.verifyManifest(ctx, m, objects, heads, refs, used, checked, use, &rep, opts.Repair, problem); err != nil {
			return rep, fmt.Errorf("vault: verify: %w", err)
		}
	}

	// Leaks: references without an owner, objects nobody uses, heads nobody references. A
	// batch none of whose conversations is stored any more, and which is marked for the
	// collector, is no leak: GC retires it.
	marked := map[string]bool{}
	if err := v.refs.ListCandidates(ctx, func(c refcount.Candidate) error {
		marked[c.Segment] = manifest.IsBatchID(c.Segment)
		return nil
	}); err != nil {
		return rep, fmt.Errorf("vault: verify: list candidates: %w", err)
	}
	retiring := map[string]bool{}
	var leakedRefs = map[string][]string{} // owner → segments
	for seg, byOwner := range refs {
		for owner, created := range byOwner {
			switch {
			case owners[owner] || unreadable[owner]:
			case marked[owner]:
				retiring[owner] = true
			case created.Before(cutoff):
				rep.LeakedRefs++
				leakedRefs[owner] = append(leakedRefs[owner], seg)
			}
		}
	}
	rep.RetiringBatches = len(retiring)
	var toCollect []string
	for seg, a := range objects {
		if _, ok := marked[seg]; ok && manifest.IsBatchID(seg) {
			continue // a batch object GC deletes once it retires the batch
		}
		if _, ok := heads[seg]; !ok && len(refs[seg]) == 0 && !used[seg] && a.ModTime.Before(cutoff) {
			rep.LeakedObjects++
			problem("segment %s: object without head or references (leak)", seg)
			if opts.Repair {
				// A batch object is deleted by GC once it retires the batch; a segment is
				// given a head so that the collector deletes it under the normal protocol.
				if !manifest.IsBatchID(seg) {
					if err := v.adoptSegment(ctx, seg); err != nil {
						return rep, fmt.Errorf("vault: verify: create head for leaked %s: %w", seg, err)
					}
				}
				toCollect = append(toCollect, seg)
			}
		}
	}
	for seg, a := range objects {
		if len(refs[seg]) == 0 && !used[seg] {
			rep.UnusedSegmentBytes += a.Size
		}
		if n, used := use.tokens[seg], use.used(seg); used < n {
			rep.HeldInPacksBytes += a.Size * int64(n-used) / int64(n)
			rep.PacksHolding++
		}
	}
	for seg, h := range heads {
		if _, ok := objects[seg]; !ok && !used[seg] {
			rep.DanglingHeads++
			problem("segment %s: head (%s) without object, not used by any conversation", seg, h.State)
			toCollect = append(toCollect, seg)
			continue
		}
		if len(refs[seg]) > 0 || used[seg] {
			continue
		}
		switch {
		case h.State == refcount.Live && h.Created.Before(cutoff):
			rep.Unreferenced++
			toCollect = append(toCollect, seg)
		case h.State == refcount.Deleting && !v.now().Before(h.ClaimExpires):
			// Its collector died, and the candidate mark may be gone (a collector that found
			// a waiting writer's reference removed it): without a new mark, nothing would
			// ever take the claim over.
			rep.ExpiredClaims++
			problem("segment %s: claim of %s expired with the segment undeleted", seg, h.ClaimID)
			toCollect = append(toCollect, seg)
		}
	}
	if opts.Repair {
		for owner, segs := range leakedRefs {
			if err := v.refs.RemoveRefs(ctx, owner, segs); err != nil {
				return rep, fmt.Errorf("vault: verify: remove leaked references of %s: %w", owner, err)
			}
			rep.Repaired += len(segs)
			toCollect = append(toCollect, segs...)
		}
		if len(toCollect) > 0 {
			if err := v.refs.MarkCandidates(ctx, toCollect, v.now().Add(-24*365*time.Hour)); err != nil {
				return rep, fmt.Errorf("vault: verify: mark for gc: %w", err)
			}
			rep.Repaired += len(toCollect)
		}
	}
	if rep.LeakedRefs > 0 {
		problem("%d leaked references (no stored conversation's batch owns them)", rep.LeakedRefs)
	}
	if err := v.verifyCatalog(ctx, manifests, cutoff, &rep, opts.Repair, problem); err != nil {
		return rep, fmt.Errorf("vault: verify: %w", err)
	}
	if c, ok := v.catalog.(catalog.Compactor); ok {
		n, oldest, err := c.Deletions(ctx)
		if err != nil && !errors.Is(err, errors.ErrUnsupported) {
			return rep, fmt.Errorf("vault: verify: catalog deletions: %w", err)
		}
		rep.PendingDeletions, rep.OldestPendingDeletion = n, oldest
	}
	v.log.Info("verify", "manifests", rep.Manifests, "segments", rep.Segments, "ok", rep.OK(),
		"missing_segments", rep.MissingSegments, "corrupt_segments", rep.CorruptSegments,
		"corrupt_manifests", rep.CorruptManifests, "missing_refs", rep.MissingRefs,
		"leaked_refs", rep.LeakedRefs, "leaked_objects", rep.LeakedObjects, "missing_catalog_entries", rep.MissingCatalogEntries,
		"stale_catalog_entries", rep.StaleCatalogEntries, "repaired", rep.Repaired)
	return rep, nil
}

// verifyManifest checks the segments of one manifest.
func (v *Vault) verifyManifest(ctx context.Context, m *manifest.Manifest, objects map[string]objstore.Attrs,
	heads map[string]refcount.Head, refs map[string]map[string]time.Time, used map[string]bool,
	checked map[string]error, use segmentUse, rep *VerifyReport, repair bool, problem func(string, ...any)) error {
	for _, c := range m.Chunks {
		if c.Segment != "" {
			use.slices[c.Segment] = append(use.slices[c.Segment], [2]int{c.Offset, c.Offset + c.Tokens})
		}
	}
	// A finding about a conversation deleted since the pointers were listed is no finding.
	stillStored := func() bool { return v.stillStored(ctx, m.ID, m.Nonce) }
	var missingRefs []string
	for _, seg := range append(m.Segments(), m.Batch) {
		used[seg] = true
		if _, ok := objects[seg]; !ok && !stillStored() {
			return nil
		}
		if _, ok := objects[seg]; !ok {
			rep.MissingSegments++
			problem("conversation %q: segment %s is missing", m.ID, seg)
			continue
		}
		err, done := checked[seg]
		if !done && seg != m.Batch { // the batch object was read and checked already
			var tokens []int
			tokens, err = v.readSegment(ctx, m.Tokenizer, seg)
			checked[seg], use.tokens[seg] = err, len(tokens)
		}
		switch {
		case errors.Is(err, ErrCorrupt):
			rep.CorruptSegments++
			problem("conversation %q: %v", m.ID, err)
		case errors.Is(err, ErrMissingSegment) && !stillStored():
			return nil
		case errors.Is(err, ErrMissingSegment):
			rep.MissingSegments++
			problem("conversation %q: %v", m.ID, err)
		case err != nil:
			rep.Unreadable++
			problem("conversation %q: %v", m.ID, err)
		}
		if seg == m.Batch {
			continue // a batch object has no reference and no head (putBatchObject)
		}
		if _, ok := refs[seg][m.Batch]; !ok {
			if !stillStored() {
				return nil
			}
			rep.MissingRefs++
			problem("conversation %q: no reference on segment %s", m.ID, seg)
			missingRefs = append(missingRefs, seg)
		}
		if h, ok := heads[seg]; !ok || h.State != refcount.Live {
			if _, err := v.refs.GetHead(ctx, seg); errors.Is(err, refcount.ErrNotFound) {
				rep.MissingHeads++
				problem("conversation %q: segment %s has no head", m.ID, seg)
				if repair {
					if err := v.adoptSegment(ctx, seg); err != nil {
						return fmt.Errorf("create head of %s: %w", seg, err)
					}
					rep.Repaired++
				}
			}
		}
	}
	if repair && len(missingRefs) > 0 {
		if err := v.refs.AddRefs(ctx, m.Batch, missingRefs, v.now()); err != nil {
			return fmt.Errorf("add missing references of %q: %w", m.ID, err)
		}
		rep.Repaired += len(missingRefs)
	}
	return nil
}

// segmentUse is which tokens of each segment the stored conversations use: the segment's
// token count (of those read) and the slices [start, end) their manifests reference.
type segmentUse struct {
	tokens map[string]int
	slices map[string][][2]int
}

// used is how many of seg's tokens some slice covers.
func (u segmentUse) used(seg string) int {
	ss := slices.Clone(u.slices[seg])
	slices.SortFunc(ss, func(a, b [2]int) int { return a[0] - b[0] })
	n, end := 0, 0
	for _, s := range ss {
		if s[1] <= end {
			continue
		}
		n += s[1] - max(s[0], end)
		end = s[1]
	}
	return n
}

// adoptSegment gives an existing segment object a head, as a writer would (docs/design.md, "The
// protocol and its invariant"): it takes a reference under an owner of its own first, then reads
// the object and runs the writer side of the protocol (ensureSegment), which uploads it again,
// create-if-absent, should a collector have deleted it meanwhile; then it drops the reference.
// Calling CreateHead directly on the strength of an earlier listing is not safe: a collector may
// delete the object in between (its head can come and go meanwhile), leaving a live head without
// object, which the next writer trusts instead of uploading
// (TestGCRaceVerifyMissingHeadVsCollector, TestGCRaceVerifyLeakedObjectVsCollector). Like a writer,
// it must finish within the writer deadline, after which another audit may reclaim its reference.
// An object that is gone is left alone. Since it may upload, it first requires the bucket to honour
// conditional writes (requireConditions), like Store.
func (v *Vault) adoptSegment(ctx context.Context, seg string) error {
	start := v.now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(v.storeTTL))
	defer cancel()
	if err := v.requireConditions(ctx); err != nil { // ensureSegment may upload
		return err
	}
	owner := "verify:" + randomHex(8)
	if err := v.refs.AddRefs(ctx, owner, []string{seg}, start); err != nil {
		return err
	}
	frame, _, err := v.bucket.Get(ctx, objectKey(seg))
	if err == nil {
		_, err = v.ensureSegment(ctx, seg, frame)
	} else if errors.Is(err, objstore.ErrNotFound) {
		err = nil
	}
	// No candidate mark: the caller marks what it hands to the collector. A failed removal
	// leaks a reference that a later audit reclaims.
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	return errors.Join(err, v.refs.RemoveRefs(rctx, owner, []string{seg}))
}

// stillStored reports whether the copy of conversation id with nonce is stored: its pointer
// is there. A pointer that cannot be read counts as there.
func (v *Vault) stillStored(ctx context.Context, id, nonce string) bool {
	p, err := v.refs.GetPointer(ctx, id)
	return err == nil && p.Nonce == nonce || err != nil && !errors.Is(err, refcount.ErrNotFound)
}

// catalogRepairBatch is how many missing catalog entries Verify's repair writes at once.
const catalogRepairBatch = 10000

// verifyCatalog checks that every stored conversation has its catalog entry and that every
// entry summarizes a stored conversation, and with repair makes it so: the pointers and their
// manifests are the truth. Entries and conversations younger than cutoff are left alone (a
// Store or Delete may be between its steps), and each repair reads the pointer again first, so a conversation stored
// or deleted since the listing keeps its entry or its absence.
func (v *Vault) verifyCatalog(ctx context.Context, manifests []*manifest.Manifest, cutoff time.Time, rep *VerifyReport, repair bool, problem func(string, ...any)) error {
	if v.catalog == nil {
		return nil
	}
	byID := make(map[string]*manifest.Manifest, len(manifests))
	for _, m := range manifests {
		byID[m.ID] = m
	}
	var stale []catalog.Entry
	listed := map[string]bool{} // conversations whose current copy has its entry
	err := v.ListAll(ctx, catalog.Query{}, func(e catalog.Entry) error {
		m := byID[e.ID]
		switch {
		case m != nil && m.Nonce == e.Nonce:
			listed[e.ID] = true
		case e.StoredAt.Before(cutoff):
			stale = append(stale, e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list the catalog: %w", err)
	}
	for _, e := range stale {
		rep.StaleCatalogEntries++
		problem("catalog entry %q (nonce %s) summarizes no stored conversation", e.ID, e.Nonce)
		if !repair {
			continue
		}
		// The copy it summarizes may have been stored since the listing: read again.
		m, err := v.readManifest(ctx, e.ID)
		if err == nil && m.Nonce == e.Nonce {
			continue
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("repair catalog entry %q: %w", e.ID, err)
		}
		if err := v.catalog.Delete(ctx, e); err != nil {
			return fmt.Errorf("repair catalog entry %q: %w", e.ID, err)
		}
		rep.Repaired++
	}
	// The missing entries are written together, in files of up to catalogRepairBatch.
	var missing []catalog.Entry
	put := func() error {
		if err := v.catalog.Put(ctx, missing...); err != nil {
			return fmt.Errorf("repair %d catalog entries: %w", len(missing), err)
		}
		rep.Repaired += len(missing)
		missing = missing[:0]
		return nil
	}
	for _, m := range manifests {
		if listed[m.ID] || !time.UnixMilli(m.StoredAt).Before(cutoff) {
			continue
		}
		rep.MissingCatalogEntries++
		problem("conversation %q has no catalog entry", m.ID)
		if !repair {
			continue
		}
		m, size, err := v.readManifestSized(ctx, m.ID)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return fmt.Errorf("repair catalog entry %q: %w", m.ID, err)
		}
		if missing = append(missing, *catalogEntry(m, size)); len(missing) == catalogRepairBatch {
			if err := put(); err != nil {
				return err
			}
		}
	}
	if len(missing) > 0 {
		return put()
	}
	return nil
}
