// Package dynamodb is the refcount.Backend on Amazon DynamoDB (or a compatible server such as
// dynalite), for the serverless deployment.
//
// Its items live in the table package internal/ddbtable owns (the layout, the client, the
// namespace and EnsureTable are there). Open takes the table's URL,
//
//	dynamodb://TABLE[?region=REGION][&endpoint=URL]
//
// and Options (ddbtable.Options), or New a ddbtable.Table. Four kinds of item are this
// store's: a head per segment ("seg#" + NS + segment, sk "head"), references ("ref#" + NS +
// segment + "#" + shard(owner), sk owner), candidate marks ("gc#" + shard(NS + segment), sk
// NS + segment) and a pointer per stored conversation ("id#" + NS + id, sk "p", with b the
// batch id and n the nonce, both strings), where NS is the table's namespace: every segment
// name and conversation id carries it, so that S3 stores sharing one table never see each
// other's items.
//
// Times are numbers of Unix milliseconds. shard(x) is FNV-1a (32 bit) of x modulo RefShards,
// written in decimal; it is part of the stored format and never changes. claim_expires exists
// only while the head is deleting; claim_id stays after the head returns to live and names the
// last holder, so that a Release or Revive retried after its response was lost succeeds. GetHead
// reports no claim for a live head.
//
// # Hot keys
//
// One segment (a system prompt, say) can be referenced by millions of conversations. DynamoDB
// serves at most about 1,000 writes/s and 3,000 reads/s per partition, and an item collection (all
// items with one partition key) lives on one partition. If a segment's references shared one
// partition key, every conversation stored or deleted would write the same hot partition. So a
// segment's references are spread over RefShards partition keys by a hash of the owner: the writes
// for one segment are spread over RefShards partitions, raising its ceiling RefShards-fold. HasRefs
// pays for it with up to RefShards queries (one strongly consistent Query with Limit=1 per shard,
// sent four at a time; it stops after the first group that finds a reference). Candidate marks are
// spread the same way over RefShards partition keys by a hash of the segment, so ListCandidates is
// RefShards queries and no scan. The head item stays a single item per segment: it is written only
// on creation and by collectors (rarely), but read once per segment by every writer, so a very
// popular segment's head is bounded by the per-partition read rate (about 3,000 strongly consistent
// reads/s for these small items).
//
// # Writes and conditions
//
// Only single-item conditional writes (PutItem, UpdateItem, DeleteItem with a
// ConditionExpression) and BatchWriteItem (plain puts and deletes, which are idempotent) are used;
// never TransactWriteItems, which dynalite lacks. The conditions, with :now the caller's time:
//
//	CreateHead  PutItem     attribute_not_exists(pk)
//	Claim       UpdateItem  attribute_exists(pk) AND (state = live OR claim_id = :id OR claim_expires < :now)
//	Release     UpdateItem  attribute_exists(pk) AND claim_id = :id
//	Revive      UpdateItem  attribute_exists(pk) AND claim_id = :id AND (state = live OR claim_expires < :now)
//	DeleteHead  DeleteItem  attribute_not_exists(pk) OR (state = deleting AND claim_id = :id)
//	RemoveCandidate DeleteItem attribute_not_exists(pk) OR since <= :since
//	CreatePointer PutItem   attribute_not_exists(pk)
//	MovePointer PutItem     b = :p OR (b = :b AND n = :n) (the pointer it replaces)
//	DeletePointer DeleteItem attribute_not_exists(pk) OR b = :p OR (b = :b AND n = :n)
//
// A pointer item holds its batch and nonce packed into one binary b (:p) when they have the
// vault's form, and as the strings b and n otherwise and in the items of stores written before
// (internal/ddbitem.Pointer); the conditions match either layout, and reads decode both.
//
// Each condition also accepts the state its own earlier success produced, so a request the SDK
// retries after the server applied it (the response was lost) succeeds again; a retried
// CreateHead reports refcount.ErrExists, which writers treat like "somebody created it".
// CreatePointer and MovePointer are not retried that way (see below). A failed condition is
// refcount.ErrConflict (refcount.ErrExists for CreateHead and CreatePointer); Claim then reads
// the head (strongly consistent) to report refcount.ErrNotFound when there is none (dynalite
// ignores ReturnValuesOnConditionCheckFailure, so the store does not rely on it).
// RemoveCandidate treats a failed condition (a newer mark) as success.
//
// AddRefs, RemoveRefs and MarkCandidates send BatchWriteItem requests of refcount.BatchSize
// items, retrying UnprocessedItems with exponential backoff and full jitter. Since they are plain
// puts, AddRefs refreshes the created time of a reference that already exists, and
// MarkCandidates sets the mark to the caller's now (last writer wins).
//
// Every request goes through the retryer ddbtable configures, which retries throttling
// (ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded), 5xx and
// connection errors, except CreatePointer's and MovePointer's: their retryer retries the
// throttling errors alone, which prove the server did not apply the put. After any other
// failure the put may have been applied, and a second request would report the caller's own
// pointer as refcount.ErrExists (or, for a move, refcount.ErrConflict): the caller gets the
// error instead, and knows that the outcome is unknown. GetHead,
// GetPointer, HasRefs and the listings use strongly consistent reads.
//
// ListRefs, ListHeads and ListPointers scan the whole table (they serve audits, not the hot
// path); their filters keep the store's own items, of its namespace.
//
// docs/design.md ("Layout") shows the table with the rest of the store.
package dynamodb
