package parquet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/mem"
)

// day0 is the day most entries of these tests are created on.
var day0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

func entry(i int) catalog.Entry {
	created := day0.Add(time.Duration(i) * time.Minute)
	return catalog.Entry{ID: fmt.Sprintf("conv-%03d", i), Nonce: fmt.Sprintf("n%d", i), Application: "app", Model: "m",
		Tokenizer: "cl100k_base", CreatedAt: created, StoredAt: created.Add(time.Second), Messages: 2,
		Tokens: map[string]int64{"user": 5, "assistant": 7}, StoredBytes: 100, Metadata: map[string]string{"secret": fmt.Sprintf("secret-%03d", i)}}
}

// fixture is a store on a bucket of its own, with a fake clock and no cache (so that every
// read goes to the bucket).
type fixture struct {
	t     *testing.T
	ctx   context.Context
	b     *mem.Bucket
	clock *fakeclock.Clock
	s     *Store
}

func newFixture(t *testing.T) *fixture {
	b := mem.New()
	clock := fakeclock.New(time.Now())
	return &fixture{t: t, ctx: context.Background(), b: b, clock: clock, s: New(b, Options{CacheBytes: -1, Now: clock.Now})}
}

// another returns a second store (another process) on the same bucket and clock.
func (f *fixture) another() *Store { return New(f.b, Options{CacheBytes: -1, Now: f.clock.Now}) }

func (f *fixture) put(es ...catalog.Entry) {
	f.t.Helper()
	if err := f.s.Put(f.ctx, es...); err != nil {
		f.t.Fatal(err)
	}
}

