// Package ddbitem is stowken's DynamoDB table without the AWS SDK: the names of its attributes,
// the key of every kind of item and the item itself, and the size DynamoDB counts for an item.
// The DynamoDB reference store (refcount/dynamodb) builds its items here and converts them for
// the SDK (ddbtable.Marshal); the metering of the local and in-memory backends
// (internal/meter) sizes the same items, so one code path says how large an item is wherever
// the store runs. internal/ddbtable owns the table itself: the client, EnsureTable, the schema
// it creates and the namespace.
//
// # Table
//
// Partition key pk (S), sort key sk (S), no secondary index. Four kinds of item share it, all
// written by refcount/dynamodb:
//
//	item       pk                            sk         other attributes
//	head       "seg#" + NS + segment         "head"     state (S: "live"|"deleting"), size (N),
//	                                                    created (N), claim_id (S), claim_expires (N)
//	reference  "ref#" + NS + segment + "#" + shard(owner)
//	                                         owner      created (N)
//	candidate  "gc#" + shard(NS + segment)   NS + segment   since (N)
//	pointer    "id#" + NS + id               "p"        b (S: the batch id), n (S: the nonce)
//
// NS is the table's namespace (ddbtable.Options.Namespace): S3 stores that share a table each
// use their own, and "" is fine for a table of one store. id is a stored conversation's id and
// b the id of the batch that stored it. shard(x) is FNV-1a (32 bit) of x modulo RefShards, in
// decimal. Times are numbers of Unix milliseconds. All of it is part of the stored format and
// never changes; the package documentation of refcount/dynamodb has the protocol of each kind
// of item. (Tables written before the catalog moved into the bucket also hold catalog items, pk
// NS + "conv#" + id and sk "catalog", which nothing reads any more.)
//
// # Size
//
// Size follows "DynamoDB item sizes and formats" (DynamoDB Developer Guide), with the constants
// of package cost: an item is the sum of its attribute names' UTF-8 lengths and its values'
// sizes. A string is its UTF-8 length; a number is cost.NumberSize; binary is its length; a
// boolean or null is 1; a list or map is cost.DocumentOverheadBytes plus, per element,
// cost.ElementOverheadBytes, its name (in a map) and its value; a set is the sum of its
// elements.
package ddbitem
