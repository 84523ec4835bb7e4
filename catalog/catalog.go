// Package catalog keeps a summary of every stored conversation (its id, application, model,
// tokenizer, times, message and token counts, stored size and top-level metadata) and lists the
// summaries with filters, page by page, without reading a single manifest.
//
// The catalog is derived data. The vault puts an entry after it wrote a conversation's pointer
// (for a conversation stored alone, GC does, later: catalog/union lists it meanwhile) and
// deletes it after it deleted the pointer; a crash in between leaves an entry missing or
// stale, never a conversation lost. Everything in it can be rebuilt from the pointers and
// manifests, and it is never the only copy of anything.
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
// # Backends
//
// catalog/parquet (Parquet files in the store's bucket, partitioned by day: what every store
// uses, and what Athena, Glue, Spark and DuckDB read) and catalog/mem (in memory, for tests).
// Each passes catalog/catalogtest, and says what its calls cost. Both are strongly
// consistent.
//
// docs/design.md describes the whole design.
package catalog

import (
	"context"
	"errors"
	"time"
)

// Page sizes of List.
const (
	// DefaultLimit is the page size when Query.Limit is 0.
	DefaultLimit = 100
	// MaxLimit is the largest Query.Limit, ListAll's page size: each page of catalog/parquet
	// LISTs its files and deletions, so that ListAll over 10 million entries makes 1,000 pages
	// (2,000 LISTs; pages of 1,000 would make 20,000, ten minutes of LISTs).
	MaxLimit = 10_000
)

// Limits on an entry; Put rejects an entry beyond them with ErrInvalidEntry.
const (
	// MaxIDBytes is the longest ID, in bytes.
	MaxIDBytes = 512
	// MaxFieldBytes is the longest Application, Model or Tokenizer, in bytes.
	MaxFieldBytes = 1024
	// MaxEntryBytes is the largest Size.
	MaxEntryBytes = 256 << 10
	// MaxSketchBytes is the longest Signature or Vector, in bytes.
	MaxSketchBytes = 8 << 10
)

// Where a catalog kept in the store's bucket (catalog/parquet) keeps its objects, so that the
// vault counts them and no other part of the store writes there.
const (
	// FilePrefix is the prefix of the catalog files: the location of a query engine's table.
	FilePrefix = "catalog/"
	// DeletedPrefix is the prefix of the deletions not yet compacted away.
	DeletedPrefix = "catalog-deleted/"
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
	// ErrCorrupt: what the store holds is not what it writes (an unreadable file).
	ErrCorrupt = errors.New("catalog: stored data is corrupt")
)

// Entry summarizes one stored conversation.
//
// IDs are 1 to MaxIDBytes bytes; Batch, Application, Model and Tokenizer at most
// MaxFieldBytes. Every
// string is valid UTF-8 without NUL bytes; map keys are not empty. Times lie between 1970 and
// the end of year 9999. Counts are not negative.
type Entry struct {
	ID string
	// Nonce is the stored copy's nonce (see Backend.Delete).
	Nonce string
	// Batch is the batch object that held the copy when the entry was written, where an
	// analysis reads it without a pointer read ("" in entries written before it was kept).
	Batch       string
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
	// Signature and Vector are the conversation's sketches (package sketch: its MinHash
	// signature and its int8 embedding vector), at most MaxSketchBytes each, written when the
	// store keeps sketches (vault.Options.Sketches); nil otherwise. A backend keeps them as
	// given and does not read them.
	Signature, Vector []byte
}

// TotalTokens is the sum of Tokens over every role.
func (e Entry) TotalTokens() int64 {
	var n int64
	for _, t := range e.Tokens {
		n += t
	}
	return n
}

// Size is about the bytes e takes in a catalog: its strings, and 8 bytes per number.
func (e Entry) Size() int {
	n := len(e.ID) + len(e.Nonce) + len(e.Batch) + len(e.Application) + len(e.Model) + len(e.Tokenizer) + 4*8
	for role := range e.Tokens {
		n += len(role) + 8
	}
	for k, v := range e.Metadata {
		n += len(k) + len(v)
	}
	return n + len(e.Signature) + len(e.Vector)
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
//
// An entry summarizes one stored copy of a conversation: it is identified by its ID and
// Nonce, and never changes. The vault deletes a copy's entry before it puts the entry of
// another copy of the same ID; a backend that finds two copies' entries of one ID may keep
// both (catalog/parquet) or the one put last (catalog/mem).
type Backend interface {
	// Put adds the entries; putting an entry that is there (same ID and Nonce) again is a
	// retry and leaves one. An invalid entry fails the call with ErrInvalidEntry, and then
	// none is added.
	Put(ctx context.Context, entries ...Entry) error
	// Delete deletes the entry of e.ID whose Nonce is e.Nonce (an entry with another nonce
	// summarizes another stored copy and stays), for good: a later Put of that copy's entry
	// (from a Store that found the copy before it was deleted) adds nothing. e.CreatedAt (or
	// e.StoredAt when it is zero) must be the entry's: it tells a backend where to find it.
	// A missing entry is not an error.
	Delete(ctx context.Context, e Entry) error
	// Get returns the entry of id, or ErrNotFound.
	Get(ctx context.Context, id string) (Entry, error)
	// List returns the entries matching q, ordered by (CreatedAt, ID), newest first unless
	// q.Oldest. A malformed query is ErrInvalidQuery, a cursor not made for q ErrInvalidCursor.
	List(ctx context.Context, q Query) (Page, error)
	// Close releases the store's resources.
	Close() error
}

// Compactor is a Backend whose storage GC compacts: it merges small files and rewrites those
// that hold deleted entries, so that a deleted entry leaves the store (catalog/parquet).
type Compactor interface {
	Compact(ctx context.Context, opts CompactOptions) (CompactResult, error)
	// Deletions returns how many deleted entries the store still holds, until a compaction
	// erases them, and when the oldest was deleted (zero when none is held).
	Deletions(ctx context.Context) (n int, oldest time.Time, err error)
}

// CompactOptions bound a compaction.
type CompactOptions struct {
	// Deadline is when the compaction stops writing (zero: never).
	Deadline time.Time
	// Settle is how old a deletion must be for the compaction to forget it, once applied:
	// at least the longest compaction and the longest write of an entry.
	Settle time.Duration
	// Fill, when set, is given the entries of every file of every day (those deleted left
	// out), and may set their fields, but not ID, Nonce or CreatedAt, and not change the
	// maps and slices they hold (they may be shared with a cache); a file whose
	// entries Fill changed (it reports so) is written again, as a compaction writes one. The
	// vault fills in sketches this way (vault.Sketch).
	Fill func(ctx context.Context, entries []Entry) (changed bool, err error)
}

// CompactResult is what a compaction did.
type CompactResult struct {
	FilesRead    int `json:"files_read"`
	FilesWritten int `json:"files_written"`
	FilesDeleted int `json:"files_deleted"`
	// RowsErased is how many deleted entries were dropped from the files.
	RowsErased int `json:"rows_erased"`
	// TombstonesDeleted and TombstonesKept are the deletions forgotten, and those kept
	// because they are younger than CompactOptions.Settle.
	TombstonesDeleted int `json:"tombstones_deleted"`
	TombstonesKept    int `json:"tombstones_kept"`
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
