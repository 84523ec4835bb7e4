// Package dynamodb is the refcount.Backend on Amazon DynamoDB (or a compatible server such as
// dynalite), for the serverless deployment.
//
// Open takes a URL of the form
//
//	dynamodb://TABLE[?region=REGION][&endpoint=URL]
//
// Region, endpoint and credentials otherwise come from the SDK's default configuration
// (config.LoadDefaultConfig), so AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_DYNAMODB and the
// usual credential sources apply; the region defaults to us-east-1.
//
// # Table
//
// One table, created by EnsureTable (or Terraform; TableSchema describes it), on-demand billing:
//
//	partition key  pk  (S)
//	sort key       sk  (S)
//
// Four kinds of item share it, the last one written by catalog/dynamodb:
//
//	item       pk                       sk        other attributes
//	head       "seg#" + segment         "head"    state (S: "live"|"deleting"), size (N),
//	                                              created (N), claim_id (S), claim_expires (N)
//	reference  "ref#" + segment + "#" + shard(owner)
//	                                    owner     created (N)
//	candidate  "gc#" + shard(segment)   segment   since (N)
//	catalog    NS + "conv#" + id        "catalog" id, nonce, application, model, tokenizer (S),
//	                                              created, stored, messages, stored_bytes (N),
//	                                              tokens (M of N, per role), metadata (M of S),
//	                                              gsi1pk, gsi2pk, gsi3pk, gsisk (S): index keys
//
// NS is the catalog's namespace (catalog/dynamodb Options.Namespace; S3 stores that share a
// table each use their own). Three global secondary indexes, each projecting every attribute,
// list the catalog items; no other item carries their key attributes, so no other item is in
// them:
//
//	index     partition key                                sort key
//	by_time   gsi1pk = NS + "cat#" + cshard(id)            gsisk = created + "#" + id
//	by_app    gsi2pk = NS + "app#" + application + "#" + cshard(id)    (the same gsisk)
//	by_model  gsi3pk = NS + "model#" + model + "#" + cshard(id)        (the same gsisk)
//
// where created is the entry's CreatedAt in Unix milliseconds as 15 zero-padded decimal digits
// (so that gsisk sorts by time, then id) and cshard is FNV-1a (32 bit) of the id modulo 4: each
// index spreads one application's (or model's) writes over four partitions. Entries without an
// application (or model) carry no gsi2pk (gsi3pk) and are not in that index. See package
// catalog/dynamodb.
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
// segment's references are spread over RefShards partition keys by a hash of the owner: the
// writes for one segment are spread over RefShards partitions, raising its ceiling RefShards-fold.
// HasRefs pays for it with up to RefShards queries (one strongly consistent Query with Limit=1
// per shard, sent four at a time; it stops after the first group that finds a reference). Candidate marks are
// spread the same way over RefShards partition keys by a hash of the segment, so ListCandidates
// is RefShards queries and no scan. The head item stays a single item per segment: it is written
// only on creation and by collectors (rarely), but read once per segment by every writer, so a
// very popular segment's head is bounded by the per-partition read rate (about 3,000 strongly
// consistent reads/s for these small items).
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
//
// Each condition also accepts the state its own earlier success produced, so a request the SDK
// retries after the server applied it (the response was lost) succeeds again; a retried
// CreateHead reports refcount.ErrExists, which writers treat like "somebody created it". A failed
// condition is refcount.ErrConflict (refcount.ErrExists for CreateHead); Claim then reads the head
// (strongly consistent) to report refcount.ErrNotFound when there is none (dynalite ignores
// ReturnValuesOnConditionCheckFailure, so the store does not rely on it). RemoveCandidate treats a
// failed condition (a newer mark) as success.
//
// AddRefs, RemoveRefs and MarkCandidates send BatchWriteItem requests of refcount.BatchSize
// items, retrying UnprocessedItems with exponential backoff and full jitter. Since they are plain
// puts, AddRefs refreshes the created time of a reference that already exists, and
// MarkCandidates sets the mark to the caller's now (last writer wins).
//
// Every request goes through the SDK's standard retryer (retry.NewStandard, DefaultMaxAttempts
// attempts, exponential backoff with jitter) which retries throttling
// (ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded), 5xx and
// connection errors; its client-side retry quota is disabled so that a burst of throttling slows
// the store down instead of failing it. GetHead, HasRefs and the listings use strongly consistent
// reads.
//
// ListRefs and ListHeads scan the whole table (they serve audits, not the hot path); their
// filters skip catalog items.
package dynamodb
