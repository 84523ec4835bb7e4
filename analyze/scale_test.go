package analyze_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/analyze"
	"github.com/stowken/stowken/catalog"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/cluster"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/embed"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/neardup"
	"github.com/stowken/stowken/objstore"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/refcount"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/search"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/vault"
)

// readCounter counts a bucket's GETs and LISTs, and the bytes the GETs return, by the first
// element of the key ("catalog", "batches", "segments", ...).
type readCounter struct {
	objstore.Bucket
	mu    sync.Mutex
	gets  map[string]int
	bytes map[string]int64
	lists int
}

func (c *readCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets, c.bytes, c.lists = map[string]int{}, map[string]int64{}, 0
}

func (c *readCounter) Get(ctx context.Context, key string) ([]byte, objstore.Attrs, error) {
	data, a, err := c.Bucket.Get(ctx, key)
	part, _, _ := strings.Cut(key, "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets[part]++
	c.bytes[part] += int64(len(data))
	return data, a, err
}

func (c *readCounter) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	return c.ListAfter(ctx, prefix, "", fn)
}

func (c *readCounter) ListAfter(ctx context.Context, prefix, after string, fn func(objstore.Attrs) error) error {
	n := 0
	err := c.Bucket.ListAfter(ctx, prefix, after, func(a objstore.Attrs) error { n++; return fn(a) })
	c.mu.Lock()
	c.lists += n/objstore.ListPageSize + 1
	c.mu.Unlock()
	return err
}

// shape is what the model of the analyses' reads needs to know of a store.
type shape struct {
	conversations int
	// catalogFiles and catalogBytes are the catalog's files and their bytes; tombstones the
	// deletions not compacted away yet.
	catalogFiles int
	catalogBytes int64
	tombstones   int
	// objects and objectBytes are the batch objects and segments (packs included) the
	// conversations use, and their bytes.
	objects     int
	objectBytes int64
}

// reads is what an analysis reads.
type reads struct {
	gets, lists int
	bytes       int64
	readUnits   float64 // DynamoDB read request units
}

// lists is how many LIST requests list n keys.
func lists(n int) int { return n/objstore.ListPageSize + 1 }

// fromCatalog is the model of dups and cluster (and outliers) on a store whose rows carry
// sketches: a listing of the whole catalog, page by page (catalog.MaxLimit rows), each page
// LISTing the files and the tombstones; once, a GET of the gathering's mark and a LIST of the
// conversations stored alone since (none here); and a GET of every file, once.
func fromCatalog(s shape) reads {
	pages := max(1, (s.conversations+catalog.MaxLimit-1)/catalog.MaxLimit)
	return reads{
		gets:  s.catalogFiles + 1,
		lists: pages*(lists(s.catalogFiles)+lists(s.tombstones)) + 1,
		bytes: s.catalogBytes,
	}
}

// fromConversations is the model of dups and cluster without sketches: the listing, then the
// batch objects and segments the conversations use, each read once (vault.TokensOf: no
// pointer read).
func fromConversations(s shape) reads {
	r := fromCatalog(s)
	r.gets += s.objects
	r.bytes += s.objectBytes
	return r
}

// searching is the model of search: fromConversations, and a strongly consistent pointer read
// (one read unit: a pointer is a small item) for each hit shown, to show only conversations
// still stored.
func searching(s shape, shown int) reads {
	r := fromConversations(s)
	r.readUnits = float64(shown)
	return r
}

