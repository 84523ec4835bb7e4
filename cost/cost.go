// Package cost counts what storing conversations costs in the units AWS bills, and turns the
// counts into dollars: S3 requests by class and stored bytes, DynamoDB request units (by
// DynamoDB's item size rules) and stored bytes (with the per-item overhead and every index's
// copy), SQS requests, Lambda invocations and Amazon Data Firehose ingestion.
//
// Usage is the one type for counts, with its JSON names defined here; Prices holds the list
// prices (DefaultPrices, or a file read by LoadPrices), each with its source and the date it was
// checked. docs/design.md ("Cost per conversation") shows how the store's layout spends them.
package cost

import (
	"math"
	"strings"
	"unicode/utf8"
)

// Usage is what a workload uses, in billing units. Request counts are float64 because a
// DynamoDB read of an eventually consistent item costs half a unit.
type Usage struct {
	// S3PutClass counts PUT, COPY, POST and LIST requests; a failed conditional PUT (412) is
	// billed like any other.
	S3PutClass float64 `json:"s3_put_class"`
	// S3GetClass counts GET and HEAD requests.
	S3GetClass float64 `json:"s3_get_class"`
	// S3Delete counts DELETE requests, which are free.
	S3Delete float64 `json:"s3_delete"`
	// DDBWRU and DDBRRU are DynamoDB write and read request units (see WriteUnits, ReadUnits).
	DDBWRU float64 `json:"ddb_wru"`
	DDBRRU float64 `json:"ddb_rru"`
	// SQSRequests counts SQS requests, each 64 KB of payload one request.
	SQSRequests float64 `json:"sqs_requests"`
	// LambdaInvocations and LambdaGBSeconds are Lambda's two billed quantities.
	LambdaInvocations float64 `json:"lambda_invocations"`
	LambdaGBSeconds   float64 `json:"lambda_gb_seconds"`
	// FirehoseBytes is Amazon Data Firehose's billed ingestion: every record rounded up to
	// FirehoseRecordBytes.
	FirehoseBytes float64 `json:"firehose_bytes"`
	// S3Bytes and DDBBytes are the bytes stored: S3 object bytes (Standard), and DynamoDB
	// items and index entries as billed (see StoredBytes).
	S3Bytes  float64 `json:"s3_bytes"`
	DDBBytes float64 `json:"ddb_bytes"`
}

// Add returns u plus o.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		S3PutClass: u.S3PutClass + o.S3PutClass, S3GetClass: u.S3GetClass + o.S3GetClass,
		S3Delete: u.S3Delete + o.S3Delete, DDBWRU: u.DDBWRU + o.DDBWRU, DDBRRU: u.DDBRRU + o.DDBRRU,
		SQSRequests: u.SQSRequests + o.SQSRequests, LambdaInvocations: u.LambdaInvocations + o.LambdaInvocations,
		LambdaGBSeconds: u.LambdaGBSeconds + o.LambdaGBSeconds, FirehoseBytes: u.FirehoseBytes + o.FirehoseBytes,
		S3Bytes: u.S3Bytes + o.S3Bytes, DDBBytes: u.DDBBytes + o.DDBBytes,
	}
}

// Sub returns u minus o: the usage between two readings of a meter.
func (u Usage) Sub(o Usage) Usage { return u.Add(o.Scale(-1)) }

// Scale returns u with every count multiplied by f (1/n gives the usage per conversation of n).
func (u Usage) Scale(f float64) Usage {
	return Usage{
		S3PutClass: u.S3PutClass * f, S3GetClass: u.S3GetClass * f, S3Delete: u.S3Delete * f,
		DDBWRU: u.DDBWRU * f, DDBRRU: u.DDBRRU * f, SQSRequests: u.SQSRequests * f,
		LambdaInvocations: u.LambdaInvocations * f, LambdaGBSeconds: u.LambdaGBSeconds * f,
		FirehoseBytes: u.FirehoseBytes * f, S3Bytes: u.S3Bytes * f, DDBBytes: u.DDBBytes * f,
	}
}

// DynamoDB's size rules ("DynamoDB item sizes and formats" in the DynamoDB Developer Guide).
const (
	// WriteUnitBytes is the item size one write request unit covers.
	WriteUnitBytes = 1024
	// ReadUnitBytes is the size one strongly consistent read request unit covers.
	ReadUnitBytes = 4096
	// ItemOverheadBytes is the storage billed for every item and every index entry on top of
	// its size.
	ItemOverheadBytes = 100
	// DocumentOverheadBytes is the size of a list or map beyond its elements, and
	// ElementOverheadBytes the size each element adds beyond its name and value.
	DocumentOverheadBytes = 3
	ElementOverheadBytes  = 1
)

// NumberSize is the size DynamoDB counts for a number given in decimal: its significant
// digits (leading and trailing zeros trimmed; sign, point and exponent left out), 1 byte per
// two, plus 1.
func NumberSize(decimal string) int {
	s := strings.TrimLeft(decimal, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.Replace(s, ".", "", 1)
	s = strings.Trim(s, "0")
	return (utf8.RuneCountInString(s)+1)/2 + 1
}

// WriteUnits is what writing an item of size bytes costs in write request units: 1 per KB or
// part of one, at least 1. A failed conditional write costs the same.
func WriteUnits(size int) float64 {
	return math.Max(1, math.Ceil(float64(size)/WriteUnitBytes))
}

// ReadUnits is what reading size bytes costs in read request units: 1 per 4 KB or part of one,
// at least 1, and half of that when eventually consistent. A Query rounds the sum of the items
// it returns; a GetItem, the item.
func ReadUnits(size int, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/ReadUnitBytes))
	if !consistent {
		u /= 2
	}
	return u
}

// StoredBytes is what an item of size bytes is billed for in storage when it is in indexes
// global secondary indexes that project all attributes: the item and each index's copy, each
// with ItemOverheadBytes.
func StoredBytes(size, indexes int) int {
	return (1 + indexes) * (size + ItemOverheadBytes)
}
