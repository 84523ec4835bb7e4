// Package ddbitem is stowken's DynamoDB table without the AWS SDK: the names of its attributes
// and indexes, the key of every kind of item and the item itself, and the size DynamoDB counts
// for an item. The DynamoDB stores (refcount/dynamodb, catalog/dynamodb) build their items here
// and convert them for the SDK (ddbtable.Marshal); the metering of the local and in-memory
// backends (internal/meter) sizes the same items, so one code path says how large an item is
// wherever the store runs. internal/ddbtable owns the table itself: the client, EnsureTable,
// the schema it creates and the namespace.
//
// # Table
//
// Partition key pk (S), sort key sk (S). Four kinds of item share it; the first three are
// written by refcount/dynamodb, the last by catalog/dynamodb:
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
// NS is the table's namespace (ddbtable.Options.Namespace): S3 stores that share a table each
// use their own, and "" is fine for a table of one store. Three global secondary indexes, each
// projecting every attribute, list the catalog items; no other item carries their key
// attributes, so no other item is in them:
//
//	index     partition key                                sort key
//	by_time   gsi1pk = NS + "cat#" + cshard(id)            gsisk = created + "#" + id
//	by_app    gsi2pk = NS + "app#" + application + "#" + cshard(id)    (the same gsisk)
//	by_model  gsi3pk = NS + "model#" + model + "#" + cshard(id)        (the same gsisk)
//
// where created is the entry's CreatedAt in Unix milliseconds as 15 zero-padded decimal digits
// (so that gsisk sorts by time, then id) and cshard is FNV-1a (32 bit) of the id modulo
// CatalogShards. shard(x) is FNV-1a (32 bit) of x modulo RefShards, in decimal. Times are
// numbers of Unix milliseconds. All of it is part of the stored format and never changes; the
// stores' package documentation has the protocol of each kind of item.
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
