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
// One table, created by EnsureTable (or Terraform; TableSchema describes it), on-demand billing,
// with partition key pk (S), sort key sk (S) and three global secondary indexes for the
// catalog. Its items (heads, references, candidate marks, catalog entries), their keys and
// the namespace in them are package ddbitem's, which needs no SDK; Marshal and Unmarshal
// convert them. The stores put the namespace into their keys through ddbitem alone (and take
// it off with Table.CutNamespace).
//
// # Usage
//
// The client asks the server what each item request consumed and reports it to the metering
// of the call that sent it (usage.go, cost.Charge).
package ddbtable
