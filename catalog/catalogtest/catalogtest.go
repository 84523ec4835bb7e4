// Package catalogtest is the conformance suite every catalog.Backend implementation must pass.
//
// Run checks that a store keeps every field of an entry to the millisecond, puts and deletes
// (by nonce) exactly as catalog.Backend says, lists in (CreatedAt, ID) order in both directions
// with every filter alone and combined, pages through everything exactly once with cursors,
// also while entries are put and deleted between pages, and rejects bad entries, queries and
// cursors with the package's sentinel errors.
//
// Every subtest gets a store of its own from newStore, which must be empty (catalog/parquet
// gets a bucket of its own), so that the suite can assert whole listings.
// All times are fixed, so a failure repeats.
package catalogtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
)

// Run runs the conformance suite. newStore is called once per subtest (subtests run in
// parallel) and must return a ready, empty store; Run closes it when the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, newStore) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore) })
	t.Run("Order", func(t *testing.T) { testOrder(t, newStore) })
	t.Run("Filters", func(t *testing.T) { testFilters(t, newStore) })
	t.Run("TimeBounds", func(t *testing.T) { testTimeBounds(t, newStore) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, newStore) })
	t.Run("PagingWhileChanging", func(t *testing.T) { testPagingWhileChanging(t, newStore) })
	t.Run("LargeListing", func(t *testing.T) { testLargeListing(t, newStore) })
	t.Run("InvalidCursor", func(t *testing.T) { testInvalidCursor(t, newStore) })
	t.Run("InvalidQuery", func(t *testing.T) { testInvalidQuery(t, newStore) })
	t.Run("InvalidEntry", func(t *testing.T) { testInvalidEntry(t, newStore) })
	t.Run("ListAll", func(t *testing.T) { testListAll(t, newStore) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, newStore) })
}

// t0 is the suite's reference time.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is one subtest's store.
type fixture struct {
	t   *testing.T
	s   catalog.Backend
	ctx context.Context
}

