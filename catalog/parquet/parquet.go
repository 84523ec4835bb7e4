// Package parquet is a catalog.Backend that keeps the catalog as Parquet files in the store's
// bucket, where Amazon Athena, AWS Glue, Spark and DuckDB read them as they are.
//
// # Layout
//
// Each Put writes one file per UTC day its entries were created on, with Hive-style
// partitions:
//
//	catalog/day=YYYY-MM-DD/FIRST-LAST-BATCH.parquet
//
// FIRST and LAST are the smallest and largest CreatedAt of the file's rows, in Unix
// milliseconds on 15 digits, and BATCH is random, so that a file is never overwritten. The
// rows (Row) are sorted by (CreatedAt, ID). The day is the partition column; it is not in
// the rows.
//
// A Delete writes a tombstone, an empty object whose key is a hash of the entry's ID and
// Nonce, under its day:
//
//	catalog-deleted/day=YYYY-MM-DD/HASH
//
// The tombstones are outside catalog/, so that query engines do not read them: until the next
// compaction, a query engine still sees the deleted rows, and List does not.
//
// # Costs
//
// Put: one PUT per day its entries span (a batch from one StoreBatch is usually one). Delete:
// one PUT. List: one LIST per 1,000 files, one LIST per 1,000 tombstones, and one GET per file
// whose time range reaches into the page (the files are read newest first, or oldest first,
// and reading stops once no file left can hold an entry of the page); decoded files are
// cached, since files never change. Get reads every file: it is for tests and tools, not for
// a hot path.
//
// # Compaction
//
// Compact, run by the vault's GC, rewrites the days that have tombstones or many small files:
// a file that holds deleted rows is written again without them, and a day's small files are
// merged into files of at most CompactRows rows; the files replaced are deleted, and then the
// tombstones applied. That is how a deleted entry's metadata leaves the bucket (older versions
// of the files stay for the bucket's noncurrent-version expiry). Compact's documentation says
// what makes it safe to run next to Puts, Deletes, Lists and other compactions.
//
// # Copies
//
// An entry is the summary of one stored copy of a conversation, identified by (ID, Nonce),
// and never changes. Putting an ID again under another nonce keeps both entries until one is
// deleted; the vault deletes a copy's entry before it can put another's. A deleted copy's
// entry stays deleted while its tombstone lasts (CompactOptions.Settle after the deletion, at
// least); the vault's writes of an entry end within its writer deadline, which Settle covers.
package parquet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/internal/rules"
	"github.com/stowken/stowken/internal/lru"
	"github.com/stowken/stowken/internal/meter"
	"github.com/stowken/stowken/objstore"
)

// The prefixes of the store's objects in the bucket.
const (
	FilePrefix    = catalog.FilePrefix
	DeletedPrefix = catalog.DeletedPrefix
)

// CompactRows is the most rows Compact writes into one file (about 3 MB on the shared
// corpora, whose rows take about 42 bytes): a page of List reads a file or two of that size.
const CompactRows = 65536

// A day without tombstones is compacted when it holds compactMinFiles small files, of under
// smallFileBytes (about 25,000 rows of the shared corpora); only those are merged.
const (
	compactMinFiles = 4
	smallFileBytes  = 1 << 20
)

// listAttempts bounds how often List starts again when a file it listed was deleted by a
// compaction before it could read it.
const listAttempts = 5

