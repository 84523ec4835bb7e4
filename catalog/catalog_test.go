package catalog_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/mem"
)

func TestEncoding(t *testing.T) {
	e := catalog.Entry{
		ID: "conv-1", Nonce: "n", Application: "app", Model: "model", Tokenizer: "tok",
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6789999, time.FixedZone("", 7200)),
		StoredAt:  time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
		Messages:  4, Tokens: map[string]int64{"user": 3, "assistant": 9}, StoredBytes: 77,
		Metadata: map[string]string{"k": "v", "n": "1"},
	}
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if e.EncodedSize() != len(b) {
		t.Fatalf("EncodedSize %d, encoding %d bytes", e.EncodedSize(), len(b))
	}
	// Version 1; five strings; created 1735779845006 as a uvarint; stored 7200994 ms later as a
	// signed varint; 4 messages, 77 bytes; 2 roles (3 = assistant: 9, 2 = user: 3); 2 metadata
	// pairs.
	const want = "\x01\x06conv-1\x01n\x03app\x05model\x03tok\x8e\x87\xaa\xa4\xc2\x32\xc4\x83\xef\x06" +
		"\x04M\x02\x03\t\x02\x03\x02\x01k\x01v\x01n\x011"
	if string(b) != want {
		t.Fatalf("encoding\n%q\nwant\n%q", b, want)
	}
	var got catalog.Entry
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(e.CreatedAt.Truncate(time.Millisecond)) || got.CreatedAt.Location() != time.UTC ||
		!got.StoredAt.Equal(e.StoredAt) || got.ID != e.ID || got.Nonce != e.Nonce || got.Application != e.Application ||
		got.Model != e.Model || got.Tokenizer != e.Tokenizer || got.Messages != e.Messages || got.StoredBytes != e.StoredBytes ||
		!maps.Equal(got.Tokens, e.Tokens) || !maps.Equal(got.Metadata, e.Metadata) {
		t.Fatalf("decoded %+v\nfrom %+v", got, e)
	}
	if got.TotalTokens() != 12 {
		t.Fatalf("TotalTokens = %d", got.TotalTokens())
	}
	for n := range len(b) {
		if err := got.UnmarshalBinary(b[:n]); err == nil {
			t.Fatalf("UnmarshalBinary of the encoding cut to %d bytes succeeded", n)
		}
	}
	if err := got.UnmarshalBinary(append(b, 0)); err == nil {
		t.Fatal("UnmarshalBinary with a trailing byte succeeded")
	}
	if n := (catalog.Entry{ID: "x"}).EncodedSize(); n <= 0 || n > 64 {
		t.Fatalf("EncodedSize of a bare entry = %d", n)
	}

	// A zero CreatedAt is written as 1970; StoredAt keeps its own time.
	stored := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	if b, err = (catalog.Entry{ID: "x", StoredAt: stored}).MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	if err := got.UnmarshalBinary(b); err != nil || !got.StoredAt.Equal(stored) || got.CreatedAt.UnixMilli() != 0 {
		t.Fatalf("zero CreatedAt: decoded created %v, stored %v (%v); want 1970 and %v", got.CreatedAt, got.StoredAt, err, stored)
	}
}

// A count larger than what follows it is rejected at once, not looped over.
func TestEncodingHugeCounts(t *testing.T) {
	b, err := catalog.Entry{ID: "x", CreatedAt: time.UnixMilli(1000), StoredAt: time.UnixMilli(1000)}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The last two bytes are the role count and the metadata count, both 0.
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"metadata", binary.AppendUvarint(b[:len(b)-1], 1<<40)},
		{"roles", binary.AppendUvarint(b[:len(b)-2], 1<<40)},
	} {
		done := make(chan error, 1)
		go func() {
			var e catalog.Entry
			done <- e.UnmarshalBinary(tc.data)
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s count of 2^40 with nothing after it decoded", tc.name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s count of 2^40: UnmarshalBinary still running after 5 s", tc.name)
		}
	}
}

// pager wraps a store and records the queries ListAll sends.
type pager struct {
	catalog.Backend
	queries []catalog.Query
	fail    error
}

func (p *pager) List(ctx context.Context, q catalog.Query) (catalog.Page, error) {
	p.queries = append(p.queries, q)
	if p.fail != nil && len(p.queries) == 2 {
		return catalog.Page{}, p.fail
	}
	return p.Backend.List(ctx, q)
}

func TestListAllPages(t *testing.T) {
	ctx := t.Context()
	s := mem.New()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 2*catalog.MaxLimit + 5
	for i := range n {
		if err := s.Put(ctx, catalog.Entry{ID: fmt.Sprintf("c%05d", i), StoredAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	p := &pager{Backend: s}
	var ids []string
	err := catalog.ListAll(ctx, p, catalog.Query{Oldest: true, Limit: 3, Cursor: "ignored"}, func(e catalog.Entry) error {
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n || ids[0] != "c00000" || ids[n-1] != fmt.Sprintf("c%05d", n-1) {
		t.Fatalf("ListAll: %d ids from %s to %s", len(ids), ids[0], ids[len(ids)-1])
	}
	if len(p.queries) != 3 {
		t.Fatalf("ListAll sent %d List calls, want 3 pages of MaxLimit", len(p.queries))
	}
	for i, q := range p.queries {
		if q.Limit != catalog.MaxLimit || (i == 0) != (q.Cursor == "") || !q.Oldest {
			t.Errorf("List call %d: %+v", i, q)
		}
	}

	boom := errors.New("boom")
	p = &pager{Backend: s, fail: boom}
	calls := 0
	err = catalog.ListAll(ctx, p, catalog.Query{}, func(catalog.Entry) error { calls++; return nil })
	if !errors.Is(err, boom) || calls != catalog.MaxLimit {
		t.Fatalf("ListAll with a failing second page: %v after %d entries", err, calls)
	}
}