func setup(t *testing.T, newStore func(t *testing.T) catalog.Backend) *fixture {
	t.Helper()
	t.Parallel()
	s := newStore(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &fixture{t: t, s: s, ctx: t.Context()}
}

func (f *fixture) put(entries ...catalog.Entry) {
	f.t.Helper()
	for _, e := range entries {
		if err := f.s.Put(f.ctx, e); err != nil {
			f.t.Fatalf("Put(%s): %v", e.ID, err)
		}
	}
}

// putMany puts the entries with a few concurrent writers.
func (f *fixture) putMany(entries []catalog.Entry) {
	f.t.Helper()
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(entries) && errs[w] == nil; i += writers {
				errs[w] = f.s.Put(f.ctx, entries[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.t.Fatalf("Put: %v", err)
	}
}

func (f *fixture) get(id string) catalog.Entry {
	f.t.Helper()
	e, err := f.s.Get(f.ctx, id)
	if err != nil {
		f.t.Fatalf("Get(%s): %v", id, err)
	}
	return e
}

func (f *fixture) wantAbsent(id string) {
	f.t.Helper()
	if e, err := f.s.Get(f.ctx, id); !errors.Is(err, catalog.ErrNotFound) {
		f.t.Fatalf("Get(%s) = %s, %v; want ErrNotFound", id, fmtEntry(e), err)
	}
}

func (f *fixture) delete(e catalog.Entry) {
	f.t.Helper()
	if err := f.s.Delete(f.ctx, e); err != nil {
		f.t.Fatalf("Delete(%s, %q): %v", e.ID, e.Nonce, err)
	}
}

func (f *fixture) list(q catalog.Query) catalog.Page {
	f.t.Helper()
	p, err := f.s.List(f.ctx, q)
	if err != nil {
		f.t.Fatalf("List(%s): %v", fmtQuery(q), err)
	}
	return p
}

// listIDs pages through q with its Limit and returns the ids in order, checking every page.
func (f *fixture) listIDs(q catalog.Query) []string {
	f.t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 10000 {
			f.t.Fatalf("List(%s): more than 10000 pages", fmtQuery(q))
		}
		p := f.list(q)
		limit := q.Limit
		if limit == 0 {
			limit = catalog.DefaultLimit
		}
		if len(p.Entries) > limit {
			f.t.Fatalf("List(%s): %d entries on a page of %d", fmtQuery(q), len(p.Entries), limit)
		}
		if p.Next != "" && len(p.Entries) < limit {
			f.t.Fatalf("List(%s): a page of %d entries (limit %d) with a next page", fmtQuery(q), len(p.Entries), limit)
		}
		if len(p.Entries) == 0 && pages > 0 {
			f.t.Fatalf("List(%s): an empty page after a cursor", fmtQuery(q))
		}
		ids = append(ids, idsOf(p.Entries)...)
		if p.Next == "" {
			return ids
		}
		q.Cursor = p.Next
	}
}

// wantIDs checks that listing q (page by page with q.Limit) gives exactly want, in order.
func (f *fixture) wantIDs(q catalog.Query, want ...string) {
	f.t.Helper()
	if got := f.listIDs(q); !slices.Equal(got, want) {
		f.t.Fatalf("List(%s) = %q\nwant %q", fmtQuery(q), got, want)
	}
}

func idsOf(es []catalog.Entry) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func reversed(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// sameEntry compares every field; times exactly and in UTC, empty maps equal to nil.
func sameEntry(a, b catalog.Entry) bool {
	return a.ID == b.ID && a.Nonce == b.Nonce && a.Batch == b.Batch && a.Application == b.Application && a.Model == b.Model &&
		a.Tokenizer == b.Tokenizer && a.CreatedAt.Equal(b.CreatedAt) && a.StoredAt.Equal(b.StoredAt) &&
		a.CreatedAt.Location() == b.CreatedAt.Location() && a.StoredAt.Location() == b.StoredAt.Location() &&
		a.Messages == b.Messages && maps.Equal(a.Tokens, b.Tokens) && a.StoredBytes == b.StoredBytes &&
		maps.Equal(a.Metadata, b.Metadata) && bytes.Equal(a.Signature, b.Signature) && bytes.Equal(a.Vector, b.Vector)
}

func fmtEntry(e catalog.Entry) string {
	return fmt.Sprintf("{id=%q nonce=%q batch=%q app=%q model=%q tok=%q created=%s stored=%s msgs=%d tokens=%v bytes=%d meta=%v signature=%x vector=%x}",
		e.ID, e.Nonce, e.Batch, e.Application, e.Model, e.Tokenizer, e.CreatedAt.Format(time.RFC3339Nano),
		e.StoredAt.Format(time.RFC3339Nano), e.Messages, e.Tokens, e.StoredBytes, e.Metadata, e.Signature, e.Vector)
}

func fmtQuery(q catalog.Query) string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	add("app", q.Application)
	add("model", q.Model)
	add("tok", q.Tokenizer)
	if !q.Since.IsZero() {
		add("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		add("until", q.Until.Format(time.RFC3339Nano))
	}
	if len(q.Metadata) > 0 {
		add("meta", fmt.Sprint(q.Metadata))
	}
	if q.Oldest {
		add("order", "oldest")
	}
	if q.Limit != 0 {
		add("limit", fmt.Sprint(q.Limit))
	}
	if q.Cursor != "" {
		add("cursor", "…")
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// at returns an entry created at t0+d with the given fields.
func at(id string, d time.Duration, app, model, tok string, meta map[string]string) catalog.Entry {
	return catalog.Entry{
		ID: id, Nonce: "n-" + id, Application: app, Model: model, Tokenizer: tok,
		CreatedAt: t0.Add(d), StoredAt: t0.Add(d + time.Hour),
		Messages: 2, Tokens: map[string]int64{"user": 3, "assistant": 4}, StoredBytes: 100,
		Metadata: meta,
	}
}

func testRoundTrip(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	full := catalog.Entry{
		ID:          "conv/1 ünïcode ✓",
		Nonce:       "0123456789abcdef",
		Batch:       "b-0123456789abcdef01234567",
		Application: "support-bot",
		Model:       "gpt-4o-2024-08-06",
		Tokenizer:   "o200k_base",
		CreatedAt:   t0.Add(1234567 * time.Nanosecond).In(zone),        // 1.234567 ms: kept as 1 ms
		StoredAt:    t0.Add(5*time.Second + 999999999*time.Nanosecond), // 5.999999999 s: kept as 5.999 s
		Messages:    7,
		Tokens:      map[string]int64{"system": 10, "user": 20, "assistant": 30, "tool": 4, "developer": 5_000_000_000},
		StoredBytes: 1 << 40,
		Metadata: map[string]string{
			"env": "prod", "n": "42", "flag": "true", "dotted.key": "a b", "#hash": ":colon", "empty": "",
			"ключ": "значение",
		},
		Signature: bytes.Repeat([]byte{0, 1, 0xff}, 172), // a backend keeps any bytes
		Vector:    []byte{0x80, 0, 7},
	}
	minimal := catalog.Entry{ID: "minimal", StoredAt: t0.Add(-time.Hour)} // no CreatedAt: StoredAt
	emptyMaps := catalog.Entry{ID: "empty-maps", CreatedAt: t0, StoredAt: t0,
		Tokens: map[string]int64{}, Metadata: map[string]string{}}
	f.put(full, minimal, emptyMaps)

	wantFull := full
	wantFull.CreatedAt = t0.Add(time.Millisecond)
	wantFull.StoredAt = t0.Add(5*time.Second + 999*time.Millisecond)
	wantFull.Tokens = maps.Clone(full.Tokens)
	wantFull.Metadata = maps.Clone(full.Metadata)
	wantFull.Signature = bytes.Clone(full.Signature)
	wantFull.Vector = bytes.Clone(full.Vector)
	wantMinimal := minimal
	wantMinimal.CreatedAt = minimal.StoredAt
	for _, want := range []catalog.Entry{wantFull, wantMinimal, emptyMaps} {
		if got := f.get(want.ID); !sameEntry(got, want) {
			t.Errorf("Get(%s) = %s\nwant %s", want.ID, fmtEntry(got), fmtEntry(want))
		}
	}
	if got := f.get("empty-maps"); len(got.Tokens) != 0 || len(got.Metadata) != 0 {
		t.Errorf("empty maps came back as %v, %v", got.Tokens, got.Metadata)
	}
	if got := f.get(full.ID).TotalTokens(); got != 5_000_000_064 {
		t.Errorf("TotalTokens = %d", got)
	}

	// Listed entries carry every field too.
	page := f.list(catalog.Query{})
	if len(page.Entries) != 3 || page.Next != "" {
		t.Fatalf("List = %q, next %q; want 3 entries", idsOf(page.Entries), page.Next)
	}
	if !sameEntry(page.Entries[0], wantFull) {
		t.Errorf("listed %s\nwant %s", fmtEntry(page.Entries[0]), fmtEntry(wantFull))
	}

	// The store keeps its own copies: changing what was put or what was returned changes nothing.
	full.Metadata["env"] = "changed"
	full.Tokens["user"] = -1
	full.Signature[0] = 9
	got := f.get(full.ID)
	got.Metadata["env"] = "changed too"
	got.Vector[0] = 9
	page.Entries[0].Tokens["user"] = -2
	page.Entries[0].Signature[1] = 9
	if got := f.get(full.ID); !sameEntry(got, wantFull) {
		t.Errorf("after changing the caller's maps, Get = %s\nwant %s", fmtEntry(got), fmtEntry(wantFull))
	}

	f.wantAbsent("never-put")
	f.wantAbsent("CONV/1 ünïcode ✓") // ids are case-sensitive
}

func testReplace(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	first := at("conv", time.Minute, "app-a", "model-a", "tok-a", map[string]string{"k": "1"})
	second := at("conv", 2*time.Hour, "app-b", "model-b", "tok-b", map[string]string{"k": "2", "other": "x"})
	second.Nonce, second.Messages = "n-second", 9
	other := at("other", 30*time.Minute, "app-a", "model-a", "tok-a", nil)
	f.put(first, other)
	// Another copy of conv: its entry replaces the first copy's, deleted first.
	f.delete(first)
	f.put(second)
	f.put(second) // a retry

	if got := f.get("conv"); !sameEntry(got, second) {
		t.Fatalf("Get after replacing = %s\nwant %s", fmtEntry(got), fmtEntry(second))
	}
	// The old entry's positions are gone; the new ones are there, once.
	f.wantIDs(catalog.Query{}, "conv", "other")
	f.wantIDs(catalog.Query{Oldest: true}, "other", "conv")
	f.wantIDs(catalog.Query{Application: "app-a"}, "other")
	f.wantIDs(catalog.Query{Application: "app-b"}, "conv")
	f.wantIDs(catalog.Query{Model: "model-a"}, "other")
	f.wantIDs(catalog.Query{Model: "model-b"}, "conv")
	f.wantIDs(catalog.Query{Tokenizer: "tok-a"}, "other")
	f.wantIDs(catalog.Query{Metadata: map[string]string{"k": "1"}})
	f.wantIDs(catalog.Query{Metadata: map[string]string{"k": "2"}}, "conv")
	f.wantIDs(catalog.Query{Until: t0.Add(time.Hour)}, "other")

	// A copy without application or model is not listed under them.
	bare := second
	bare.Application, bare.Model, bare.Nonce = "", "", "n-bare"
	f.delete(second)
	f.put(bare)
	f.wantIDs(catalog.Query{Application: "app-b"})
	f.wantIDs(catalog.Query{Model: "model-b"})
	f.wantIDs(catalog.Query{}, "conv", "other")

	// Entries put together are put all or none.
	bad := at("", 0, "", "", "", nil)
	if err := f.s.Put(f.ctx, at("batch-a", 0, "", "", "", nil), bad); !errors.Is(err, catalog.ErrInvalidEntry) {
		t.Fatalf("Put of a valid and an invalid entry: %v; want ErrInvalidEntry", err)
	}
	f.wantAbsent("batch-a")
	f.put(at("batch-a", 0, "", "", "", nil), at("batch-b", 48*time.Hour, "", "", "", nil))
	f.wantIDs(catalog.Query{}, "batch-b", "conv", "other", "batch-a")
}

func testDelete(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	tests := []struct {
		name   string
		nonce  string
		remove bool
	}{
		{"MatchingNonce", "n-conv", true},
		{"OtherNonce", "n-older-copy", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, newStore)
			e := at("conv", time.Minute, "app", "model", "tok", map[string]string{"k": "v"})
			keep := at("keep", 2*time.Minute, "app", "model", "tok", nil)
			f.put(e, keep)
			del := e
			del.Nonce = tc.nonce
			f.delete(del)
			f.delete(del) // idempotent
			if !tc.remove {
				if got := f.get("conv"); !sameEntry(got, e) {
					t.Fatalf("Get after Delete with another nonce = %s\nwant %s", fmtEntry(got), fmtEntry(e))
				}
				f.wantIDs(catalog.Query{Application: "app"}, "keep", "conv")
				return
			}
			f.wantAbsent("conv")
			for _, q := range []catalog.Query{{}, {Application: "app"}, {Model: "model"}, {Tokenizer: "tok"}, {Oldest: true}} {
				f.wantIDs(q, "keep")
			}
			f.wantIDs(catalog.Query{Metadata: map[string]string{"k": "v"}})
			// A deleted copy stays deleted; another copy of the id is listed.
			f.put(e)
			f.wantIDs(catalog.Query{Model: "model"}, "keep")
			again := e
			again.Nonce = "n-again"
			f.put(again)
			f.wantIDs(catalog.Query{Model: "model"}, "keep", "conv")
		})
	}
	t.Run("Missing", func(t *testing.T) {
		f := setup(t, newStore)
		f.delete(at("never-put", 0, "", "", "", nil))
		f.wantAbsent("never-put")
		f.wantIDs(catalog.Query{})
	})
}

func testOrder(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	// Three entries share one millisecond: ID breaks the tie, bytewise ("B" < "b" < "c").
	f.put(
		at("b", 2*time.Second, "", "", "", nil),
		at("a", time.Second, "", "", "", nil),
		at("e", -time.Hour, "", "", "", nil),
		at("c", 2*time.Second, "", "", "", nil),
		at("f", time.Millisecond, "", "", "", nil),
		at("B", 2*time.Second, "", "", "", nil),
		at("g", 2*time.Second+500*time.Microsecond, "", "", "", nil), // the same millisecond as b
	)
	oldest := []string{"e", "f", "a", "B", "b", "c", "g"}
	for _, limit := range []int{0, 1, 2, 3, 7} {
		f.wantIDs(catalog.Query{Oldest: true, Limit: limit}, oldest...)
		f.wantIDs(catalog.Query{Limit: limit}, reversed(oldest)...)
	}
}

// filterSet is the data set of testFilters: entries f1..f6, a minute apart.
func filterSet() []catalog.Entry {
	return []catalog.Entry{
		at("f1", 1*time.Minute, "chat", "gpt-4o", "o200k", map[string]string{"env": "prod", "team": "a"}),
		at("f2", 2*time.Minute, "chat", "claude", "claude-tok", map[string]string{"env": "dev"}),
		at("f3", 3*time.Minute, "search", "gpt-4o", "o200k", map[string]string{"env": "prod", "team": "b"}),
		at("f4", 4*time.Minute, "search", "claude", "cl100k", map[string]string{"env": "prod", "team": "a"}),
		at("f5", 5*time.Minute, "", "gpt-4o", "cl100k", nil),
		at("f6", 6*time.Minute, "chat", "", "", map[string]string{"env": "prod", "team": "a", "odd.key #x": "v w"}),
	}
}

func testFilters(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	f.put(filterSet()...)
	meta := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		q    catalog.Query
		want []string // newest first
	}{
		{"All", catalog.Query{}, []string{"f6", "f5", "f4", "f3", "f2", "f1"}},
		{"Application", catalog.Query{Application: "chat"}, []string{"f6", "f2", "f1"}},
		{"OtherApplication", catalog.Query{Application: "search"}, []string{"f4", "f3"}},
		{"UnknownApplication", catalog.Query{Application: "nope"}, nil},
		{"ApplicationIsExact", catalog.Query{Application: "cha"}, nil},
		{"Model", catalog.Query{Model: "gpt-4o"}, []string{"f5", "f3", "f1"}},
		{"OtherModel", catalog.Query{Model: "claude"}, []string{"f4", "f2"}},
		{"Tokenizer", catalog.Query{Tokenizer: "o200k"}, []string{"f3", "f1"}},
		{"Metadata", catalog.Query{Metadata: meta("env", "prod")}, []string{"f6", "f4", "f3", "f1"}},
		{"MetadataTwoKeys", catalog.Query{Metadata: meta("env", "prod", "team", "a")}, []string{"f6", "f4", "f1"}},
		{"MetadataNoMatch", catalog.Query{Metadata: meta("team", "c")}, nil},
		{"MetadataIsCaseSensitive", catalog.Query{Metadata: meta("env", "PROD")}, nil},
		{"MetadataOddKey", catalog.Query{Metadata: meta("odd.key #x", "v w")}, []string{"f6"}},
		{"MetadataMissingKey", catalog.Query{Metadata: meta("absent", "")}, nil},
		{"ApplicationAndModel", catalog.Query{Application: "chat", Model: "gpt-4o"}, []string{"f1"}},
		{"ApplicationAndTokenizer", catalog.Query{Application: "search", Tokenizer: "cl100k"}, []string{"f4"}},
		{"ModelAndTokenizer", catalog.Query{Model: "gpt-4o", Tokenizer: "cl100k"}, []string{"f5"}},
		{"ApplicationAndMetadata", catalog.Query{Application: "chat", Metadata: meta("team", "a")}, []string{"f6", "f1"}},
		{"ModelAndMetadata", catalog.Query{Model: "claude", Metadata: meta("env", "dev")}, []string{"f2"}},
		{"TimeRange", catalog.Query{Since: t0.Add(2 * time.Minute), Until: t0.Add(5 * time.Minute)}, []string{"f4", "f3", "f2"}},
		{"ModelSince", catalog.Query{Model: "gpt-4o", Since: t0.Add(3 * time.Minute)}, []string{"f5", "f3"}},
		{"ApplicationUntil", catalog.Query{Application: "chat", Until: t0.Add(6 * time.Minute)}, []string{"f2", "f1"}},
		{"Everything", catalog.Query{Application: "chat", Model: "gpt-4o", Tokenizer: "o200k", Metadata: meta("env", "prod"),
			Since: t0.Add(time.Minute), Until: t0.Add(2 * time.Minute)}, []string{"f1"}},
		{"EverythingButOne", catalog.Query{Application: "chat", Model: "gpt-4o", Tokenizer: "o200k", Metadata: meta("env", "dev")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fixture{t: t, s: f.s, ctx: f.ctx}
			for _, limit := range []int{0, 1} {
				q := tc.q
				q.Limit = limit
				f.wantIDs(q, tc.want...)
				q.Oldest = true
				f.wantIDs(q, reversed(tc.want)...)
			}
		})
	}
}

func testTimeBounds(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	t1 := t0.Add(time.Hour)
	f.put(
		at("before", -time.Millisecond, "", "", "", nil),
		at("at-t0", 0, "", "", "", nil),
		at("after-t0", time.Millisecond, "", "", "", nil),
		at("before-t1", time.Hour-time.Millisecond, "", "", "", nil),
		at("at-t1", time.Hour, "", "", "", nil),
	)
	ns := time.Nanosecond
	tests := []struct {
		name         string
		since, until time.Time
		want         []string // oldest first
	}{
		{"SinceIsInclusive", t0, time.Time{}, []string{"at-t0", "after-t0", "before-t1", "at-t1"}},
		{"SinceJustAfter", t0.Add(ns), time.Time{}, []string{"after-t0", "before-t1", "at-t1"}},
		{"SinceJustBefore", t0.Add(-ns), time.Time{}, []string{"at-t0", "after-t0", "before-t1", "at-t1"}},
		{"UntilIsExclusive", time.Time{}, t1, []string{"before", "at-t0", "after-t0", "before-t1"}},
		{"UntilJustAfter", time.Time{}, t1.Add(ns), []string{"before", "at-t0", "after-t0", "before-t1", "at-t1"}},
		{"UntilJustBefore", time.Time{}, t1.Add(-ns), []string{"before", "at-t0", "after-t0", "before-t1"}},
		{"Both", t0, t1, []string{"at-t0", "after-t0", "before-t1"}},
		{"OneMillisecond", t0, t0.Add(time.Millisecond), []string{"at-t0"}},
		{"SinceEqualsUntil", t0, t0, nil},
		{"FarPast", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), t0, []string{"before"}},
		{"FarFuture", t1, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), []string{"at-t1"}},
		{"BeyondTheRange", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, nil},
		{"OtherZone", t0.In(time.FixedZone("", -7*3600)), t0.Add(time.Millisecond).In(time.FixedZone("", 3600)), []string{"at-t0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fixture{t: t, s: f.s, ctx: f.ctx}
			f.wantIDs(catalog.Query{Since: tc.since, Until: tc.until, Oldest: true}, tc.want...)
			f.wantIDs(catalog.Query{Since: tc.since, Until: tc.until, Limit: 1}, reversed(tc.want)...)
		})
	}
}