// Row is one entry as the files hold it. Application, Model and Tokenizer are "" when the
// conversation has none; created_at and stored_at are UTC timestamps to the millisecond;
// tokens are per role ("system", "user", "assistant", "tool", "developer"), and total_tokens
// their sum; metadata holds the conversation's top-level metadata scalars (numbers and
// booleans as their JSON text); batch is the batch object that held the conversation when the
// row was written (null in files written before it was kept); minhash and vector are the conversation's sketches (package
// sketch), null when the store keeps none and in files written before they existed. The
// Terraform module's Glue table declares the same columns.
type Row struct {
	ID          string            `parquet:"id"`
	Nonce       string            `parquet:"nonce"`
	Application string            `parquet:"application"`
	Model       string            `parquet:"model"`
	Tokenizer   string            `parquet:"tokenizer"`
	CreatedAt   time.Time         `parquet:"created_at,timestamp(millisecond)"`
	StoredAt    time.Time         `parquet:"stored_at,timestamp(millisecond)"`
	Messages    int32             `parquet:"messages"`
	Tokens      map[string]int64  `parquet:"tokens"`
	TotalTokens int64             `parquet:"total_tokens"`
	StoredBytes int64             `parquet:"stored_bytes"`
	Metadata    map[string]string `parquet:"metadata"`
	Batch       string            `parquet:"batch,optional"`
	MinHash     []byte            `parquet:"minhash,optional"`
	Vector      []byte            `parquet:"vector,optional"`
}

func rowOf(e catalog.Entry) Row {
	return Row{ID: e.ID, Nonce: e.Nonce, Application: e.Application, Model: e.Model, Tokenizer: e.Tokenizer,
		CreatedAt: e.CreatedAt, StoredAt: e.StoredAt, Messages: int32(e.Messages), Tokens: e.Tokens,
		TotalTokens: e.TotalTokens(), StoredBytes: e.StoredBytes, Metadata: e.Metadata,
		Batch: e.Batch, MinHash: e.Signature, Vector: e.Vector}
}

func (r Row) entry() catalog.Entry {
	return rules.Clone(catalog.Entry{ID: r.ID, Nonce: r.Nonce, Application: r.Application, Model: r.Model, Tokenizer: r.Tokenizer,
		CreatedAt: r.CreatedAt.UTC(), StoredAt: r.StoredAt.UTC(), Messages: int(r.Messages), Tokens: r.Tokens,
		StoredBytes: r.StoredBytes, Metadata: r.Metadata, Batch: r.Batch, Signature: r.MinHash, Vector: r.Vector})
}

// Options configure a Store.
type Options struct {
	// CacheBytes bounds the cache of decoded files (default 32 MiB; negative: none). The file
	// read last is kept besides, however large.
	CacheBytes int
	// Now is the clock (default time.Now); tests use a fake one.
	Now func() time.Time
}

// Store is the catalog in a bucket. Create it with New.
type Store struct {
	b     objstore.Bucket
	files *lru.Cache[[]catalog.Entry] // decoded files, by key
	// last is the file decoded last, kept whether or not files could: a listing reads a file
	// a page (catalog.MaxLimit entries) at a time, and a compacted file, of sketched rows
	// especially (65 MB decoded), is more than the cache takes.
	last atomic.Pointer[decodedFile]
	now  func() time.Time
	// smallFile is smallFileBytes; tests lower it.
	smallFile int64
	// hook, when set by a test, runs at the named step of a call (see the tests).
	hook func(step string)
}

var (
	_ catalog.Backend   = (*Store)(nil)
	_ catalog.Compactor = (*Store)(nil)
)