// ids lists every entry, newest first.
func (f *fixture) ids() []string {
	f.t.Helper()
	var out []string
	if err := catalog.ListAll(f.ctx, f.s, catalog.Query{}, func(e catalog.Entry) error {
		out = append(out, e.ID)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// keys returns the keys under prefix.
func (f *fixture) keys(prefix string) []string {
	f.t.Helper()
	var keys []string
	if err := f.b.List(f.ctx, prefix, func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return keys
}

// wantErased checks that no current object of the bucket holds e: no file has its row, and
// no object holds its ID or its metadata value as bytes (Parquet footers keep column
// statistics uncompressed).
func (f *fixture) wantErased(e catalog.Entry) {
	f.t.Helper()
	for _, key := range f.keys("") {
		data, _, err := f.b.Get(f.ctx, key)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, s := range []string{e.ID, e.Metadata["secret"]} {
			if bytes.Contains(data, []byte(s)) {
				f.t.Errorf("%s holds %q of a deleted entry", key, s)
			}
		}
		if !strings.HasPrefix(key, FilePrefix) {
			continue
		}
		rows, err := pq.Read[Row](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			f.t.Fatalf("%s: %v", key, err)
		}
		for _, r := range rows {
			if r.ID == e.ID {
				f.t.Errorf("%s has the row of deleted %s", key, e.ID)
			}
		}
	}
}

func (f *fixture) compact(s *Store) catalog.CompactResult {
	f.t.Helper()
	res, err := s.Compact(f.ctx, catalog.CompactOptions{Settle: time.Hour, Deadline: f.clock.Now().Add(30 * time.Minute)})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// TestCompactErases: a compaction merges a day's small files into one, drops the deleted rows
// from it, and forgets the deletions once they are older than Settle; afterwards no object of
// the bucket holds the deleted entry.
func TestCompactErases(t *testing.T) {
	f := newFixture(t)
	for i := range 6 {
		f.put(entry(2*i), entry(2*i+1))
	}
	other := entry(0)
	other.ID, other.CreatedAt = "next-day", day0.Add(24*time.Hour)
	f.put(other)
	if got := len(f.keys(FilePrefix)); got != 7 {
		t.Fatalf("%d files after 7 puts", got)
	}
	gone := entry(5)
	if err := f.s.Delete(f.ctx, gone); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(f.ids(), gone.ID) {
		t.Fatal("a deleted entry is listed")
	}
	if n, oldest, err := f.s.Deletions(f.ctx); err != nil || n != 1 || oldest.IsZero() {
		t.Fatalf("deleted entries held before the compaction: %d, oldest %v (%v); want 1", n, oldest, err)
	}

	res := f.compact(f.s)
	want := catalog.CompactResult{FilesRead: 6, FilesWritten: 1, FilesDeleted: 6, RowsErased: 1, TombstonesKept: 1}
	if res != want {
		t.Fatalf("compaction %+v, want %+v", res, want)
	}
	if got := len(f.keys(FilePrefix)); got != 2 {
		t.Errorf("%d files after the compaction, want one per day", got)
	}
	wantIDs := []string{"next-day"}
	for i := 11; i >= 0; i-- {
		if i != 5 {
			wantIDs = append(wantIDs, entry(i).ID)
		}
	}
	if got := f.ids(); !slices.Equal(got, wantIDs) {
		t.Fatalf("after the compaction: %q\nwant %q", got, wantIDs)
	}
	f.wantErased(gone)
	if n, _, err := f.s.Deletions(f.ctx); err != nil || n != 0 {
		t.Fatalf("%d deleted entries held after the compaction (%v)", n, err)
	}
	if got := len(f.keys(DeletedPrefix)); got != 1 {
		t.Fatalf("%d tombstones; want the young one kept", got)
	}

	// Past Settle, the next compaction forgets the deletion; the files stay as they are.
	f.clock.Advance(2 * time.Hour)
	res = f.compact(f.s)
	if want := (catalog.CompactResult{FilesRead: 1, TombstonesDeleted: 1}); res != want {
		t.Fatalf("second compaction %+v, want %+v", res, want)
	}
	if got := len(f.keys(DeletedPrefix)); got != 0 {
		t.Fatalf("%d tombstones left", got)
	}
	f.wantErased(gone)
	if got := f.ids(); !slices.Equal(got, wantIDs) {
		t.Fatalf("after forgetting the deletion: %q\nwant %q", got, wantIDs)
	}
	// Nothing left to do.
	if res := f.compact(f.s); res != (catalog.CompactResult{}) {
		t.Fatalf("third compaction %+v, want none", res)
	}
}

// TestListWhileCompacting: a List that finds a listed file deleted by a compaction lists
// again, and returns the page as if nothing had happened.
func TestListWhileCompacting(t *testing.T) {
	f := newFixture(t)
	var want []string
	for i := range 4 {
		f.put(entry(i))
		want = append([]string{entry(i).ID}, want...)
	}
	compacted := false
	f.s.hook = func(step string) {
		if step == "read" && !compacted {
			compacted = true
			f.compact(f.another()) // merges and deletes the files this List listed
		}
	}
	page, err := f.s.List(f.ctx, catalog.Query{})
	if err != nil {
		t.Fatalf("List during a compaction: %v", err)
	}
	if got := idsOf(page.Entries); !compacted || !slices.Equal(got, want) {
		t.Fatalf("List during a compaction (compacted %v) = %q, want %q", compacted, got, want)
	}
}

// TestDeleteWhileCompacting: a deletion made after a compaction listed the tombstones stays,
// hides the row the compaction copied, and the next compaction erases it.
func TestDeleteWhileCompacting(t *testing.T) {
	f := newFixture(t)
	for i := range 4 {
		f.put(entry(i))
	}
	gone := entry(2)
	f.s.hook = func(step string) {
		if step == "compact-listed" {
			if err := f.another().Delete(f.ctx, gone); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.clock.Advance(2 * time.Hour) // the deletion is older than Settle by the next compaction
	if res := f.compact(f.s); res.RowsErased != 0 || res.FilesWritten != 1 {
		t.Fatalf("compaction %+v: want the 4 files merged, the deletion unseen", res)
	}
	if slices.Contains(f.ids(), gone.ID) {
		t.Fatal("an entry deleted during a compaction is listed after it")
	}
	f.s.hook = nil
	f.clock.Advance(2 * time.Hour)
	if res := f.compact(f.s); res.RowsErased != 1 || res.TombstonesDeleted != 1 {
		t.Fatalf("next compaction %+v: want the row erased and the deletion forgotten", res)
	}
	f.wantErased(gone)
}

// slowCompaction runs a compaction (deadline 30 minutes, Settle 1 hour) of four files that,
// once it has read them and before it writes, sees gone deleted, the clock advance by wait,
// and another compaction run; it returns the other's result and its own error.
func (f *fixture) slowCompaction(gone catalog.Entry, wait time.Duration) (catalog.CompactResult, error) {
	f.t.Helper()
	for i := range 4 {
		f.put(entry(i))
	}
	slow := f.another()
	var other catalog.CompactResult
	slow.hook = func(step string) {
		if step != "compact-write" {
			return
		}
		if err := f.s.Delete(f.ctx, gone); err != nil {
			f.t.Fatal(err)
		}
		f.clock.Advance(wait)
		other = f.compact(f.s)
	}
	_, err := slow.Compact(f.ctx, catalog.CompactOptions{Settle: time.Hour, Deadline: f.clock.Now().Add(30 * time.Minute)})
	return other, err
}

// TestLateCompactionWritesNothing: a compaction that listed the files before a deletion, and
// is still running when another compaction erased the row and forgot the deletion (past
// Settle), must not bring the row back: it writes nothing past its deadline.
func TestLateCompactionWritesNothing(t *testing.T) {
	f := newFixture(t)
	gone := entry(1)
	other, err := f.slowCompaction(gone, 2*time.Hour)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the slow compaction: %v, want it stopped by its deadline", err)
	}
	if other.RowsErased != 1 || other.TombstonesDeleted != 1 {
		t.Fatalf("the other compaction %+v: want the row erased and the deletion forgotten", other)
	}
	if slices.Contains(f.ids(), gone.ID) {
		t.Fatal("a late compaction brought a deleted entry back")
	}
	f.wantErased(gone)
}

// TestYoungDeletionOutlivesSlowCompaction: a compaction that listed the files before a
// deletion may still write the deleted row (its deadline has not passed); another compaction
// erases the row it sees but keeps the deletion, younger than Settle, so that the row the slow
// one writes stays hidden until the next compaction erases it.
func TestYoungDeletionOutlivesSlowCompaction(t *testing.T) {
	f := newFixture(t)
	gone := entry(1)
	other, err := f.slowCompaction(gone, 10*time.Minute)
	if err != nil {
		t.Fatalf("the slow compaction: %v", err)
	}
	if other.RowsErased != 1 || other.TombstonesKept != 1 {
		t.Fatalf("the other compaction %+v: want the row erased and the deletion kept", other)
	}
	if slices.Contains(f.ids(), gone.ID) {
		t.Fatal("the row a slow compaction wrote back is listed")
	}
	f.clock.Advance(2 * time.Hour)
	if res := f.compact(f.s); res.RowsErased != 1 || res.TombstonesDeleted != 1 {
		t.Fatalf("the next compaction %+v: want the row erased and the deletion forgotten", res)
	}
	f.wantErased(gone)
}

// TestCorruptFile: a file that is not Parquet is ErrCorrupt, not an empty listing.
func TestCorruptFile(t *testing.T) {
	f := newFixture(t)
	f.put(entry(0))
	key := f.keys(FilePrefix)[0]
	if _, err := f.b.Put(f.ctx, key, []byte("not parquet"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.List(f.ctx, catalog.Query{}); !errors.Is(err, catalog.ErrCorrupt) {
		t.Fatalf("List over a corrupt file: %v, want ErrCorrupt", err)
	}
}

func idsOf(es []catalog.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// counting counts a bucket's requests.
type counting struct {
	objstore.Bucket
	lists, gets int
}

func (c *counting) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	n := 0
	err := c.Bucket.List(ctx, prefix, func(a objstore.Attrs) error { n++; return fn(a) })
	c.lists += n/objstore.ListPageSize + 1
	return err
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, objstore.Attrs, error) {
	c.gets++
	return c.Bucket.Get(ctx, key)
}

// TestPageCost checks the model of what a page of List costs, on a store of 30 compacted days
// and 1,500 fresh files of 20 entries each: one LIST per 1,000 files, one LIST of the
// deletions, and a GET per file whose time range reaches into the page. A page of the newest
// 100 entries reads 6 files; one that filters for an application with one entry in 20 reads
// the 100 files it needs; one for a day a month ago reads that day's one compacted file.
func TestPageCost(t *testing.T) {
	b := &counting{Bucket: mem.New()}
	s := New(b, Options{CacheBytes: -1})
	ctx := context.Background()
	at := func(day, i int, app string) catalog.Entry {
		e := entry(0)
		e.ID, e.Application = fmt.Sprintf("d%02d-%05d", day, i), app
		e.CreatedAt = day0.Add(time.Duration(day)*24*time.Hour + time.Duration(i)*time.Second)
		e.StoredAt = e.CreatedAt
		return e
	}
	for day := range 30 {
		es := make([]catalog.Entry, 500)
		for i := range es {
			es[i] = at(day, i, "old")
		}
		if err := s.Put(ctx, es...); err != nil {
			t.Fatal(err)
		}
	}
	for f := range 1500 {
		es := make([]catalog.Entry, 20)
		for i := range es {
			app := "common"
			if i == 0 {
				app = "rare"
			}
			es[i] = at(30, f*20+i, app)
		}
		if err := s.Put(ctx, es...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		q     catalog.Query
		lists int
		gets  int
	}{
		{"newest 100", catalog.Query{}, 2 + 1, 6},
		{"an application with one entry in 20", catalog.Query{Application: "rare"}, 2 + 1, 101},
		{"a day a month ago", catalog.Query{Since: day0.Add(2 * 24 * time.Hour), Until: day0.Add(3 * 24 * time.Hour)}, 2 + 1, 1},
	} {
		b.lists, b.gets = 0, 0
		page, err := s.List(ctx, tc.q)
		if err != nil || len(page.Entries) != 100 {
			t.Fatalf("%s: %d entries, %v", tc.name, len(page.Entries), err)
		}
		if b.lists != tc.lists || b.gets != tc.gets {
			t.Errorf("%s: %d LISTs and %d GETs, the model says %d and %d", tc.name, b.lists, b.gets, tc.lists, tc.gets)
		}
	}
}

// TestListAllReadsAFileOnce: listing every entry of a file larger than the cache takes (a
// day's compacted file of sketched rows) reads it once, not once per page.
func TestListAllReadsAFileOnce(t *testing.T) {
	b := &counting{Bucket: mem.New()}
	s := New(b, Options{}) // another process's store: nothing cached
	ctx := context.Background()
	es := make([]catalog.Entry, 20_000)
	for i := range es {
		es[i] = entry(i)
		es[i].CreatedAt = day0.Add(time.Duration(i) * time.Second) // one day, one file
		es[i].Signature, es[i].Vector = bytes.Repeat([]byte{byte(i)}, 516), bytes.Repeat([]byte{byte(i >> 8)}, 260)
	}
	if err := New(b, Options{}).Put(ctx, es...); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := catalog.ListAll(ctx, s, catalog.Query{}, func(catalog.Entry) error { n++; return nil }); err != nil || n != len(es) {
		t.Fatalf("listed %d entries, %v", n, err)
	}
	if b.gets != 1 {
		t.Errorf("listing %d entries in %d pages read the file %d times, want once", n, n/catalog.MaxLimit, b.gets)
	}
}

// TestCompactRewritesOnlyWhatChanged: on a day with deletions, a large file that holds a
// deleted row is written again alone, a large file that holds none and small files too few to
// merge are left as they are.
func TestCompactRewritesOnlyWhatChanged(t *testing.T) {
	f := newFixture(t)
	f.s = New(f.b, Options{Now: f.clock.Now}) // with a cache: the listing below reads 40 pages
	f.s.smallFile = 64 << 10
	at := func(i int) catalog.Entry {
		e := entry(i)
		e.CreatedAt = day0.Add(time.Duration(i) * time.Millisecond)
		return e
	}
	big := func(from int) []catalog.Entry {
		es := make([]catalog.Entry, 20000)
		for i := range es {
			es[i] = at(from + i)
		}
		return es
	}
	a, b := big(0), big(100000)
	f.put(a...)
	f.put(b...)
	f.put(at(500000))
	f.put(at(500001))
	before := f.keys(FilePrefix)
	sizes := map[string]int64{}
	if err := f.b.List(f.ctx, FilePrefix, func(at objstore.Attrs) error { sizes[at.Key] = at.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	large := 0
	for _, n := range sizes {
		if n > f.s.smallFile {
			large++
		}
	}
	if large != 2 {
		t.Fatalf("file sizes %v: want two files over %d bytes", sizes, f.s.smallFile)
	}
	gone := a[1234]
	if err := f.s.Delete(f.ctx, gone); err != nil {
		t.Fatal(err)
	}
	res := f.compact(f.s)
	if want := (catalog.CompactResult{FilesRead: 4, FilesWritten: 1, FilesDeleted: 1, RowsErased: 1, TombstonesKept: 1}); res != want {
		t.Fatalf("compaction %+v, want %+v", res, want)
	}
	after := f.keys(FilePrefix)
	kept := 0
	for _, k := range before {
		if slices.Contains(after, k) {
			kept++
		}
	}
	if kept != 3 || len(after) != 4 {
		t.Fatalf("%d of the 4 files kept, %d files after; want 3 kept and one new", kept, len(after))
	}
	f.wantErased(gone)
	if n := len(f.ids()); n != 40001 {
		t.Fatalf("%d entries listed, want 40,001", n)
	}
}