// TestScaleModel checks the model of what dups, cluster and search read (fromCatalog,
// fromConversations) against what they read on a store of 10,500 requests of the API replay
// (two pages of a listing),
// stored in batches of 500 over 6 days, with and without sketches; and prints what the model
// says for 10 million conversations (a year of 27,400 a day, each day's rows compacted into
// one catalog file), as docs/design.md ("Sketches and the analyses") quotes it.
func TestScaleModel(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 10,500 conversations twice")
	}
	const n, batch, days = 10_500, 500, 6
	var convs []*conversation.Conversation
	day0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	err := corpus.Lines(corpus.Path(t, "api-replay.jsonl.gz"), func(line []byte, _ int) error {
		if len(convs) == n {
			return errStop
		}
		c, err := conversation.Parse(line)
		if err != nil {
			return err
		}
		i := len(convs)
		c.CreatedAt = day0.Add(time.Duration(i*days/n)*24*time.Hour + time.Duration(i)*time.Second)
		convs = append(convs, c)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, sketches := range []bool{true, false} {
		t.Run(fmt.Sprintf("Sketches=%v", sketches), func(t *testing.T) {
			b := &readCounter{Bucket: objmem.New()}
			b.reset()
			refs := refmem.New()
			open := func() *vault.Vault {
				v, err := vault.New(ctx, vault.Options{Bucket: b, Refs: refs, Catalog: catparquet.New(b, catparquet.Options{}), Sketches: sketches})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { v.Close() })
				return v
			}
			v := open()
			for i := 0; i < n; i += batch {
				if _, errs := v.StoreBatch(ctx, convs[i:i+batch]); errors.Join(errs...) != nil {
					t.Fatal(errors.Join(errs...))
				}
			}
			s := storeShape(t, v, b, refs)
			t.Logf("%d conversations: %d catalog files, %.0f bytes per row; %d batch objects and segments, %.0f bytes per conversation",
				s.conversations, s.catalogFiles, float64(s.catalogBytes)/float64(n), s.objects, float64(s.objectBytes)/float64(n))
			model := fromCatalog
			if !sketches {
				model = fromConversations
			}
			measure := func(name string, model func(shape) reads, run func(v *vault.Vault) error) {
				t.Helper()
				want := model(s)
				v := open() // nothing cached, as a new process
				b.reset()
				before := v.Usage()
				start := time.Now()
				if err := run(v); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				logScale(t, s, name, model, time.Since(start))
				got := reads{lists: b.lists, readUnits: v.Usage().DDBRRU - before.DDBRRU}
				for part, g := range b.gets {
					got.gets += g
					got.bytes += b.bytes[part]
				}
				if got != want {
					t.Errorf("%s read %+v (GETs %v, bytes %v); the model says %+v", name, got, b.gets, b.bytes, want)
				}
			}
			opts := analyze.Options{Query: catalog.Query{Oldest: true}}
			measure("dups", model, func(v *vault.Vault) error {
				res, err := analyze.Dups(ctx, v, opts, neardup.DefaultParams(), []string{"system"})
				if err == nil && res.Conversations != n {
					err = fmt.Errorf("compared %d conversations, want %d", res.Conversations, n)
				}
				return err
			})
			h, err := embed.NewHashed(embed.HashedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			measure("cluster", model, func(v *vault.Vault) error {
				_, err := analyze.Clusters(ctx, v, opts, h, cluster.DefaultParams(), 3, 10)
				return err
			})
			measure("search", func(s shape) reads { return searching(s, 10) }, func(v *vault.Vault) error {
				docs, err := analyze.Read(ctx, v, opts)
				if err != nil {
					return err
				}
				stored := func(d analyze.Doc) (bool, error) { return v.Stored(ctx, d.Entry) }
				hits, err := analyze.Search(docs, "database migration", search.DefaultParams(), 10, stored)
				if err == nil && len(hits) != 10 {
					err = fmt.Errorf("%d hits, want 10", len(hits))
				}
				return err
			})
		})
	}
}

var errStop = errors.New("stop")

// storeShape measures the shape of the store: its catalog files, and the batch objects and
// segments its conversations use (from their manifests).
func storeShape(t *testing.T, v *vault.Vault, b objstore.Bucket, refs refcount.Backend) shape {
	t.Helper()
	ctx := context.Background()
	var s shape
	err := b.List(ctx, catalog.FilePrefix, func(a objstore.Attrs) error {
		s.catalogFiles++
		s.catalogBytes += a.Size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	err = refs.ListPointers(ctx, func(id string, p refcount.Pointer) error {
		s.conversations++
		m, err := v.Manifest(ctx, id)
		if err != nil {
			return err
		}
		keys := []string{manifest.BatchKey(p.Batch)}
		for _, seg := range m.Segments() {
			keys = append(keys, segment.Key(seg))
		}
		for _, k := range keys {
			if _, ok := sizes[k]; !ok {
				a, err := b.Stat(ctx, k)
				if err != nil {
					return err
				}
				sizes[k] = a.Size
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range sizes {
		s.objects++
		s.objectBytes += size
	}
	return s
}

// The scale of the estimate: a year of 27,400 conversations a day, each day's catalog rows
// compacted into one file (catalog/parquet.CompactRows is 65,536), in batches of 1,000.
const (
	scaleConversations = 10_000_000
	scaleDays          = 365
	scaleBatch         = 1000
	// s3Throughput is what one process reads from S3 in the same region, in bytes a second: a
	// listing reads the catalog's files one after the other (about 90 MB/s for one stream);
	// vault.TokensOf reads batch objects in parallel, at least as fast.
	s3Throughput = 90e6
	// pointerReadSeconds is how long a strongly consistent pointer read takes.
	pointerReadSeconds = 0.005
	// listSeconds is how long a LIST takes; a listing's pages are read one after the other.
	listSeconds = 0.03
)

// logScale prints what the model says an analysis reads on 10 million conversations stored
// as s is (its bytes per conversation), and how long it would take: reading at s3Throughput,
// LISTs, pointer reads, and the CPU time the analysis took here on s (in memory, where
// requests take no time), per conversation.
func logScale(t *testing.T, s shape, name string, model func(shape) reads, took time.Duration) {
	t.Helper()
	perConv := func(x int64) int64 { return x * scaleConversations / int64(s.conversations) }
	big := shape{
		conversations: scaleConversations,
		catalogFiles:  scaleDays,
		catalogBytes:  perConv(s.catalogBytes),
		objects:       int(perConv(int64(s.objects))),
		objectBytes:   perConv(s.objectBytes),
	}
	r := model(big)
	u := cost.Usage{S3GetClass: float64(r.gets), S3PutClass: float64(r.lists), DDBRRU: r.readUnits}
	reading := float64(r.bytes)/s3Throughput + r.readUnits*pointerReadSeconds + float64(r.lists)*listSeconds
	cpu := took.Seconds() * scaleConversations / float64(s.conversations)
	t.Logf("%s on 10 million conversations: %d GETs, %d LISTs, %.1f GB, %.0f read units: $%.4f in requests; about %.0f s of reading and %.0f s of CPU (%.0f µs per conversation here)",
		name, r.gets, r.lists, float64(r.bytes)/1e9, r.readUnits, cost.DefaultPrices().Writes(u), reading, cpu, took.Seconds()*1e6/float64(s.conversations))
}