// New returns the catalog kept in b. Its requests charge what they cost to the call that made
// them (cost.Charge), so that a vault meters them under cost.Catalog.
func New(b objstore.Bucket, opts Options) *Store {
	size := opts.CacheBytes
	if size == 0 {
		size = 32 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{
		b: meter.Charging(b),
		files: lru.New(max(size, 0), func(key string, es []catalog.Entry) int {
			n := len(key) + 200*len(es)
			for _, e := range es {
				n += len(e.Signature) + len(e.Vector)
			}
			return n
		}),
		now: opts.Now,

		smallFile: smallFileBytes,
	}
}

// ChargesUsage marks the store as one whose requests charge their own cost (meter.Charger).
func (s *Store) ChargesUsage() {}

func (s *Store) step(name string) {
	if s.hook != nil {
		s.hook(name)
	}
}

// decodedFile is a file's entries.
type decodedFile struct {
	key     string
	entries []catalog.Entry
}

// file is a catalog file, as its key names it.
type file struct {
	key         string
	day         string
	first, last int64
	size        int64
}

// writeOptions are how the files are written: zstd pages, and no bounds or statistics of the
// columns no query filters on (a signature's would take 1 KB of each file's footer).
var writeOptions = []pq.WriterOption{
	pq.Compression(&pq.Zstd),
	pq.SkipPageBounds("batch"), pq.SkipPageBounds("minhash"), pq.SkipPageBounds("vector"),
	pq.SkipPageStatistics("batch"), pq.SkipPageStatistics("minhash"), pq.SkipPageStatistics("vector"),
}

// fileKey returns the key of a new file of rows created from first to last (Unix ms).
func fileKey(first, last int64) string {
	return fmt.Sprintf("%sday=%s/%015d-%015d-%s.parquet", FilePrefix, dayOf(first), first, last, randomHex(8))
}

func dayOf(ms int64) string { return rules.Time(ms).Format(time.DateOnly) }

// parseFile parses a file's key; ok is false for a key that is not one of the store's files.
func parseFile(a objstore.Attrs) (file, bool) {
	rest, ok := strings.CutPrefix(a.Key, FilePrefix+"day=")
	if !ok {
		return file{}, false
	}
	day, name, ok := strings.Cut(rest, "/")
	parts := strings.Split(strings.TrimSuffix(name, ".parquet"), "-")
	if !ok || !strings.HasSuffix(name, ".parquet") || len(parts) != 3 {
		return file{}, false
	}
	first, err1 := strconv.ParseInt(parts[0], 10, 64)
	last, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || first > last || dayOf(first) != day {
		return file{}, false
	}
	return file{key: a.Key, day: day, first: first, last: last, size: a.Size}, true
}

// tombstoneName is the name of the tombstone of an entry (ID and nonce) under its day.
func tombstoneName(id, nonce string) string {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(nonce))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func tombstoneKey(e catalog.Entry) string {
	return DeletedPrefix + "day=" + dayOf(rules.Millis(e.CreatedAt)) + "/" + tombstoneName(e.ID, e.Nonce)
}

// tombstone is a listed tombstone.
type tombstone struct {
	key, day, name string
	written        time.Time
}

func parseTombstone(a objstore.Attrs) (tombstone, bool) {
	rest, ok := strings.CutPrefix(a.Key, DeletedPrefix+"day=")
	if !ok {
		return tombstone{}, false
	}
	day, name, ok := strings.Cut(rest, "/")
	return tombstone{key: a.Key, day: day, name: name, written: a.ModTime}, ok && len(name) == 32
}

// Put writes the entries, one file per day they were created on. Every entry is checked
// first: an invalid one fails the call with catalog.ErrInvalidEntry and writes nothing.
func (s *Store) Put(ctx context.Context, entries ...catalog.Entry) error {
	norm, err := rules.NormalizeAll(entries)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	byDay := map[string][]catalog.Entry{}
	for _, e := range norm {
		d := dayOf(rules.Millis(e.CreatedAt))
		byDay[d] = append(byDay[d], e)
	}
	for _, d := range slices.Sorted(maps.Keys(byDay)) {
		if _, err := s.write(ctx, byDay[d]); err != nil {
			return err
		}
	}
	return nil
}

// write writes entries of one day as a new file and returns its key.
func (s *Store) write(ctx context.Context, es []catalog.Entry) (string, error) {
	slices.SortFunc(es, func(a, b catalog.Entry) int { return rules.KeyOf(a).Compare(rules.KeyOf(b)) })
	rows := make([]Row, len(es))
	for i, e := range es {
		rows[i] = rowOf(e)
	}
	var buf bytes.Buffer
	if err := pq.Write(&buf, rows, writeOptions...); err != nil {
		return "", fmt.Errorf("catalog/parquet: encode %d rows: %w", len(rows), err)
	}
	key := fileKey(rules.Millis(es[0].CreatedAt), rules.Millis(es[len(es)-1].CreatedAt))
	if _, err := s.b.Put(ctx, key, buf.Bytes(), objstore.PutOptions{IfNoneMatch: true, ContentType: "application/vnd.apache.parquet"}); err != nil {
		return "", fmt.Errorf("catalog/parquet: write %s: %w", key, err)
	}
	s.files.Add(key, es)
	return key, nil
}

// Delete deletes the entry of e.ID with e.Nonce (created at e.CreatedAt, which tells the
// tombstone's day), if there is one: it writes a tombstone.
func (s *Store) Delete(ctx context.Context, e catalog.Entry) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = e.StoredAt
	}
	if ms := rules.Millis(e.CreatedAt); e.ID == "" || ms < 0 || ms > rules.MaxMillis {
		return fmt.Errorf("%w: delete %q: no ID or no time", catalog.ErrInvalidEntry, e.ID)
	}
	// Create-if-absent, as every write of a store's writers: one that is there is the same.
	_, err := s.b.Put(ctx, tombstoneKey(e), nil, objstore.PutOptions{IfNoneMatch: true})
	if err != nil && !errors.Is(err, objstore.ErrExists) {
		return fmt.Errorf("catalog/parquet: delete %q: %w", e.ID, err)
	}
	return nil
}

