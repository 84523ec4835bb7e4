package parquet

import (
	"bytes"
	"context"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/catalogtest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/mem"
)

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Backend { return New(mem.New(), Options{}) })
}

func TestConformanceWithoutCache(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Backend { return New(mem.New(), Options{CacheBytes: -1}) })
}

// rowBeforeSketches is Row as files written before the sketch columns held it.
type rowBeforeSketches struct {
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
}

// TestReadFilesBeforeSketches: a file without the minhash and vector columns reads as entries
// without sketches, next to a file with them.
func TestReadFilesBeforeSketches(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	old := []rowBeforeSketches{{ID: "old", Nonce: "n1", CreatedAt: created, StoredAt: created, Messages: 2,
		Tokens: map[string]int64{"user": 3}, TotalTokens: 3, StoredBytes: 10}}
	if err := pq.Write(&buf, old); err != nil {
		t.Fatal(err)
	}
	ms := created.UnixMilli()
	if _, err := b.Put(ctx, fileKey(ms, ms), buf.Bytes(), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	s := New(b, Options{})
	sketched := catalog.Entry{ID: "new", Nonce: "n2", CreatedAt: created.Add(time.Second), StoredAt: created,
		Signature: []byte{1, 2, 3}, Vector: []byte{4, 5}}
	if err := s.Put(ctx, sketched); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, catalog.Query{Oldest: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 || page.Entries[0].ID != "old" || page.Entries[1].ID != "new" {
		t.Fatalf("List = %+v, want old and new", page.Entries)
	}
	if e := page.Entries[0]; e.Signature != nil || e.Vector != nil || e.Tokens["user"] != 3 {
		t.Errorf("the old file's entry: %+v, want its tokens and no sketches", e)
	}
	if e := page.Entries[1]; !bytes.Equal(e.Signature, sketched.Signature) || !bytes.Equal(e.Vector, sketched.Vector) {
		t.Errorf("the new file's entry: signature %x, vector %x; want %x, %x", e.Signature, e.Vector, sketched.Signature, sketched.Vector)
	}
}
