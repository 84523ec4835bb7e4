// Package dynamodb is the catalog.Backend on Amazon DynamoDB (or a compatible server such as
// dynalite), for the serverless deployment. It keeps its items in the one table that
// internal/ddbtable owns (single-table design, beside refcount/dynamodb's items: ddbtable has
// the layout, the client, the namespace and EnsureTable, which creates the catalog's indexes).
//
// Open takes the table's URL and Options (ddbtable.Options), or New a ddbtable.Table,
//
//	dynamodb://TABLE[?region=REGION][&endpoint=URL]
//
// The table's Namespace prefixes every partition key the catalog writes (ddbitem builds the keys):
// S3 stores that share one table each use their own namespace ("" is fine for a table of one
// store).
//
// # Items and indexes
//
// One item per entry (ddbtable's package documentation has the whole table):
//
//	pk = NS + "conv#" + id      sk = "catalog"
//	id, nonce, application, model, tokenizer (S); created, stored (N, Unix ms); messages,
//	stored_bytes (N); tokens (M: role → N); metadata (M: key → S);
//	gsi1pk = NS + "cat#" + shard(id)
//	gsi2pk = NS + "app#" + application + "#" + shard(id)     (only with an application)
//	gsi3pk = NS + "model#" + model + "#" + shard(id)         (only with a model)
//	gsisk  = created as 15 zero-padded digits + "#" + id
//
// Three global secondary indexes project whole items: by_time (gsi1pk, gsisk), by_app (gsi2pk,
// gsisk) and by_model (gsi3pk, gsisk). gsisk sorts like the catalog's (CreatedAt, ID) order.
// shard(id) is FNV-1a (32 bit) of the id modulo Shards, in decimal; it is part of the stored
// format. Sharding keeps one busy application (or the whole catalog, in by_time) from writing a
// single index partition, which takes about 1,000 writes/s.
//
// # Requests
//
// Put is one PutItem (it replaces the item, and DynamoDB moves its index entries). Delete is one
// DeleteItem, with the condition attribute_not_exists(pk) OR nonce = :nonce when a nonce is
// given; a failed condition means the entry belongs to a newer stored copy, and is success with
// nothing deleted; it returns the old item (ReturnValues ALL_OLD) so that the metering counts the
// index entries it removes. Get is one strongly consistent GetItem.
//
// List queries the Shards partitions of the index the plan picks (catalog's package documentation),
// in parallel: a key condition on gsisk between the page's bounds (the cursor's position, Since and
// Until), ScanIndexForward for the order, a Limit of one more than the page (at least 100 items
// evaluated when there is a filter), and the remaining filters (model when listing by application,
// tokenizer, metadata) as a FilterExpression. It merges the shards' items in order and queries a
// shard again only when its items run out before the page is full, so a page costs at least Shards
// queries and otherwise in proportion to the items read; with filters, in proportion to the items
// they scan.
//
// Global secondary indexes are eventually consistent (DynamoDB does not allow strongly
// consistent reads of them): an entry put or deleted a moment ago may be missing from, or still
// in, a listing, usually for well under a second. Get is strongly consistent.
//
// Every request goes through the retryer ddbtable configures. SDK errors are translated in one
// place: a missing table or a missing index says so (ddbtable's TableError).
//
// docs/design.md ("Layout") shows the table with the rest of the store.
package dynamodb