// snapshot is what a read of the catalog starts from: the files and the tombstones.
type snapshot struct {
	files   []file
	deleted map[string]bool // day + "/" + tombstone name
}

func (s *Store) snapshot(ctx context.Context) (snapshot, []tombstone, error) {
	var snap snapshot
	err := s.b.List(ctx, FilePrefix+"day=", func(a objstore.Attrs) error {
		if f, ok := parseFile(a); ok {
			snap.files = append(snap.files, f)
		}
		return nil
	})
	if err != nil {
		return snap, nil, fmt.Errorf("catalog/parquet: list files: %w", err)
	}
	var tombs []tombstone
	snap.deleted = map[string]bool{}
	err = s.b.List(ctx, DeletedPrefix+"day=", func(a objstore.Attrs) error {
		if t, ok := parseTombstone(a); ok {
			tombs = append(tombs, t)
			snap.deleted[t.day+"/"+t.name] = true
		}
		return nil
	})
	if err != nil {
		return snap, nil, fmt.Errorf("catalog/parquet: list tombstones: %w", err)
	}
	return snap, tombs, nil
}

func (sn snapshot) isDeleted(e catalog.Entry) bool {
	return len(sn.deleted) > 0 && sn.deleted[dayOf(rules.Millis(e.CreatedAt))+"/"+tombstoneName(e.ID, e.Nonce)]
}

// read returns the entries of a file, from the cache or the bucket. A file deleted since it
// was listed is objstore.ErrNotFound.
func (s *Store) read(ctx context.Context, f file) ([]catalog.Entry, error) {
	if es, ok := s.files.Get(f.key); ok {
		return es, nil
	}
	if d := s.last.Load(); d != nil && d.key == f.key {
		return d.entries, nil
	}
	s.step("read")
	data, _, err := s.b.Get(ctx, f.key)
	if err != nil {
		return nil, fmt.Errorf("catalog/parquet: read %s: %w", f.key, err)
	}
	rows, err := pq.Read[Row](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: catalog/parquet: %s is not a catalog file: %v", catalog.ErrCorrupt, f.key, err)
	}
	es := make([]catalog.Entry, len(rows))
	for i, r := range rows {
		e, err := rules.Normalize(r.entry())
		if err != nil || dayOf(rules.Millis(e.CreatedAt)) != f.day {
			return nil, fmt.Errorf("%w: catalog/parquet: %s: row %d does not belong there: %v", catalog.ErrCorrupt, f.key, i, err)
		}
		es[i] = e
	}
	s.files.Add(f.key, es)
	s.last.Store(&decodedFile{f.key, es})
	return es, nil
}

