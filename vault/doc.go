// Package vault is stowken's public API: Store, Retrieve, Delete, List, Stats, GC and Verify of
// conversations kept as deduplicated, compressed token segments.
//
// A Vault combines a Bucket (segment objects and manifests), a reference backend (who uses
// which segment) and a catalog, given as interfaces (objstore.Bucket, refcount.Backend,
// catalog.Backend): package vault links no backend, and package location opens a vault at a
// store location with the backends a program registers. docs/design.md describes the whole
// design; the refcount package has the protocol that keeps every referenced segment alive. A
// Vault is safe for concurrent use by many goroutines. Processes may share one S3 + DynamoDB
// store. The embedded local store has one writer at a time: a read-write open holds it alone,
// while any number of read-only opens (Options.ReadOnly) can share it (see location/local).
//
// # GC race catalogue
//
// The invariant (docs/design.md, "The protocol and its invariant"): no segment object is
// deleted while a stored conversation references it. What makes it hold:
//
//   - A Store takes its references before anything else and publishes its manifest last; a
//     Delete removes the manifest first and the references after it. So a published manifest's
//     owner always holds a reference on each of its segments.
//   - A reference belongs to one stored copy (owner = the manifest's random nonce and the id),
//     so creating or deleting it is idempotent and never touches another copy's.
//   - A segment's head gates deletion. "Head is live" implies "the object exists": writers that
//     find a live head do not upload. A collector deletes only under a claim (live → deleting, a
//     conditional write), after re-checking with a strongly consistent read that no reference
//     exists; writers do not pass a deleting head.
//   - Time limits are part of safety. A claim lasts ClaimTTL, and its holder deletes only
//     before claimedAt+ClaimTTL/2. A writer publishes before start+StoreTimeout or not at all.
//     The audit takes references for leaks only when they are older than max(MinAge,
//     StoreTimeout). Both deadlines are checked before the request and carried by its context.
//     The protocol assumes that a request is applied before its context's deadline or not at
//     all (bounded latency), and that clocks agree to within the margins: ClaimTTL/2 for the
//     collector, MinAge−StoreTimeout for the audit (none when MinAge ≤ StoreTimeout).
//   - Grace periods and candidate marks are hints for the collector: safety never depends on
//     them.
//
// Each race below says why it is handled and which test forces it. The tests are in
// gc_race_test.go, and each checks afterwards that every stored conversation retrieves
// byte-exactly and that no manifest references a missing object. TestGCModel
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
// repeated. RemoveRefs deletes only its owner's items, so a repeat is a no-op. It can reach
// neither another conversation's reference nor a later copy of the same id, which has a new
// nonce. TestGCRaceRetriedDecrement (Duplicated, AppliedReportedFailedThenRetried,
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
// deadline before publishing, and the manifest write carries it.
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
// (g) A Store's manifest write is applied but reported as failed. The write is sent once
// (objstore.PutOptions.SingleAttempt: no client retry), so its outcome is unknown to the Store,
// which writes again under a new owner: it takes references under a new nonce, then writes.
// That write finds the manifest of the first one (a nonce the Store sent): success, the first
// owner's references kept, the second's dropped. If every write fails, the error reaches the
// caller with the references of every write kept (any may have been applied; the audit
// reclaims the others after the writer deadline), and a second Store of the same
// conversation finds it (Existed) and drops only its own references.
// TestGCRaceManifestPutRetried (LostResponseWrittenAgain, ReportedFailedThenStoredAgain).
//
// (h) A Delete is applied but reported as failed, then retried. The manifest goes first, so a
// failure of any later step leaks only references or candidate marks. The retry reports
// ErrNotFound, and the audit reclaims the leak. TestGCRaceDeleteRetried
// (ManifestDeleteLostResponse, ManifestDeleteDuplicated, RemoveRefsLostResponse,
// MarkCandidatesFailed).
//
// (i) Verify --repair runs while a Store is in flight. References younger than max(MinAge,
// StoreTimeout) are never leaks, and an object with references is not a leaked object.
// Anything the audit hands to the collector is re-checked under a claim.
// TestGCRaceVerifyDuringStore (YoungReferencesKept, ObjectWithoutHeadYet).
//
// (j) A Store crashes after taking its references and before publishing its manifest. This
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
// (m) The audit cannot read a manifest: a transient error, a compression model that failed to
// load, or corruption. Taking the references of an owner it cannot see for leaks would let the
// collector delete a stored conversation's segments, so references whose owner's manifest
// exists but could not be read are never leaks.
// TestGCRaceVerifyUnreadableManifest (TransientReadError, Undecodable).
//
// (n) A collector takes over the expired claim of one that deleted the object and died before
// deleting the head. Setting the head back to live (when it finds a reference, when its
// re-check fails, or when it is past its deadline) would make a live head without object,
// which a waiting writer trusts. So it releases only if the object exists; otherwise it
// deletes the head, and writers upload again (release). TestGCRaceTakeoverOfDeletedObject
// (WriterWaitsReferenceFound, RecheckFails, PastDeadline).
//
// (o) Two Stores of the same id race with a Delete and a collector: the second Store finds the
// first one's manifest, and while it compares the two conversations the first is deleted and
// its segments collected. The second Store sees that the manifest is gone and writes its own,
// its references still held (a missing segment is not an error there). When it drops its
// references it marks every one of their segments for the collector, not only those the
// existing conversation does not use: a segment whose last reference it drops after that
// conversation's Delete would otherwise stay unmarked and leak. Retrieve likewise reports a
// conversation deleted while it was read as ErrNotFound, not as a missing segment.
// TestConcurrentStoreRetrieveDelete finds both under load (several copies at once), and
// they are forced by TestGCRaceStoreComparesWhileDeleted (ExistingCollectedOursWritten,
// SameConversationDeletedEveryMarkKept).
//
// (p) A Store's catalog write races a Delete of the same conversation: the Delete reads the
// new manifest, deletes it and its catalog entry, and only then does the Store write the
// entry. The Delete deleted that copy's entry (its id and nonce) for good (catalog.Backend),
// so the entry written after it is not listed. TestCatalogWriteAfterDelete forces it.
//
// (q) A Delete runs between a Store's applied manifest write and what the Store does next.
// The Delete reads that manifest, deletes it and drops its owner's references; if the Store
// then published the same owner again, by a client retry of the write (create-if-absent
// succeeds on the now absent key) or by writing it again when the manifest its retry found
// had vanished, the conversation would be published without references and the collector
// would delete its segments. The rule: an owner whose references a Delete dropped is never
// published again. Each manifest write is sent once under an owner of its own (see (g)): the
// client does not retry it, and the Store writes again only under a new nonce with new
// references, taken before it drops the previous owner's, so that its segments are referenced
// throughout. TestGCRaceDeleteBetweenManifestWrites (DeletedBeforeTheExistingManifestIsRead:
// a client that retries even single attempts, guarded by the owner of each write;
// ClientRetryAfterDelete: the retry itself, guarded by SingleAttempt).
//
// (r) A collector dies holding a claim, and the segment's candidate mark is gone: a writer
// that waited on the claim made a later collection find its reference and clear the mark, and
// then gave up at its deadline, dropping its references but failing to mark the segment again.
// Nothing would ever take the claim over. Verify hands the collector every deleting head whose
// claim expired and that no reference and no manifest uses (ExpiredClaims), and the collector
// takes the claim over. TestGCRaceExpiredClaimWithoutMark.
//
// (s) The server ignores conditional writes (some S3-compatible servers accept
// "If-None-Match: *" and "If-Match" and ignore them). A Store of a different conversation under
// an existing id would then replace the first one's manifest instead of failing with
// ErrConflict; the audit would take the first copy's references for leaks and the collector
// would delete its segments. Before its first write (Store, StoreBatch, Verify's repair) a
// Vault checks that the bucket honours both conditions, and refuses to write to one that does not (condcheck.go).
// TestStoreRefusesBucketIgnoringConditions, and TestConditionalWritesIgnoredCLI in the
// integration tests against MinIO behind a proxy that strips the headers.
//
// StoreBatch's pack segments follow the same rules: every member references the pack before
// it is uploaded, and a failed member drops only its own references. TestGCModel covers them.
package vault
