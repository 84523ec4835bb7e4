// Package ddbtable owns stowken's one DynamoDB table: its schema (keys, indexes, attribute
// names), the client every store on it uses, EnsureTable, and the namespace under which an S3
// store keeps its items. The reference store (refcount/dynamodb) and the catalog
// (catalog/dynamodb) are both built on a Table from Open; neither imports the other.
// docs/design.md ("Layout") places the table in the whole design.
//
// Open takes a URL of the form
//
//	dynamodb://TABLE[?region=REGION][&endpoint=URL]
//
// Region, endpoint and credentials otherwise come from the SDK's default configuration
// (config.LoadDefaultConfig), so AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_DYNAMODB and the
// usual credential sources apply; the region defaults to us-east-1. Every request goes through
// the SDK's standard retryer (retry.NewStandard, DefaultMaxAttempts attempts, exponential
// backoff with jitter), which retries throttling, 5xx and connection errors; its client-side
// retry quota is disabled so that a burst of throttling slows the stores down instead of
// failing them.
//
// # Table
//
// One table, created by EnsureTable (or Terraform; TableSchema describes it), on-demand billing:
//
//	partition key  pk  (S)
//	sort key       sk  (S)
//
// Four kinds of item share it; the first three are written by refcount/dynamodb, the last by
// catalog/dynamodb:
//
//	item       pk                            sk         other attributes
//	head       "seg#" + NS + segment         "head"     state (S: "live"|"deleting"), size (N),
//	                                                    created (N), claim_id (S), claim_expires (N)
//	reference  "ref#" + NS + segment + "#" + shard(owner)
//	                                         owner      created (N)
//	candidate  "gc#" + shard(NS + segment)   NS + segment   since (N)
//	catalog    NS + "conv#" + id             "catalog"  id, nonce, application, model, tokenizer (S),
//	                                                    created, stored, messages, stored_bytes (N),
//	                                                    tokens (M of N, per role), metadata (M of S),
//	                                                    gsi1pk, gsi2pk, gsi3pk, gsisk (S): index keys
//
// NS is the Table's Namespace (Options.Namespace): S3 stores that share a table each use their
// own (location/aws derives it from the bucket and prefix), and "" is fine for a table of one
// store. The stores put it into their keys through Table.InNamespace alone (and take it off
// with Table.CutNamespace). Three global secondary indexes, each projecting every attribute,
// list the catalog items; no other item carries their key attributes, so no other item is in
// them:
//
//	index     partition key                                sort key
//	by_time   gsi1pk = NS + "cat#" + cshard(id)            gsisk = created + "#" + id
//	by_app    gsi2pk = NS + "app#" + application + "#" + cshard(id)    (the same gsisk)
//	by_model  gsi3pk = NS + "model#" + model + "#" + cshard(id)        (the same gsisk)
//
// where created is the entry's CreatedAt in Unix milliseconds as 15 zero-padded decimal digits
// (so that gsisk sorts by time, then id) and cshard is FNV-1a (32 bit) of the id modulo 4.
// shard(x) is FNV-1a (32 bit) of x modulo refcount.RefShards (16), in decimal. Times are
// numbers of Unix milliseconds. All of it is part of the stored format and never changes; the
// stores' package documentation has the protocol of each kind of item.
package ddbtable