// Get returns the entry of id; when entries of several copies are there, the one stored
// last. It reads every file.
func (s *Store) Get(ctx context.Context, id string) (catalog.Entry, error) {
	for attempt := 1; ; attempt++ {
		e, err := s.get(ctx, id)
		if errors.Is(err, objstore.ErrNotFound) && attempt < listAttempts {
			continue // a compaction replaced a file: read the new ones
		}
		return e, err
	}
}

func (s *Store) get(ctx context.Context, id string) (catalog.Entry, error) {
	snap, _, err := s.snapshot(ctx)
	if err != nil {
		return catalog.Entry{}, err
	}
	var found *catalog.Entry
	for _, f := range snap.files {
		es, err := s.read(ctx, f)
		if err != nil {
			return catalog.Entry{}, err
		}
		for _, e := range es {
			if e.ID == id && !snap.isDeleted(e) && (found == nil || e.StoredAt.After(found.StoredAt)) {
				found = &e
			}
		}
	}
	if found == nil {
		return catalog.Entry{}, fmt.Errorf("catalog/parquet: entry %q: %w", id, catalog.ErrNotFound)
	}
	return rules.Clone(*found), nil
}

// List reads the files whose time range reaches into the page, in the page's order, and stops
// when no file left can hold an entry of the page. When a compaction deleted a file before it
// could be read, List starts again from a new listing.
func (s *Store) List(ctx context.Context, q catalog.Query) (catalog.Page, error) {
	p, err := rules.NewPlan(q)
	if err != nil {
		return catalog.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return catalog.Page{}, err
	}
	if p.Empty() {
		return catalog.Page{}, nil
	}
	for attempt := 1; ; attempt++ {
		page, err := s.list(ctx, p)
		if errors.Is(err, objstore.ErrNotFound) && attempt < listAttempts {
			continue
		}
		return page, err
	}
}

