// Package catalog keeps a summary of every stored conversation (its id, application, model,
// tokenizer, times, message and token counts, stored size and top-level metadata) and lists the
// summaries with filters, page by page, without reading a single manifest.
//
// The catalog is derived data. The vault puts an entry after it wrote a conversation's manifest
// and deletes it after it deleted the manifest; a crash in between leaves an entry missing or
// stale, never a conversation lost. Everything in it can be rebuilt from the manifests, and it is
// never the only copy of anything.
//
// # Ordering
//
// List returns entries ordered by (CreatedAt, ID): newest first by default, oldest first with
// Query.Oldest. Entries created in the same millisecond are ordered by ID, in the same direction.
// Times are kept with millisecond precision, as Unix milliseconds, in every backend.
//
// # Cursors
//
// Page.Next is an opaque cursor: the position (CreatedAt, ID) of the last entry returned, and a
// check of the query it was made for. Passing it as Query.Cursor with the same filters and order
// (the Limit may differ) continues after that position, so a cursor stays valid however many
// entries are put or deleted between pages: no entry is returned twice, no entry that stays is
// skipped, and an entry put between pages is returned when its position is still ahead. (An
// entry replaced with another CreatedAt moves: it is returned when its new position is ahead.)
// A cursor made for other filters or the other order is rejected with ErrInvalidCursor, as is
// anything that is not a cursor. Cursors do not expire.
//
// # Cost
//
// Every backend keeps the entries in (CreatedAt, ID) order three times: all of them, per
// application and per model. List walks the one that matches Query.Application if set, else
// Query.Model if set, else all entries, from the cursor (or the Since/Until bound) on, and checks
// the remaining filters on every entry it visits. What it costs is therefore proportional to the
// entries it visits: the page, when the filters are only the walked index's value and the time
// range; but a filter on Tokenizer, Metadata, or Model together with Application, costs what it
// scans: a filter that matches one entry in a thousand visits about a thousand entries per entry
// returned. (catalog/dynamodb spreads each index over four partitions and queries all of them:
// a page costs at least four requests.) Put, Delete and Get cost one point access, plus the
// index updates of a Put.
//
// # Backends
//
// catalog/mem (in memory, for tests), catalog/bolt (buckets in the embedded reference store's
// bbolt file) and catalog/dynamodb (items and indexes in the reference store's DynamoDB table).
// Each passes catalog/catalogtest. Get is strongly consistent everywhere, and so is List on
// mem and bolt; on DynamoDB, List reads global secondary indexes, which lag writes by a moment.
//
// docs/design.md describes the whole design.
package catalog

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"time"
)

// Page sizes of List.
const (
	// DefaultLimit is the page size when Query.Limit is 0.
	DefaultLimit = 100
	// MaxLimit is the largest Query.Limit.
	MaxLimit = 1000
)

// Limits on an entry; Put rejects an entry beyond them with ErrInvalidEntry.
const (
	// MaxIDBytes is the longest ID, in bytes.
	MaxIDBytes = 512
	// MaxFieldBytes is the longest Application, Model or Tokenizer, in bytes.
	MaxFieldBytes = 1024
	// MaxEntryBytes is the largest EncodedSize (DynamoDB items are at most 400 KB).
	MaxEntryBytes = 256 << 10
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound: Get found no entry for the id.
	ErrNotFound = errors.New("catalog: not found")
	// ErrInvalidCursor: Query.Cursor is not a cursor of this query.
	ErrInvalidCursor = errors.New("catalog: invalid cursor")
	// ErrInvalidQuery: the query is malformed (a limit out of range, Since after Until, …).
	ErrInvalidQuery = errors.New("catalog: invalid query")
	// ErrInvalidEntry: Put was given an entry no backend can keep (an empty ID, a time out of
	// range, …); nothing was changed.
	ErrInvalidEntry = errors.New("catalog: invalid entry")
	// ErrReadOnly: Put or Delete on a store opened read-only; nothing was changed.
	ErrReadOnly = errors.New("catalog: store is read-only")
)

