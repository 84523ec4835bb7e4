// Package ingest connects producers that handle one conversation at a time (an LLM gateway in
// AWS Lambda, a web service) to the batch, stowken's cheap way to store: producers send lines,
// and the ingest function (lambda/ingest) stores them with vault.StoreBatch.
//
// A line is a conversation in stowken's JSON form followed by a newline (Encode). Producers
// send lines by one of three routes, all documented in the README ("Logging from AWS Lambda"):
//
//   - an Amazon Data Firehose delivery stream whose destination is the store's inbox prefix:
//     PutRecord with the line (a record of at most MaxFirehoseRecord bytes);
//   - an SQS queue the ingest function reads: SendMessage with the line as the body (at most
//     MaxSQSMessage bytes);
//   - objects written under the inbox prefix (InboxPrefix): JSONL, or JSONL compressed with
//     gzip, as Firehose writes them, or as a Writer writes them from a long-running process
//     with no queue at all. A conversation too large for a record or a message goes this way,
//     as an object of its own.
//
// Delivery is at least once on every route, and storing the same conversation again changes
// nothing (vault.Store is idempotent), so Encode gives a conversation without an id one before
// it is sent: a line delivered twice is stored once.
package ingest

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/vault"
)

// Limits of the routes, for the encoded line (Encode's result).
const (
	// MaxFirehoseRecord is the largest record Amazon Data Firehose accepts (1,000 KiB, before
	// base64 encoding).
	MaxFirehoseRecord = 1000 << 10
	// MaxSQSMessage is the largest message body an Amazon SQS queue accepts when its maximum
	// message size is at its highest (1 MiB, as the Terraform module sets it; a queue's
	// default is 256 KiB).
	MaxSQSMessage = 1 << 20
)

// Keys of the inbox, relative to the store's prefix.
const (
	// InboxPrefix is where lines wait in objects for the ingest function.
	InboxPrefix = "inbox/"
	// RejectsPrefix is where the ingest function reports the lines of an inbox object it could
	// not store: inbox/NAME's are in RejectsPrefix + NAME + RejectsSuffix.
	RejectsPrefix = "inbox-rejects/"
	// RejectsSuffix ends the name of a rejects report.
	RejectsSuffix = ".rejects.jsonl"
)

// Encode validates c as vault.Store would, with the same errors (vault.Validate: each wraps
// conversation.ErrInvalid), gives it a new id (a UUIDv7, written back into c.ID) when it has
// none, and returns its line: its JSON form and a newline.
func Encode(c *conversation.Conversation) ([]byte, error) {
	if err := vault.Validate(c); err != nil {
		return nil, err
	}
	if c.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("ingest: generate id: %w", err)
		}
		c.ID = id.String()
	}
	data, err := conversation.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