func (s *Store) list(ctx context.Context, p *rules.Plan) (catalog.Page, error) {
	snap, _, err := s.snapshot(ctx)
	if err != nil {
		return catalog.Page{}, err
	}
	// The files that can hold a key in [Lower, Upper]; an Upper without an ID is Until, which
	// no entry reaches.
	lower, upper := p.Lower(), p.Upper()
	files := slices.DeleteFunc(snap.files, func(f file) bool {
		return f.last < lower.Ms || f.first > upper.Ms || f.first == upper.Ms && upper.ID == ""
	})
	// Newest first: by last time, descending; oldest first: by first time, ascending.
	slices.SortFunc(files, func(a, b file) int {
		if p.Desc {
			return cmpInt(b.last, a.last)
		}
		return cmpInt(a.first, b.first)
	})
	order := func(a, b catalog.Entry) int {
		c := rules.KeyOf(a).Compare(rules.KeyOf(b))
		if c == 0 {
			c = strings.Compare(a.Nonce, b.Nonce)
		}
		if p.Desc {
			return -c
		}
		return c
	}
	var matched []catalog.Entry
	for _, f := range files {
		if len(matched) >= p.Want() {
			// Every entry of f and of the files after it comes after matched[Want-1]: done.
			bound := rules.Millis(matched[p.Want()-1].CreatedAt)
			if p.Desc && f.last < bound || !p.Desc && f.first > bound {
				break
			}
		}
		es, err := s.read(ctx, f)
		if err != nil {
			return catalog.Page{}, err
		}
		for _, e := range es {
			if p.Match(e) && !snap.isDeleted(e) {
				matched = append(matched, e)
			}
		}
		// Sort, drop the copies of an entry that several files hold (a compaction in
		// progress), keep what can still be on the page.
		slices.SortFunc(matched, order)
		matched = slices.CompactFunc(matched, func(a, b catalog.Entry) bool { return order(a, b) == 0 })
		matched = matched[:min(len(matched), p.Want())]
	}
	for i := range matched {
		matched[i] = rules.Clone(matched[i])
	}
	return p.Page(matched), nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Compact rewrites each day that has tombstones or at least compactMinFiles small files, and
// with opts.Fill every day (compactDay), then deletes the tombstones it applied that are older than opts.Settle.
//
// It is safe next to every other call:
//   - A Put during a compaction writes a new file, which the compaction did not list and
//     leaves alone.
//   - A List that finds a listed file deleted lists again (List), and one that sees both a
//     merged file and the files it replaces drops the copies.
//   - A Delete during a compaction writes a tombstone the compaction did not list: it stays,
//     hides the row the new file still holds, and the next compaction applies it.
//   - Another compaction that started before a tombstone was written may write the deleted
//     row into a new file. It writes no file after opts.Deadline, and a tombstone is only
//     deleted by a compaction that listed the files after that: when the tombstone is older
//     than opts.Settle, which must be at least the longest compaction (and the longest Put,
//     which may also bring a row after its tombstone).
func (s *Store) Compact(ctx context.Context, opts catalog.CompactOptions) (catalog.CompactResult, error) {
	var res catalog.CompactResult
	start := s.now()
	snap, tombs, err := s.snapshot(ctx)
	if err != nil {
		return res, err
	}
	s.step("compact-listed")
	byDay := map[string][]file{}
	for _, f := range snap.files {
		byDay[f.day] = append(byDay[f.day], f)
	}
	tombsByDay := map[string][]tombstone{}
	for _, t := range tombs {
		tombsByDay[t.day] = append(tombsByDay[t.day], t)
	}
	for _, day := range slices.Sorted(maps.Keys(byDay)) {
		files := byDay[day]
		small := 0
		for _, f := range files {
			if f.size <= s.smallFile {
				small++
			}
		}
		merge := small >= compactMinFiles
		if len(tombsByDay[day]) == 0 && opts.Fill == nil {
			if !merge {
				continue
			}
			// No tombstones: only the small files need reading.
			files = slices.DeleteFunc(files, func(f file) bool { return f.size > s.smallFile })
		}
		if err := s.compactDay(ctx, snap, files, merge, opts, &res); err != nil {
			return res, err
		}
	}
	// Every listed tombstone's row is gone from the files listed: this compaction dropped it,
	// or found none, or (a file was gone) another compaction that saw the tombstone merged the
	// day. A compaction that did not see it started before it was written, and is over once
	// it is older than Settle.
	var done []string
	for _, t := range tombs {
		if start.Sub(t.written) < opts.Settle {
			res.TombstonesKept++
			continue
		}
		done = append(done, t.key)
	}
	if len(done) > 0 {
		if err := s.b.Delete(ctx, done...); err != nil {
			return res, fmt.Errorf("catalog/parquet: delete %d tombstones: %w", len(done), err)
		}
		res.TombstonesDeleted = len(done)
	}
	return res, nil
}

// compactDay rewrites the files of one day: a file that holds deleted rows, or whose rows
// opts.Fill changed, is written again without them, and with merge the small files (of up to
// s.smallFile) are merged into files of up to CompactRows rows. It holds the rows of at most
// one file read and one file to write. When a file is gone, another compaction merged the day
// first: it leaves the rest of the day.
func (s *Store) compactDay(ctx context.Context, snap snapshot, files []file, merge bool, opts catalog.CompactOptions, res *catalog.CompactResult) error {
	deadline := opts.Deadline
	slices.SortFunc(files, func(a, b file) int { return cmpInt(a.first, b.first) })
	var (
		pending        []catalog.Entry // rows of the small files read, to merge
		pendingFiles   []file
		pendingChanged bool // a pending file lost rows
	)
	for _, f := range files {
		es, err := s.read(ctx, f)
		if errors.Is(err, objstore.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		res.FilesRead++
		kept := slices.DeleteFunc(slices.Clone(es), snap.isDeleted)
		erased := len(es) - len(kept)
		res.RowsErased += erased
		filled := false
		if opts.Fill != nil {
			if filled, err = opts.Fill(ctx, kept); err != nil {
				return err
			}
		}
		switch {
		case merge && f.size <= s.smallFile:
			pending, pendingFiles = append(pending, kept...), append(pendingFiles, f)
			pendingChanged = pendingChanged || erased > 0 || filled
			if len(pending) >= CompactRows {
				if err := s.replace(ctx, pending, pendingFiles, deadline, res); err != nil {
					return err
				}
				pending, pendingFiles, pendingChanged = nil, nil, false
			}
		case erased > 0 || filled:
			if err := s.replace(ctx, kept, []file{f}, deadline, res); err != nil {
				return err
			}
		}
	}
	if len(pendingFiles) > 1 || pendingChanged {
		return s.replace(ctx, pending, pendingFiles, deadline, res)
	}
	return nil
}

// replace writes rows (sorted, without duplicates) as files of up to CompactRows rows, unless
// the deadline has passed, and then deletes the files they replace.
func (s *Store) replace(ctx context.Context, rows []catalog.Entry, old []file, deadline time.Time, res *catalog.CompactResult) error {
	order := func(a, b catalog.Entry) int {
		if c := rules.KeyOf(a).Compare(rules.KeyOf(b)); c != 0 {
			return c
		}
		return strings.Compare(a.Nonce, b.Nonce)
	}
	slices.SortFunc(rows, order)
	rows = slices.CompactFunc(rows, func(a, b catalog.Entry) bool { return order(a, b) == 0 })
	s.step("compact-write")
	for chunk := range slices.Chunk(rows, CompactRows) {
		if !deadline.IsZero() && !s.now().Before(deadline) {
			return fmt.Errorf("catalog/parquet: compaction past its deadline (%s): %w", deadline.Format(time.RFC3339), context.DeadlineExceeded)
		}
		if _, err := s.write(ctx, slices.Clone(chunk)); err != nil {
			return err
		}
		res.FilesWritten++
	}
	keys := make([]string, len(old))
	for i, f := range old {
		keys[i] = f.key
		s.files.Remove(f.key)
	}
	if err := s.b.Delete(ctx, keys...); err != nil {
		return fmt.Errorf("catalog/parquet: delete %d replaced files: %w", len(keys), err)
	}
	res.FilesDeleted += len(keys)
	return nil
}

// Deletions returns how many deleted entries the files still hold (until a compaction
// erases them), and when the oldest was deleted (zero when none is held). It reads the files
// of the days that have deletions.
func (s *Store) Deletions(ctx context.Context) (n int, oldest time.Time, err error) {
	snap, tombs, err := s.snapshot(ctx)
	if err != nil {
		return 0, time.Time{}, err
	}
	days := map[string]bool{}
	for _, t := range tombs {
		days[t.day] = true
	}
	held := map[string]bool{} // day + "/" + tombstone name of the rows found
	for _, f := range snap.files {
		if !days[f.day] {
			continue
		}
		es, err := s.read(ctx, f)
		if err != nil {
			return 0, time.Time{}, err
		}
		for _, e := range es {
			if snap.isDeleted(e) {
				held[f.day+"/"+tombstoneName(e.ID, e.Nonce)] = true
			}
		}
	}
	for _, t := range tombs {
		if held[t.day+"/"+t.name] {
			n++
			if oldest.IsZero() || t.written.Before(oldest) {
				oldest = t.written
			}
		}
	}
	return n, oldest, nil
}

// Close closes nothing: the bucket belongs to the caller.
func (s *Store) Close() error { return nil }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