// Entry summarizes one stored conversation.
//
// IDs are 1 to MaxIDBytes bytes; Application, Model and Tokenizer at most MaxFieldBytes. Every
// string is valid UTF-8 without NUL bytes; map keys are not empty. Times lie between 1970 and
// the end of year 9999. Counts are not negative.
type Entry struct {
	ID string
	// Nonce is the stored copy's nonce (see Backend.Delete).
	Nonce       string
	Application string
	Model       string
	Tokenizer   string
	// CreatedAt is the caller's created time, or the stored time when none was given (Put uses
	// StoredAt when CreatedAt is zero); millisecond precision.
	CreatedAt time.Time
	// StoredAt is when the vault stored the conversation; millisecond precision.
	StoredAt time.Time
	Messages int
	// Tokens is the number of tokens per role ("system", "user", "assistant", "tool",
	// "developer").
	Tokens      map[string]int64
	StoredBytes int64
	// Metadata holds the conversation's top-level metadata scalars: strings as they are, numbers
	// and booleans as their JSON text; nested values are omitted.
	Metadata map[string]string
}

// TotalTokens is the sum of Tokens over every role.
func (e Entry) TotalTokens() int64 {
	var n int64
	for _, t := range e.Tokens {
		n += t
	}
	return n
}

// The backend-neutral encoding of an entry, version 1 (what catalog/bolt keeps), in order:
//
//	version          1 byte, 1
//	id, nonce, application, model, tokenizer
//	                 each a uvarint length and the UTF-8 bytes
//	created          uvarint, Unix milliseconds
//	stored           signed varint, milliseconds after created
//	messages, stored bytes
//	                 uvarints
//	tokens           uvarint count, then per role (in role order): the role, then a uvarint
//	metadata         uvarint count, then per key (in key order): key, then value
//
// A role is one byte: its index in knownRoles plus one, or 0 followed by the role as a string.
const encodingVersion = 1

var knownRoles = []string{"system", "user", "assistant", "tool", "developer"}

// MarshalBinary returns the backend-neutral encoding of e (see above); times are kept to the
// millisecond.
func (e Entry) MarshalBinary() ([]byte, error) {
	str := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	b := []byte{encodingVersion}
	for _, s := range []string{e.ID, e.Nonce, e.Application, e.Model, e.Tokenizer} {
		b = str(b, s)
	}
	created := e.CreatedAt.UnixMilli()
	created = max(created, 0)
	b = binary.AppendUvarint(b, uint64(created))
	b = binary.AppendVarint(b, e.StoredAt.UnixMilli()-created)
	b = binary.AppendUvarint(b, uint64(max(e.Messages, 0)))
	b = binary.AppendUvarint(b, uint64(max(e.StoredBytes, 0)))
	b = binary.AppendUvarint(b, uint64(len(e.Tokens)))
	for _, role := range slices.Sorted(maps.Keys(e.Tokens)) {
		if i := slices.Index(knownRoles, role); i >= 0 {
			b = append(b, byte(i+1))
		} else {
			b = str(append(b, 0), role)
		}
		b = binary.AppendUvarint(b, uint64(max(e.Tokens[role], 0)))
	}
	b = binary.AppendUvarint(b, uint64(len(e.Metadata)))
	for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
		b = str(str(b, k), e.Metadata[k])
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded. Times come back in UTC; empty maps as nil.
func (e *Entry) UnmarshalBinary(b []byte) error {
	bad := errors.New("catalog: decoding an entry: truncated or malformed")
	if len(b) == 0 || b[0] != encodingVersion {
		return bad
	}
	b = b[1:]
	ok := true
	num := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b, ok = nil, false
			return 0
		}
		b = b[n:]
		return v
	}
	// count reads the number of items that follow; each takes at least one byte.
	count := func() uint64 {
		n := num()
		if n > uint64(len(b)) {
			ok = false
		}
		return n
	}
	str := func() string {
		n := num()
		if n > uint64(len(b)) {
			ok = false
			return ""
		}
		s := string(b[:n])
		b = b[n:]
		return s
	}
	var x Entry
	for _, f := range []*string{&x.ID, &x.Nonce, &x.Application, &x.Model, &x.Tokenizer} {
		*f = str()
	}
	created := int64(num())
	delta, n := binary.Varint(b)
	if n <= 0 {
		return bad
	}
	b = b[n:]
	x.CreatedAt, x.StoredAt = time.UnixMilli(created).UTC(), time.UnixMilli(created+delta).UTC()
	x.Messages, x.StoredBytes = int(num()), int64(num())
	for i, roles := uint64(0), count(); i < roles && ok; i++ {
		if len(b) == 0 {
			return bad
		}
		code := b[0]
		b = b[1:]
		role := ""
		switch {
		case code == 0:
			role = str()
		case int(code) <= len(knownRoles):
			role = knownRoles[code-1]
		default:
			return bad
		}
		if x.Tokens == nil {
			x.Tokens = map[string]int64{}
		}
		x.Tokens[role] = int64(num())
	}
	for i, keys := uint64(0), count(); i < keys && ok; i++ {
		if x.Metadata == nil {
			x.Metadata = map[string]string{}
		}
		k := str()
		x.Metadata[k] = str()
	}
	if !ok || len(b) != 0 {
		return bad
	}
	*e = x
	return nil
}