// pagingSet is 23 entries, three per second, with ids that do not follow their times.
func pagingSet() []catalog.Entry {
	var es []catalog.Entry
	for i := range 23 {
		id := fmt.Sprintf("p%02d", (i*7)%23)
		app, model := "x", "m1"
		if i%2 == 1 {
			app = "y"
		}
		if i%3 == 0 {
			model = "m2"
		}
		var meta map[string]string
		if i%4 != 0 {
			meta = map[string]string{"k": "v"}
		}
		es = append(es, at(id, time.Duration(i/3)*time.Second, app, model, "tok-"+model, meta))
	}
	return es
}

// expected returns the ids of the entries matching q, in q's order, computed here without a
// store: (CreatedAt, ID) ascending, reversed for newest first.
func expected(es []catalog.Entry, q catalog.Query) []string {
	var out []catalog.Entry
	for _, e := range es {
		ok := (q.Application == "" || e.Application == q.Application) && (q.Model == "" || e.Model == q.Model) &&
			(q.Tokenizer == "" || e.Tokenizer == q.Tokenizer) &&
			(q.Since.IsZero() || !e.CreatedAt.Before(q.Since)) && (q.Until.IsZero() || e.CreatedAt.Before(q.Until))
		for k, v := range q.Metadata {
			if got, has := e.Metadata[k]; !has || got != v {
				ok = false
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b catalog.Entry) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	ids := idsOf(out)
	if !q.Oldest {
		slices.Reverse(ids)
	}
	return ids
}

func testPaging(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	set := pagingSet()
	f.put(set...)
	tests := []struct {
		name string
		q    catalog.Query
	}{
		{"All", catalog.Query{}},
		{"Application", catalog.Query{Application: "x"}},
		{"Model", catalog.Query{Model: "m1"}},
		{"Tokenizer", catalog.Query{Tokenizer: "tok-m2"}},
		{"Metadata", catalog.Query{Metadata: map[string]string{"k": "v"}}},
		{"AppAndModel", catalog.Query{Application: "y", Model: "m2"}},
		{"TimeRange", catalog.Query{Since: t0.Add(2 * time.Second), Until: t0.Add(6 * time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			f := &fixture{t: t, s: f.s, ctx: f.ctx}
			for _, oldest := range []bool{false, true} {
				q.Oldest = oldest
				want := expected(set, q)
				if tc.name == "All" && len(want) != 23 {
					t.Fatalf("the data set has %d entries", len(want))
				}
				for _, limit := range []int{1, 2, 5, len(want), len(want) + 1, catalog.MaxLimit} {
					q.Limit = limit
					f.wantIDs(q, want...)
				}
			}
		})
	}

	// A page exactly as large as what is left has no next page.
	p := f.list(catalog.Query{Limit: 23})
	if len(p.Entries) != 23 || p.Next != "" {
		t.Fatalf("List(limit 23) of 23 entries: %d entries, next %q; want 23 and no next page", len(p.Entries), p.Next)
	}
	// The page size may change between pages.
	p = f.list(catalog.Query{Limit: 3})
	rest := f.listIDs(catalog.Query{Limit: 7, Cursor: p.Next})
	if got, want := append(idsOf(p.Entries), rest...), expected(set, catalog.Query{}); !slices.Equal(got, want) {
		t.Fatalf("pages of 3 then 7 = %q\nwant %q", got, want)
	}
}

func testPagingWhileChanging(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	// w00..w19 are created at 0..19 s. After the first page of 5, entries are put, replaced
	// and deleted both ahead of the cursor (still to be listed) and behind it (already passed).
	type change struct {
		ahead, behind   time.Duration // where new-ahead and new-behind are created
		deleteAhead     string
		deleteSeen      string
		moveBehind      string // replaced with a CreatedAt behind the cursor: not listed again
		replaceInPlace  string // replaced at the same position: listed once
		first, wantRest []string
	}
	ws := func(ids ...int) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = fmt.Sprintf("w%02d", id)
		}
		return out
	}
	newestFirst := change{
		ahead: 2500 * time.Millisecond, behind: 30 * time.Second,
		deleteAhead: "w10", deleteSeen: "w17", moveBehind: "w12", replaceInPlace: "w03",
		first:    ws(19, 18, 17, 16, 15),
		wantRest: append(append(ws(14, 13, 11, 9, 8, 7, 6, 5, 4, 3), "new-ahead"), ws(2, 1, 0)...),
	}
	oldestFirst := change{
		ahead: 17500 * time.Millisecond, behind: -30 * time.Second,
		deleteAhead: "w10", deleteSeen: "w02", moveBehind: "w12", replaceInPlace: "w16",
		first:    ws(0, 1, 2, 3, 4),
		wantRest: append(append(ws(5, 6, 7, 8, 9, 11, 13, 14, 15, 16, 17), "new-ahead"), ws(18, 19)...),
	}
	for _, oldest := range []bool{false, true} {
		c := newestFirst
		if oldest {
			c = oldestFirst
		}
		for _, app := range []string{"", "x"} { // walks all entries, then the application's
			t.Run(fmt.Sprintf("Oldest=%v,Application=%q", oldest, app), func(t *testing.T) {
				f := setup(t, newStore)
				set := map[string]catalog.Entry{}
				for i := range 20 {
					e := at(fmt.Sprintf("w%02d", i), time.Duration(i)*time.Second, "x", "m", "tok", nil)
					set[e.ID] = e
					f.put(e)
				}
				q := catalog.Query{Application: app, Oldest: oldest, Limit: 5}
				first := f.list(q)
				if got := idsOf(first.Entries); !slices.Equal(got, c.first) || first.Next == "" {
					t.Fatalf("first page %q, next %q; want %q and a next page", got, first.Next, c.first)
				}

				// Another copy moves behind the cursor, another stays in place.
				moved := set[c.moveBehind]
				moved.CreatedAt, moved.Nonce = t0.Add(c.behind+time.Second), "n-moved"
				replaced := set[c.replaceInPlace]
				replaced.Nonce, replaced.Messages = "n-replaced", 99
				f.delete(set[c.moveBehind])
				f.delete(set[c.replaceInPlace])
				f.put(
					at("new-ahead", c.ahead, "x", "m", "tok", nil),
					at("new-behind", c.behind, "x", "m", "tok", nil),
					moved, replaced,
				)
				f.delete(set[c.deleteAhead])
				f.delete(set[c.deleteSeen])

				q.Cursor = first.Next
				f.wantIDs(q, c.wantRest...)
				// A page size that differs from the first page's changes nothing.
				q.Limit = 3
				f.wantIDs(q, c.wantRest...)
			})
		}
	}
}

func testLargeListing(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	n := catalog.MaxLimit + 1
	set := make([]catalog.Entry, n)
	for i := range set {
		set[i] = at(fmt.Sprintf("l%04d", i), time.Duration(i/2)*time.Millisecond, "app", "", "", nil)
	}
	f.putMany(set)
	want := expected(set, catalog.Query{})

	p := f.list(catalog.Query{})
	if len(p.Entries) != catalog.DefaultLimit || p.Next == "" || !slices.Equal(idsOf(p.Entries), want[:catalog.DefaultLimit]) {
		t.Fatalf("List with the default limit: %d entries, next %q; want the newest %d and a next page", len(p.Entries), p.Next, catalog.DefaultLimit)
	}
	p = f.list(catalog.Query{Limit: catalog.MaxLimit, Application: "app"})
	if len(p.Entries) != catalog.MaxLimit || p.Next == "" || !slices.Equal(idsOf(p.Entries), want[:catalog.MaxLimit]) {
		t.Fatalf("List with MaxLimit: %d entries, next %q", len(p.Entries), p.Next)
	}
	var got []string
	if err := catalog.ListAll(f.ctx, f.s, catalog.Query{}, func(e catalog.Entry) error {
		got = append(got, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ListAll over %d entries: %d ids, first difference at %d", n, len(got), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testInvalidCursor(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	f.put(filterSet()...)
	base := catalog.Query{Limit: 1, Metadata: map[string]string{"env": "prod"}}
	c := f.list(base).Next
	if c == "" {
		t.Fatal("no cursor")
	}
	b64 := base64.RawURLEncoding.EncodeToString
	with := func(change func(*catalog.Query)) catalog.Query {
		q := base
		q.Metadata = maps.Clone(base.Metadata)
		q.Cursor = c
		change(&q)
		return q
	}
	tests := []struct {
		name string
		q    catalog.Query
		want error
	}{
		{"Valid", with(func(*catalog.Query) {}), nil},
		{"OtherLimit", with(func(q *catalog.Query) { q.Limit = 3 }), nil},
		{"Garbage", with(func(q *catalog.Query) { q.Cursor = "not a cursor!" }), catalog.ErrInvalidCursor},
		{"Base64OfGarbage", with(func(q *catalog.Query) { q.Cursor = b64([]byte("garbage")) }), catalog.ErrInvalidCursor},
		{"EmptyObject", with(func(q *catalog.Query) { q.Cursor = b64([]byte("{}")) }), catalog.ErrInvalidCursor},
		{"Truncated", with(func(q *catalog.Query) { q.Cursor = c[:len(c)/2] }), catalog.ErrInvalidCursor},
		{"OtherOrder", with(func(q *catalog.Query) { q.Oldest = true }), catalog.ErrInvalidCursor},
		{"OtherApplication", with(func(q *catalog.Query) { q.Application = "chat" }), catalog.ErrInvalidCursor},
		{"OtherModel", with(func(q *catalog.Query) { q.Model = "gpt-4o" }), catalog.ErrInvalidCursor},
		{"OtherTokenizer", with(func(q *catalog.Query) { q.Tokenizer = "o200k" }), catalog.ErrInvalidCursor},
		{"OtherMetadata", with(func(q *catalog.Query) { q.Metadata["env"] = "dev" }), catalog.ErrInvalidCursor},
		{"MoreMetadata", with(func(q *catalog.Query) { q.Metadata["team"] = "a" }), catalog.ErrInvalidCursor},
		{"OtherSince", with(func(q *catalog.Query) { q.Since = t0 }), catalog.ErrInvalidCursor},
		{"OtherUntil", with(func(q *catalog.Query) { q.Until = t0.Add(time.Hour) }), catalog.ErrInvalidCursor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.List(f.ctx, tc.q)
			wantErr(t, "List("+fmtQuery(tc.q)+")", err, tc.want)
		})
	}
}

func testInvalidQuery(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	f.put(filterSet()...)
	tests := []struct {
		name string
		q    catalog.Query
		want error
	}{
		{"NegativeLimit", catalog.Query{Limit: -1}, catalog.ErrInvalidQuery},
		{"LimitAboveMax", catalog.Query{Limit: catalog.MaxLimit + 1}, catalog.ErrInvalidQuery},
		{"SinceAfterUntil", catalog.Query{Since: t0.Add(time.Millisecond), Until: t0}, catalog.ErrInvalidQuery},
		{"SinceAfterUntilByANanosecond", catalog.Query{Since: t0.Add(time.Nanosecond), Until: t0}, catalog.ErrInvalidQuery},
		{"EmptyMetadataKey", catalog.Query{Metadata: map[string]string{"": "x"}}, catalog.ErrInvalidQuery},
		{"MaxLimit", catalog.Query{Limit: catalog.MaxLimit}, nil},
		{"SinceEqualsUntil", catalog.Query{Since: t0, Until: t0}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.List(f.ctx, tc.q)
			wantErr(t, "List("+fmtQuery(tc.q)+")", err, tc.want)
		})
	}
}

func testInvalidEntry(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	keep := at("keep", 0, "app", "model", "tok", nil)
	f.put(keep)
	valid := func(change func(*catalog.Entry)) catalog.Entry {
		e := at("bad", time.Minute, "app", "model", "tok", map[string]string{"k": "v"})
		change(&e)
		return e
	}
	tests := []struct {
		name string
		e    catalog.Entry
	}{
		{"EmptyID", valid(func(e *catalog.Entry) { e.ID = "" })},
		{"IDTooLong", valid(func(e *catalog.Entry) { e.ID = strings.Repeat("x", catalog.MaxIDBytes+1) })},
		{"NULInID", valid(func(e *catalog.Entry) { e.ID = "a\x00b" })},
		{"InvalidUTF8", valid(func(e *catalog.Entry) { e.Application = "\xff" })},
		{"BatchTooLong", valid(func(e *catalog.Entry) { e.Batch = strings.Repeat("b", catalog.MaxFieldBytes+1) })},
		{"ModelTooLong", valid(func(e *catalog.Entry) { e.Model = strings.Repeat("m", catalog.MaxFieldBytes+1) })},
		{"NoTimes", valid(func(e *catalog.Entry) { e.CreatedAt, e.StoredAt = time.Time{}, time.Time{} })},
		{"CreatedBefore1970", valid(func(e *catalog.Entry) { e.CreatedAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) })},
		{"StoredAfter9999", valid(func(e *catalog.Entry) { e.StoredAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"NegativeMessages", valid(func(e *catalog.Entry) { e.Messages = -1 })},
		{"NegativeTokens", valid(func(e *catalog.Entry) { e.Tokens = map[string]int64{"user": -1} })},
		{"NegativeBytes", valid(func(e *catalog.Entry) { e.StoredBytes = -1 })},
		{"EmptyRole", valid(func(e *catalog.Entry) { e.Tokens = map[string]int64{"": 1} })},
		{"EmptyMetadataKey", valid(func(e *catalog.Entry) { e.Metadata = map[string]string{"": "v"} })},
		{"SignatureTooLong", valid(func(e *catalog.Entry) { e.Signature = make([]byte, catalog.MaxSketchBytes+1) })},
		{"VectorTooLong", valid(func(e *catalog.Entry) { e.Vector = make([]byte, catalog.MaxSketchBytes+1) })},
		{"TooLarge", valid(func(e *catalog.Entry) {
			e.Metadata = map[string]string{"big": strings.Repeat("x", catalog.MaxEntryBytes)}
		})},
		{"ReplacingWithInvalid", valid(func(e *catalog.Entry) { e.ID, e.Messages = "keep", -1 })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := f.s.Put(f.ctx, tc.e)
			wantErr(t, "Put", err, catalog.ErrInvalidEntry)
		})
	}
	// Nothing changed.
	if got := f.get("keep"); !sameEntry(got, keep) {
		t.Fatalf("Get(keep) after invalid Puts = %s\nwant %s", fmtEntry(got), fmtEntry(keep))
	}
	f.wantIDs(catalog.Query{}, "keep")
}

func testListAll(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	f.put(filterSet()...)
	tests := []struct {
		name string
		q    catalog.Query
		want []string
	}{
		{"All", catalog.Query{}, []string{"f6", "f5", "f4", "f3", "f2", "f1"}},
		{"IgnoresLimitAndCursor", catalog.Query{Limit: 1, Cursor: "not a cursor"}, []string{"f6", "f5", "f4", "f3", "f2", "f1"}},
		{"Filtered", catalog.Query{Model: "gpt-4o", Oldest: true}, []string{"f1", "f3", "f5"}},
		{"Nothing", catalog.Query{Application: "nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := catalog.ListAll(f.ctx, f.s, tc.q, func(e catalog.Entry) error {
				got = append(got, e.ID)
				return nil
			})
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ListAll(%s) = %q, %v; want %q", fmtQuery(tc.q), got, err, tc.want)
			}
		})
	}
	stop := errors.New("stop")
	calls := 0
	err := catalog.ListAll(f.ctx, f.s, catalog.Query{}, func(catalog.Entry) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("ListAll with a failing callback: %v after %d calls; want the callback's error after 1", err, calls)
	}
	err = catalog.ListAll(f.ctx, f.s, catalog.Query{Limit: -1, Since: t0, Until: t0.Add(-1)}, func(catalog.Entry) error { return nil })
	wantErr(t, "ListAll with Since after Until", err, catalog.ErrInvalidQuery)
}

func testCanceled(t *testing.T, newStore func(t *testing.T) catalog.Backend) {
	f := setup(t, newStore)
	e := at("conv", 0, "app", "model", "tok", nil)
	f.put(e)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if err := f.s.Put(ctx, at("other", 0, "", "", "", nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: %v", err)
	}
	if err := f.s.Delete(ctx, e); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a canceled context: %v", err)
	}
	if _, err := f.s.Get(ctx, "conv"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: %v", err)
	}
	if _, err := f.s.List(ctx, catalog.Query{}); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a canceled context: %v", err)
	}
	if got := f.get("conv"); !sameEntry(got, e) {
		t.Errorf("after canceled calls, Get = %s", fmtEntry(got))
	}
	f.wantAbsent("other")
}
