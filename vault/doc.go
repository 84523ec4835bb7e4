// Package vault is stowken's public API: Store, Retrieve, Delete, List, Stats, GC and Verify of
// conversations kept as deduplicated, compressed token segments.
//
// A Vault combines a Bucket (segment objects and batch objects, which hold the manifests), a
// reference backend (pointers to stored conversations, and which batch uses which object) and
// a catalog, given as interfaces (objstore.Bucket, refcount.Backend,
// catalog.Backend): package vault links no backend, and package location opens a vault at a
// store location with the backends a program registers. docs/design.md describes the whole
// design; the refcount package has the protocol that keeps every referenced segment alive. A
// Vault is safe for concurrent use by many goroutines. Processes may share one S3 + DynamoDB
// store. The embedded local store has one writer at a time: a read-write open holds it alone,
// while any number of read-only opens (Options.ReadOnly) can share it (see location/local).
//
// # GC race catalogue
//
// The invariant (docs/design.md, "The protocol and its invariant"): no segment or batch object
// is deleted while a pointer names a batch that uses it. What makes it hold:
//
//   - A StoreBatch (a Store is a batch of one) takes its batch's references before anything
//     else and publishes its pointers last. A Delete removes a pointer and marks the batch;
//     only the collector drops a batch's references (retirement), once no pointer names the
//     batch and the writer deadline recorded in its object has passed by ClaimTTL/2, and it
//     deletes the batch object only then, after the references. So a pointer's batch always
//     holds a reference on each segment its conversation uses, and its object exists.
//   - A reference belongs to one batch (owner = the batch id, random per StoreBatch), so
//     creating or deleting it is idempotent and never touches another batch's.
//   - A segment's head gates deletion. "Head is live" implies "the object exists": writers that
//     find a live head do not upload. A collector deletes only under a claim (live → deleting, a
//     conditional write), after re-checking with a strongly consistent read that no reference
//     exists; writers do not pass a deleting head.
//   - Time limits are part of safety. A claim lasts ClaimTTL, and its holder deletes only
//     before claimedAt+ClaimTTL/2. A writer publishes before start+StoreTimeout or not at all.
//     The batch object records that deadline, and a batch retires only past it by
//     ClaimTTL/2. The audit takes references for leaks only when they are older than
//     max(MinAge, StoreTimeout). Deadlines are checked before the request and carried by its
//     context.
//     The protocol assumes that a request is applied before its context's deadline or not at
//     all (bounded latency), and that clocks agree to within the margins: ClaimTTL/2 for the
//     collector, MinAge−StoreTimeout for the audit (none when MinAge ≤ StoreTimeout).
//   - Grace periods and candidate marks are hints for the collector: safety never depends on
//     them.
//
// Each race below says why it is handled and which test forces it. The tests are in
// gc_race_test.go, and each checks afterwards that every stored conversation retrieves
// byte-exactly and that no stored conversation uses a missing object. TestGCModel
// (gc_model_test.go) interleaves all of them at random, with injected faults.
//
// (a) A writer reuses a segment while a collector claims it. If the writer's reference lands
// between the collector's first check and its claim, the claim succeeds, but the re-check after
// it sees the reference and the collector releases. If it lands after the claim, the writer
// finds the head deleting and waits, and the re-check sees the reference.
// TestGCRaceWriterReusesSegmentDuringClaim (RefBetweenCheckAndClaim, RefBetweenClaimAndRecheck).
//
// (b) A collector dies between its claim and the delete, or between deleting the object and
// deleting the head. Until the claim expires, other collectors lose their claims and writers
// wait (a writer whose deadline passes first fails without publishing). After it expires,
// another collector takes the claim over and finishes, or a writer re-uploads the object
// (create-if-absent) and then revives the head.
// TestGCRaceCrashBetweenClaimAndDelete (NextCollectorTakesOverAfterExpiry,
// WriterRevivesAfterExpiry, ObjectDeletedHeadLeftWriterReuploads, WriterDeadlineBeforeExpiry).
//
// (c) A decrement is retried: delivered twice, or applied but reported as failed and then
// repeated. RemoveRefs deletes only its batch's items, so a repeat is a no-op. It can reach
// neither another batch's reference nor that of a later batch storing the same id again.
// Retirement keeps the batch's mark, and its object, until its references are dropped, so a
// retirement that failed half-way leaves the batch marked, and the next collection finishes
// it. TestGCRaceRetriedDecrement (Duplicated, AppliedReportedFailedThenRetried,
// LateRetryAfterReStore).
//
// (d) Two collectors work on one candidate at once. Claim is a conditional write: one wins;
// the other's claim conflicts, or finds the head gone. Only the holder deletes, so each object
// is deleted once. A collector stalled past its lease is overtaken; it is then past its
// deadline and cannot delete what a writer uploaded again. The GC lease (GCOptions.Lease: a
// claim on the reserved head "gc-lease", which no segment id can equal) makes scheduled runs
// single-flight, but it only saves work: it can expire under a slow run, and runs without it
// are allowed, so safety rests on the per-segment claims alone.
// TestGCRaceTwoCollectors (BothClaimOneDeletes; StalledPastLeaseOtherCollectsWriterReuploads,
// which holds the first collector after its re-check, so that only its deadline stops it),
// TestGCScaleTwoCollectOneCandidate, TestGCScaleLease.
//
// (e) A writer is slower than the grace period. Its references exist from before its first
// head read, so every collector's re-check sees them, whatever the grace. The audit leaves them
// alone until the writer's deadline. At the deadline the writer gives up: it checks the
// deadline before each pointer write, and the write carries it.
// TestGCRaceSlowWriter (StalledAfterRefsThroughGCRuns, StalledBetweenUploadAndHead,
// PastDeadlineBeforePublish, PastDeadlineAtPublish).
//
// (f) A collector stalls past its lease. It deletes only before claimedAt+ClaimTTL/2: it checks
// the deadline before the delete, and the delete request carries it. Objects are deleted in
// batches (one request for up to objstore.DeleteBatchSize claimed segments), so a batch's
// deadline is the earliest of its claims' deadlines, and a claim already past its own deadline
// is released instead of joining the batch. The claim lasts until
// claimedAt+ClaimTTL, and writers revive only after that. Past its deadline the collector
// releases. TestGCRaceCollectorPastDeadline (PastHalfLeaseReleases, PastLeaseWriterRevived,
// DeleteRequestHeldPastDeadline).
//
// (g) A pointer write is applied but reported as failed. The write is sent once
// (refcount.Backend.CreatePointer: DynamoDB retries only throttling), so its outcome is unknown
// to the Store, which writes again under a new nonce. That write finds the pointer of the
// first one (its own batch): success. The batch keeps its references whatever happens next
// (only retirement drops them), so if every write fails, the error reaches the caller with the
// conversation perhaps stored, and a second Store of it finds it (Existed) and drops only its
// own batch's references. A batch that sent a write whose outcome it does not know never drops
// its references itself. TestGCRacePointerWriteRetried (LostResponseWrittenAgain,
// ReportedFailedThenStoredAgain, which fails if such a batch drops them).
//
// (h) A Delete is applied but reported as failed, then retried. The pointer goes first, so a
// failure of any later step leaves only the catalog row or an unmarked batch. The retry reports
// ErrNotFound, and the audit reclaims an unmarked batch's references as leaks. TestGCRaceDeleteRetried
// (PointerDeleteLostResponse, PointerDeleteDuplicated, MarkCandidatesFailed). A Delete whose
// conversation was deleted and stored again after it read the pointer finds another pointer
// on its conditional delete, reads again and deletes the copy stored now.
// TestGCRaceDeleteAfterRestore.
//
// (i) Verify --repair runs while a Store is in flight. References younger than max(MinAge,
// StoreTimeout) are never leaks, and an object with references is not a leaked object.
// Anything the audit hands to the collector is re-checked under a claim.
// TestGCRaceVerifyDuringStore (YoungReferencesKept, ObjectWithoutHeadYet).
//
// (j) A Store crashes after taking its references and before publishing its pointers. This
// leaks references (and objects and heads). The audit reclaims them once they are past the
// writer deadline, and the collector then deletes what nothing else uses. An object whose head
// was never created needs a second round. TestGCRaceStoreCrashLeaksReclaimed (AfterAddRefs,
// AfterUploads, MidSegment).
//
// (k) The audit repairs a missing head while the collector deletes the segment. The audit
// found a stored conversation's segment without a live head, and meanwhile the conversation
// was deleted and the segment collected. Creating the head outright would leave a live head
// without object for the next writer to trust, so the audit adopts the segment the way a
// writer would (adoptSegment): it takes a reference, re-uploads the object create-if-absent
// and creates the head through the writer protocol. TestGCRaceVerifyMissingHeadVsCollector.
//
// (l) The audit adopts a leaked object while a writer reuses it, gives up, and a collector
// deletes it. This is the same hazard with the same remedy.
// TestGCRaceVerifyLeakedObjectVsCollector.
//
// (m) The audit cannot read a batch object: a transient error, a compression model that failed
// to load, or corruption. Taking the references of a batch it cannot see for leaks would let
// the collector delete a stored conversation's segments, so the references of a batch whose
// object exists but could not be read are never leaks; a collector likewise leaves such a
// batch unretired. TestGCRaceVerifyUnreadableManifest (TransientReadError, Undecodable).
//
// (n) A collector takes over the expired claim of one that deleted the object and died before
// deleting the head. Setting the head back to live (when it finds a reference, when its
// re-check fails, or when it is past its deadline) would make a live head without object,
// which a waiting writer trusts. So it releases only if the object exists; otherwise it
// deletes the head, and writers upload again (release). TestGCRaceTakeoverOfDeletedObject
// (WriterWaitsReferenceFound, RecheckFails, PastDeadline).
//
// (o) Two Stores of the same id race with a Delete and a collector: the second Store finds the
// first one's pointer, and while it compares the two conversations the first is deleted, its
// batch retired and its segments collected. The second Store sees that the pointer is gone and
// writes its own, its batch's references still held (a missing segment is not an error there).
// When its batch drops its references it marks every one of their objects for the collector,
// not only those the existing conversation does not use: an object whose last reference it
// drops after that conversation's Delete would otherwise stay unmarked and leak. Retrieve
// likewise reports a conversation deleted while it was read as ErrNotFound, not as a missing
// segment. TestConcurrentStoreRetrieveDelete finds both under load (several copies at once),
// and they are forced by TestGCRaceStoreComparesWhileDeleted (ExistingCollectedOursWritten,
// SameConversationDeletedEveryMarkKept).
//
// (p) A Store's catalog write races a Delete of the same conversation: the Delete reads the
// new pointer, deletes it and its catalog entry, and only then does the Store write the entry.
// The Delete deleted that copy's entry (its id and nonce) for good (catalog.Backend), so the
// entry written after it is not listed. TestCatalogWriteAfterDelete forces it.
//
// (q) A Delete runs between a Store's applied pointer write and what the Store does next: it
// deletes the pointer and marks the batch, and the Store then writes the pointer again (its
// first write's outcome was unknown, or the pointer it found vanished before it could read
// it). Were the batch retired in between, the conversation would be published without
// references and the collector would delete its segments. The rule: a batch retires only past
// the writer deadline its object records (by ClaimTTL/2), after which none of its writes is
// sent or lands (bounded latency). TestGCRaceDeleteBetweenPointerWrites
// (DeletedBeforeTheExistingPointerIsRead, DeletedAndCollectedBeforeTheWriteAgain: both fail
// without the deadline check).
//
// (r) A collector dies holding a claim, and the segment's candidate mark is gone: a writer
// that waited on the claim made a later collection find its reference and clear the mark, and
// then gave up at its deadline, dropping its references but failing to mark the segment again.
// Nothing would ever take the claim over. Verify hands the collector every deleting head whose
// claim expired and that no reference and no stored conversation uses (ExpiredClaims), and the
// collector takes the claim over. TestGCRaceExpiredClaimWithoutMark.
//
// (s) The server ignores conditional writes (some S3-compatible servers accept
// "If-None-Match: *" and "If-Match" and ignore them). Since pointers publish conversations, no
// key of the bucket is written twice with different content (segments are named by their
// tokens, models by their content, batch objects, catalog files and tombstones by random ids),
// and ErrConflict rests on the pointer's DynamoDB condition, so an ignored condition no longer
// risks data: it would only hide duplicate uploads from the counts. A Vault still checks,
// before its first write, that the bucket honours both conditions, and refuses one that does
// not (condcheck.go), so that every create-if-absent means what it says.
// TestStoreRefusesBucketIgnoringConditions, and TestConditionalWritesIgnoredCLI in the
// integration tests against MinIO behind a proxy that strips the headers.
//
// (t) GC compacts a batch some of whose conversations were deleted (compact.go): it stores the
// others again as a new batch and moves their pointers to it, then retires the old batch.
// The new batch is written like a StoreBatch (references first, pointers last) and is marked
// for the collector before any pointer moves, so a conversation deleted between the
// compactor's read of its pointer and its move, whose copy the new batch holds, is compacted
// out of it later (TestCompactionRaceDeleteBeforeMove). A move keeps the nonce, so a Delete's
// conditional delete names the batch as well: a Delete that read the pointer before it moved
// finds it changed, reads again and marks the new batch
// (TestCompactionRaceDeleteWithPointerReadBeforeMove). A move is sent once; one whose
// outcome is unknown keeps the new batch's references and the old batch's mark
// (TestCompactionRaceMoveLostResponse); a compaction cut short leaves both batches marked, and
// later runs converge (TestCompactionCutShort). A Retrieve, or a Store comparing with the
// stored copy, that read the old pointer and finds the old objects collected reads the pointer
// again (TestCompactionRaceRetrieve, TestCompactionRaceStoreAgain). A run compacts in windows of
// batches only (race (w)). The old batch retires
// only when no pointer names it, as any batch: nothing writes a pointer naming a batch past
// its writer deadline.
//
// (u) A batch object has no head and no reference (a head read, a head write and a reference
// item less for every Store): only its writer writes it, once, before its deadline, under a
// random key, so nothing deduplicates against it and no claim is needed to delete it. The
// collector deletes it when it retires the batch, with the same checks as for the references
// (past the writer deadline by ClaimTTL/2, no pointer names it), after dropping them, and it
// keeps the batch's mark until the object is gone. Every batch object that may end up without
// a conversation is marked: by a Delete, by a StoreBatch none of whose conversations it stored
// (it may have uploaded the object before failing), by a compaction before it moves pointers;
// the audit marks one a crash left unmarked. TestGCRaceBatchObject (FailedStoreCollected,
// which fails if a Store that sent no pointer write leaves its batch unmarked;
// MemberStillPublishing, which fails without the deadline check; LayoutBeforeWithHead: a batch
// object written when batch objects had a head and the batch's reference is collected like a
// segment once retired), TestGCRaceStoreCrashLeaksReclaimed (AfterUploads fails if the audit
// does not mark a leaked batch object).
//
// (v) GC gathers the catalog entries of conversations stored alone (solo.go) while Stores
// publish and Deletes delete. It moves its mark past a batch object only once that Store's
// pointer write has landed or never will (past its writer deadline by ClaimTTL/2, as for
// retirement): a mark moved past a batch object whose pointer is written later would hide
// that conversation from every listing for good. TestSoloGatherWaitsForPublish, which fails
// without the wait. A conversation deleted before its gathering has no pointer, and is not
// gathered (TestSoloCatalog, which fails if the pointer is not read); one deleted between the
// gathering's read of its pointer and its write of the entry has the Delete's tombstone, which
// outlives the gathering (it writes nothing half the ClaimTTL after it started), as for race
// (p): TestSoloGatherAfterDelete. A run that loses the mark to another (If-Match) stops; an
// entry written twice leaves one.
//
// (w) A compaction uploads its new packs as a Store does (ensureSegment), waiting while a pack
// it needs is claimed by a collector. A run holds its claims on a window's segments until the
// window's DeleteObjects, after every candidate of the window is done: a compaction in the
// same window as a claim on a segment it needs would wait for its own run, for ever on a
// fake clock (TestGCModel found it). So a run works through windows of batch candidates
// first, then windows of segment candidates, never a window of both (gcWindows):
// TestGCWindows, which fails when a window mixes them.
//
// Pack segments follow the rules of segments: the batch references them before they are
// uploaded. TestGCModel covers them and batch objects.
package vault