// EncodedSize is the size in bytes of e's backend-neutral encoding (MarshalBinary): roughly what
// the catalog holds per entry, before the indexes (each a few dozen bytes plus the ID, and on
// DynamoDB a copy of the item per index).
func (e Entry) EncodedSize() int {
	b, _ := e.MarshalBinary() // never fails
	return len(b)
}

// Query selects entries. Zero fields match everything.
type Query struct {
	Application, Model, Tokenizer string
	// Since and Until bound CreatedAt: Since inclusive, Until exclusive.
	Since, Until time.Time
	// Metadata: every key must have exactly this value.
	Metadata map[string]string
	// Oldest lists oldest first; the default is newest first.
	Oldest bool
	// Limit is the page size: 0 means DefaultLimit; at most MaxLimit.
	Limit int
	// Cursor continues a listing: Page.Next of the previous page; "" for the first page.
	Cursor string
}

// Page is one page of a listing.
type Page struct {
	Entries []Entry
	// Next is the cursor of the next page; "" when there is no more.
	Next string
}

// Backend is a catalog backend. All methods are safe for concurrent use.
type Backend interface {
	// Put inserts the entry for e.ID, or replaces the one there. It is idempotent.
	Put(ctx context.Context, e Entry) error
	// Delete deletes the entry of id only if its Nonce is nonce (an entry with another nonce
	// summarizes a newer stored copy and stays); nonce "" deletes whatever is there. A missing
	// entry is not an error.
	Delete(ctx context.Context, id, nonce string) error
	// Get returns the entry of id, or ErrNotFound.
	Get(ctx context.Context, id string) (Entry, error)
	// List returns the entries matching q, ordered by (CreatedAt, ID), newest first unless
	// q.Oldest. A malformed query is ErrInvalidQuery, a cursor not made for q ErrInvalidCursor.
	List(ctx context.Context, q Query) (Page, error)
	// Close releases the store's resources.
	Close() error
}

// ListAll calls fn for every entry matching q, in List's order, reading page by page (of
// MaxLimit entries); q.Cursor and q.Limit are ignored. It stops at the first error, fn's
// included, and returns it.
func ListAll(ctx context.Context, s Backend, q Query, fn func(Entry) error) error {
	q.Limit, q.Cursor = MaxLimit, ""
	for {
		page, err := s.List(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}
