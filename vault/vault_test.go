package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/internal/fakeclock"
	"github.com/stowken/stowken/internal/testenv"
	"github.com/stowken/stowken/objstore"
	objfaulty "github.com/stowken/stowken/objstore/faulty"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/refcount"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/tokenizer"
)

// sameJSON reports whether two JSON texts are equal as values.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("unmarshal %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// checkRoundTrip retrieves every conversation and compares its JSON form with the input line.
func checkRoundTrip(t *testing.T, v *Vault, convs []*conversation.Conversation, lines [][]byte) {
	t.Helper()
	ids := make([]string, len(convs))
	for i, c := range convs {
		ids[i] = c.ID
	}
	got, errs := v.RetrieveBatch(context.Background(), ids)
	exact := 0
	for i := range convs {
		if errs[i] != nil {
			t.Fatalf("retrieve %q: %v", ids[i], errs[i])
		}
		out, err := conversation.Marshal(got[i])
		if err != nil {
			t.Fatal(err)
		}
		if string(out) == string(lines[i]) {
			exact++
		} else if !sameJSON(t, out, lines[i]) {
			t.Fatalf("conversation %q changed:\n in: %.400s\nout: %.400s", ids[i], lines[i], out)
		}
	}
	t.Logf("%d conversations round-tripped, %d byte-identical to the input line", len(convs), exact)
}

func TestRoundTripSample(t *testing.T) {
	v, _, _ := newMemVault(t, Options{})
	convs, lines := readCorpus(t, corpus.Path(t, "sample.jsonl"), 1)
	storeAll(t, v, convs)
	checkRoundTrip(t, v, convs, lines)
}

// TestRoundTripChatAllTokenizers stores a large slice of every chat corpus file, each
// conversation under one of the four tokenizers in turn, and checks every one comes back exactly.
func TestRoundTripChatAllTokenizers(t *testing.T) {
	every := 3
	if testing.Short() {
		every = 25
	}
	v, _, _ := newMemVault(t, Options{})
	names := tokenizer.Names()
	var all []*conversation.Conversation
	var allLines [][]byte
	for _, f := range corpus.Glob(t, "chat/*.jsonl.gz") {
		convs, lines := readCorpus(t, f, every)
		for i, c := range convs {
			c.Tokenizer = names[i%len(names)]
			line, err := conversation.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			lines[i] = line
		}
		all, allLines = append(all, convs...), append(allLines, lines...)
	}
	storeAll(t, v, all)
	checkRoundTrip(t, v, all, allLines)
	// A fresh vault over the same backends (models loaded from the store) reads them too.
	v2, err := New(context.Background(), Options{Bucket: v.bucket, Refs: v.refs})
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, v2, all[:200], allLines[:200])
}

func TestTokensInTokensOut(t *testing.T) {
	v, _, _ := newMemVault(t, Options{})
	tok, _ := tokenizer.Get("o200k_base")
	partial := tok.Encode("héllo wörld — ✓")
	c := &conversation.Conversation{Tokenizer: "o200k_base", Messages: []conversation.Message{
		{Role: "user", Tokens: partial},
		{Role: "assistant", Tokens: []int{}},
		{Role: "tool", Content: "", ToolCallID: "c1", Name: "f"},
		{Role: "assistant", ContentNull: true, ToolCalls: []conversation.ToolCall{{ID: "c2", Type: "function", Name: "g", Arguments: `{"a": [1, 2]}`}}},
		{Role: "user", Tokens: partial[:1]}, // a partial UTF-8 sequence stays tokens
	}}
	res, err := v.Store(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.ID, "-") || c.ID != res.ID {
		t.Fatalf("generated id %q not written back (%q)", res.ID, c.ID)
	}
	got, err := v.Retrieve(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v\nwant %+v", got, c)
	}
}

// countSegments returns the number of segment objects in the bucket.
func countSegments(t *testing.T, b objstore.Bucket) int {
	t.Helper()
	n := 0
	if err := b.List(context.Background(), segment.Prefix, func(objstore.Attrs) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// words returns n pseudo-random words, deterministic for seed.
var words = testenv.Words

func TestDedupRepeatedMessage(t *testing.T) {
	v, b, _ := newMemVault(t, Options{})
	system := words(1, 2000) // a long system prompt
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		c := &conversation.Conversation{ID: fmt.Sprintf("c%d", i), Tokenizer: "cl100k_base", Messages: []conversation.Message{
			{Role: "system", Content: system},
			{Role: "user", Content: fmt.Sprintf("question %d", i)},
		}}
		if _, err := v.Store(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	one := countSegments(t, b)
	if one == 0 {
		t.Fatal("a 2000-word system prompt produced no segment objects")
	}
	// A new conversation with the same prompt adds no segment.
	res, err := v.Store(ctx, &conversation.Conversation{ID: "again", Tokenizer: "cl100k_base", Messages: []conversation.Message{{Role: "system", Content: system}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.NewSegments != 0 || countSegments(t, b) != one {
		t.Fatalf("repeated system prompt stored again: %d new segments, %d objects (was %d)", res.NewSegments, countSegments(t, b), one)
	}
	t.Logf("20 conversations sharing a %d-token prompt: %d segment objects", res.Tokens, one)
}

func TestDedupEmbeddedPassage(t *testing.T) {
	v, b, _ := newMemVault(t, Options{})
	ctx := context.Background()
	doc := words(7, 8000) // a RAG document pasted into different messages
	a := &conversation.Conversation{ID: "a", Tokenizer: "cl100k_base", Messages: []conversation.Message{
		{Role: "user", Content: "Summarise this document for me please:\n\n" + doc + "\n\nThanks!"}}}
	if _, err := v.Store(ctx, a); err != nil {
		t.Fatal(err)
	}
	before := countSegments(t, b)
	c := &conversation.Conversation{ID: "b", Tokenizer: "cl100k_base", Messages: []conversation.Message{
		{Role: "system", Content: "You answer from documents."},
		{Role: "user", Content: "Here are the retrieved passages. [Document 1]\n" + doc + "\nWhat does w17 mean?"}}}
	res, err := v.Store(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments < 3 {
		t.Fatalf("passage cut into only %d segments", res.Segments)
	}
	// Only the pieces at the edges of the passage may be new.
	if res.NewSegments > 2 {
		t.Fatalf("embedded passage not deduplicated: %d of %d segments new", res.NewSegments, res.Segments)
	}
	t.Logf("passage of %d tokens: %d segments, %d new (objects %d → %d)", res.Tokens, res.Segments, res.NewSegments, before, countSegments(t, b))
}

func TestStoreIdempotentAndConflict(t *testing.T) {
	v, b, _ := newMemVault(t, Options{})
	ctx := context.Background()
	c := &conversation.Conversation{ID: "x", Tokenizer: "cl100k_base", Messages: []conversation.Message{{Role: "user", Content: words(3, 1000)}}}
	if _, err := v.Store(ctx, c); err != nil {
		t.Fatal(err)
	}
	n := countSegments(t, b)
	res, err := v.Store(ctx, c)
	if err != nil || !res.Existed {
		t.Fatalf("second store: %+v, %v; want Existed", res, err)
	}
	d := &conversation.Conversation{ID: "x", Tokenizer: "cl100k_base", Messages: []conversation.Message{{Role: "user", Content: "other"}}}
	if _, err := v.Store(ctx, d); !errors.Is(err, ErrConflict) {
		t.Fatalf("different conversation under the same id: %v, want ErrConflict", err)
	}
	if countSegments(t, b) != n {
		t.Fatal("failed stores changed the segment objects")
	}
	rep, err := v.Verify(ctx, VerifyOptions{MinAge: 1})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	v, b, r := newMemVault(t, Options{})
	ctx := context.Background()
	long := strings.Repeat("x", 513)
	cases := map[string]*conversation.Conversation{
		"unknown tokenizer": {ID: "a", Tokenizer: "gpt2000", Messages: []conversation.Message{{Role: "user", Content: "hi"}}},
		"unknown role":      {ID: "a", Tokenizer: "cl100k_base", Messages: []conversation.Message{{Role: "robot", Content: "hi"}}},
		"token past vocab":  {ID: "a", Tokenizer: "r50k_base", Messages: []conversation.Message{{Role: "user", Tokens: []int{1, 50257}}}},
		"negative token":    {ID: "a", Tokenizer: "r50k_base", Messages: []conversation.Message{{Role: "user", Tokens: []int{-1}}}},
		"content and tokens": {ID: "a", Tokenizer: "cl100k_base", Messages: []conversation.Message{
			{Role: "user", Content: "x", Tokens: []int{1}}}},
		"long id":          {ID: long, Tokenizer: "cl100k_base"},
		"slash in id":      {ID: "a/b", Tokenizer: "cl100k_base"},
		"dotdot in id":     {ID: "a..b", Tokenizer: "cl100k_base"},
		"control in id":    {ID: "a\x01b", Tokenizer: "cl100k_base"},
		"metadata array":   {ID: "a", Tokenizer: "cl100k_base", Metadata: []byte(`[1]`)},
		"invalid metadata": {ID: "a", Tokenizer: "cl100k_base", Metadata: []byte(`{"a":`)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := v.Store(ctx, c)
			if !errors.Is(err, conversation.ErrInvalid) {
				t.Fatalf("err = %v, want conversation.ErrInvalid", err)
			}
		})
	}
	var objects, refs int
	b.List(ctx, "", func(objstore.Attrs) error { objects++; return nil })
	r.ListRefs(ctx, func(refcount.Ref) error { refs++; return nil })
	if objects != 0 || refs != 0 {
		t.Fatalf("rejected input left %d objects and %d references", objects, refs)
	}
}

func TestCorruptSegmentAndManifest(t *testing.T) {
	v, b, r := newMemVault(t, Options{CacheBytes: -1})
	ctx := context.Background()
	c := &conversation.Conversation{ID: "c", Tokenizer: "cl100k_base", Messages: []conversation.Message{{Role: "user", Content: words(9, 3000)}}}
	if _, err := v.Store(ctx, c); err != nil {
		t.Fatal(err)
	}
	var segKey string
	b.List(ctx, segment.Prefix, func(a objstore.Attrs) error { segKey = a.Key; return nil })
	frame, _, _ := b.Get(ctx, segKey)
	for name, bad := range map[string][]byte{
		"flipped byte": flip(frame, len(frame)/2),
		"truncated":    frame[:len(frame)-5],
		"empty":        {},
	} {
		if _, err := b.Put(ctx, segKey, bad, objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := v.Retrieve(ctx, "c")
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), segKey[strings.LastIndexByte(segKey, '/')+1:]) {
			t.Fatalf("%s segment: err = %v, want ErrCorrupt naming the segment", name, err)
		}
	}
	b.Put(ctx, segKey, frame, objstore.PutOptions{})
	if _, err := v.Retrieve(ctx, "c"); err != nil {
		t.Fatalf("restored segment: %v", err)
	}
	b.Delete(ctx, segKey)
	if _, err := v.Retrieve(ctx, "c"); !errors.Is(err, ErrMissingSegment) {
		t.Fatalf("missing segment: err = %v, want ErrMissingSegment", err)
	}
	rep, err := v.Verify(ctx, VerifyOptions{})
	if err != nil || rep.OK() || rep.MissingSegments != 1 {
		t.Fatalf("verify of a store with a missing segment: %+v, %v", rep, err)
	}
	b.Put(ctx, segKey, frame, objstore.PutOptions{})

	mkey := batchKey(t, r, "c")
	m, _, _ := b.Get(ctx, mkey)
	for name, bad := range map[string][]byte{
		"flipped byte": flip(m, len(m)/2),
		"truncated":    m[:len(m)/2],
		"not zstd":     []byte("hello"),
		"not a batch":  zstdOf(t, []byte(`{"schema_version":1}`)),
	} {
		b.Put(ctx, mkey, bad, objstore.PutOptions{})
		if _, err := v.Retrieve(ctx, "c"); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNewerVersion) {
			t.Fatalf("%s batch object: err = %v, want ErrCorrupt", name, err)
		}
	}
	// A manifest of a newer schema is no corruption: this build cannot read it.
	newer := append([]byte("stowken-batch 1\n\x01\x15"), `{"schema_version":99}`...)
	b.Put(ctx, mkey, zstdOf(t, newer), objstore.PutOptions{})
	_, err = v.Retrieve(ctx, "c")
	if !errors.Is(err, ErrNewerVersion) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "newer stowken") {
		t.Fatalf("newer schema manifest: err = %v, want ErrNewerVersion saying a newer stowken wrote it", err)
	}
	if rep, err := v.Verify(ctx, VerifyOptions{}); err != nil || rep.OK() || rep.CorruptManifests != 0 || rep.Unreadable != 1 {
		t.Fatalf("verify of a newer manifest: %+v, %v; want it unreadable, not corrupt", rep, err)
	}
}

// TestModelReadFailureIsNotCorruption: a conversation written with a compression model that
// the reading vault has not loaded yet, whose read of the model fails (a transient error), is
// an error to retry, not ErrCorrupt; the next read succeeds.
func TestModelReadFailureIsNotCorruption(t *testing.T) {
	ctx := context.Background()
	fb := objfaulty.New(objmem.New())
	r := refmem.New()
	reader, err := New(ctx, Options{Bucket: fb, Refs: r, CacheBytes: -1}) // opened before any model exists
	if err != nil {
		t.Fatal(err)
	}
	writer, err := New(ctx, Options{Bucket: fb, Refs: r})
	if err != nil {
		t.Fatal(err)
	}
	models := func() int {
		n := 0
		fb.Inner().List(ctx, codec.ModelPrefix, func(objstore.Attrs) error { n++; return nil })
		return n
	}
	for i := 0; models() == 0; i++ {
		if i == 100 {
			t.Fatal("no compression model built after 100 conversations")
		}
		if _, err := writer.Store(ctx, gcConv(fmt.Sprintf("warm-%d", i), i, i, i)); err != nil {
			t.Fatal(err)
		}
	}
	c := gcConv("late", 7, 8, 9)
	if _, err := writer.Store(ctx, c); err != nil {
		t.Fatal(err)
	}
	fb.Add(&objfaulty.Fault{Match: objfaulty.OnPrefix(objfaulty.OpGet, codec.ModelPrefix), Kind: objfaulty.FailBefore})
	_, err = reader.Retrieve(ctx, "late")
	if err == nil || errors.Is(err, ErrCorrupt) || !errors.Is(err, objfaulty.ErrInjected) {
		t.Fatalf("retrieve while the model cannot be read: %v, want the read error, not ErrCorrupt", err)
	}
	if err := retrievesExactly(ctx, reader, c); err != nil {
		t.Fatalf("retrieve once the model can be read: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x40
	return out
}

// TestConcurrentStoreRetrieveDelete runs many goroutines storing, retrieving and deleting
// overlapping conversations (shared prompts) and checks every retrieval is exact, then that
// GC and Verify leave a consistent store with nothing leaked.
func TestConcurrentStoreRetrieveDelete(t *testing.T) {
	v, b, _ := newMemVault(t, Options{Concurrency: 4})
	ctx := context.Background()
	prompts := []string{words(11, 1500), words(12, 1500), words(13, 800)}
	mk := func(i int) *conversation.Conversation {
		i %= 40
		return &conversation.Conversation{ID: fmt.Sprintf("conv-%d", i), Tokenizer: "cl100k_base", Messages: []conversation.Message{
			{Role: "system", Content: prompts[i%3]},
			{Role: "user", Content: words(100+i%40, 50)},
			{Role: "assistant", Content: words(200+i%40, 400)},
		}}
	}
	var wg sync.WaitGroup
	errc := make(chan error, 1000)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 60; k++ {
				i := g*60 + k
				want := mk(i)
				switch k % 3 {
				case 0:
					if _, err := v.Store(ctx, want); err != nil {
						errc <- err
					}
				case 1:
					got, err := v.Retrieve(ctx, want.ID)
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						errc <- err
					} else if !reflect.DeepEqual(got, want) {
						errc <- fmt.Errorf("%s retrieved differently", want.ID)
					}
				case 2:
					if err := v.Delete(ctx, want.ID); err != nil && !errors.Is(err, ErrNotFound) {
						errc <- err
					}
				}
				if k%20 == 19 {
					if _, err := v.GC(ctx, GCOptions{}); err != nil {
						errc <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	rep, err := v.Verify(ctx, VerifyOptions{MinAge: 1})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	// The audit, once past its minimum age, makes the catalog match the manifests exactly
	// (a Store whose catalog write failed under load leaves its entry missing).
	later, err := New(ctx, Options{Bucket: b, Refs: v.refs, Catalog: v.catalog, Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := later.Verify(ctx, VerifyOptions{Repair: true}); err != nil || !rep.OK() {
		t.Fatalf("verify --repair: %+v %v", rep, err)
	} else if rep.StaleCatalogEntries+rep.MissingCatalogEntries > 0 {
		t.Logf("repaired %d stale and %d missing catalog entries", rep.StaleCatalogEntries, rep.MissingCatalogEntries)
	}
	manifests := 0
	v.refs.ListPointers(ctx, func(string, refcount.Pointer) error { manifests++; return nil })
	// Delete everything, collect, and nothing may remain.
	page, _ := v.List(ctx, catalog.Query{Limit: 1000})
	if len(page.Entries) != manifests {
		t.Fatalf("the repaired catalog lists %d conversations, the store holds %d pointers", len(page.Entries), manifests)
	}
	for _, s := range page.Entries {
		if err := v.Delete(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The batches retire past their writer deadline: collect as a run two days later would.
	for range 2 {
		if _, err := later.GC(ctx, GCOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := countSegments(t, b); n != 0 {
		t.Fatalf("%d segment objects left after deleting everything and GC", n)
	}
}

// TestPackLifecycle stores a batch whose small unique parts are packed together, then deletes
// its members one by one: each deletion's collection compacts the batch into one pack of the
// members left (the pack before it is collected), and the last deletion leaves no segment;
// storing the same batch again changes nothing.
func TestPackLifecycle(t *testing.T) {
	clock := &fakeclock.Clock{}
	v, b, _ := newMemVault(t, Options{Now: clock.Now})
	ctx := context.Background()
	prompt := words(1, 800) // one piece of lookupTokens or more: a segment of its own
	var convs []*conversation.Conversation
	for i := 0; i < 12; i++ {
		convs = append(convs, &conversation.Conversation{ID: fmt.Sprintf("p%02d", i), Application: "app", Tokenizer: "cl100k_base",
			Messages: []conversation.Message{
				{Role: "system", Content: prompt},                 // shared: its own segments
				{Role: "user", Content: words(300+i, 40)},         // small: packed
				{Role: "assistant", Content: words(400+i, 700)}}}) // long but unique: packed
	}
	lines := make([][]byte, len(convs))
	for i, c := range convs {
		lines[i], _ = conversation.Marshal(c)
	}
	res, errs := v.StoreBatch(ctx, convs)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := v.Manifest(ctx, "p00")
	if err != nil {
		t.Fatal(err)
	}
	packID := m.Chunks[len(m.Chunks)-1].Segment
	shared := 0
	for _, c := range m.Chunks[:len(m.Chunks)-1] {
		if c.Segment != packID {
			shared++
		}
	}
	if m.Chunks[len(m.Chunks)-1].Offset != 0 || shared == 0 {
		t.Fatalf("p00 chunks %+v: want the prompt's segments, then its slice of a pack", m.Chunks)
	}
	objects := countSegments(t, b)
	t.Logf("12 conversations: %d segment objects (prompt segments %d + 1 pack); results %+v", objects, shared, res[0])
	if objects != shared+1 {
		t.Fatalf("%d segment objects, want %d prompt segments + 1 pack", objects, shared)
	}
	checkRoundTrip(t, v, convs, lines)

	// Storing the batch again: everything exists, and the store is as it was.
	again, errs := v.StoreBatch(ctx, convs)
	for i, err := range errs {
		if err != nil || !again[i].Existed {
			t.Fatalf("re-store %d: %+v %v", i, again[i], err)
		}
	}
	if n := countSegments(t, b); n != objects {
		t.Fatalf("re-storing the batch left %d segment objects, want %d", n, objects)
	}

	for i, c := range convs {
		if err := v.Delete(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		collectDeleted(t, v, clock)
		if _, err := b.Stat(ctx, segment.Key(packID)); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("after deleting %d of %d members: the pack before is still there (%v)", i+1, len(convs), err)
		}
		if i < len(convs)-2 {
			m, err := v.Manifest(ctx, convs[i+1].ID)
			if err != nil {
				t.Fatal(err)
			}
			packID = m.Chunks[len(m.Chunks)-1].Segment
			if n := countSegments(t, b); n != shared+1 {
				t.Fatalf("after deleting %d of %d members: %d segment objects, want %d prompt segments + 1 pack", i+1, len(convs), n, shared)
			}
		}
		if i < len(convs)-1 {
			checkRoundTrip(t, v, convs[i+1:], lines[i+1:])
		}
	}
	if n := countSegments(t, b); n != 0 {
		t.Fatalf("%d segment objects left after deleting everything", n)
	}
}

// TestStoreRequests checks the request budget of one Store: one PUT for the batch object plus
// one per new segment, no catalog file, no HEAD, no GET (after the Vault's one check of the
// bucket, which the first Store pays); and that StoreResult reports exactly what the backends
// saw.
func TestStoreRequests(t *testing.T) {
	v, _, _ := newMemVault(t, Options{})
	ctx := context.Background()
	prompt := words(41, 1500)
	for i := range 3 {
		before := v.Usage()
		res, err := v.Store(ctx, &conversation.Conversation{ID: fmt.Sprintf("r%d", i), Tokenizer: "cl100k_base",
			Messages: []conversation.Message{{Role: "system", Content: prompt}, {Role: "user", Content: words(50+i, 30)}}})
		if err != nil {
			t.Fatal(err)
		}
		got := v.Usage().Sub(before)
		if got != res.Usage {
			t.Fatalf("store %d: StoreResult.Usage %+v, backends saw %+v", i, res.Usage, got)
		}
		if i == 0 {
			// The Vault's first write checks the bucket's conditional writes once: the marker's
			// GET, the probe's four PUTs and its DELETE, and the marker's PUT (condcheck.go).
			got = got.Sub(cost.Usage{S3GetClass: 1, S3PutClass: 5, S3Delete: 1})
		}
		// The batch object and the new segments.
		if got.S3PutClass != float64(1+res.NewSegments) || got.S3GetClass != 0 || got.S3Delete != 0 {
			t.Fatalf("store %d: %+v for %d new segments; want 1+new PUTs, no HEAD, GET or DELETE", i, got, res.NewSegments)
		}
		if i > 0 && res.NewSegments != 0 {
			t.Fatalf("store %d uploaded %d segments of a shared prompt", i, res.NewSegments)
		}
	}
}

// TestRetrieveBatchSharesReads retrieves conversations that share segments (a system prompt,
// packs) with a cold cache: every distinct segment is read once, however many of the
// concurrent retrievals need it.
func TestRetrieveBatchSharesReads(t *testing.T) {
	_, b, r := newMemVault(t, Options{})
	ctx := context.Background()
	writer, err := New(ctx, Options{Bucket: b, Refs: r})
	if err != nil {
		t.Fatal(err)
	}
	prompt := words(1, 600)
	var convs []*conversation.Conversation
	var ids []string
	for i := range 120 {
		c := &conversation.Conversation{ID: fmt.Sprintf("c%d", i), Tokenizer: "cl100k_base", Messages: []conversation.Message{
			{Role: "system", Content: prompt}, {Role: "user", Content: words(10+i, 80)}, {Role: "assistant", Content: words(500+i, 120)}}}
		convs = append(convs, c)
		ids = append(ids, c.ID)
	}
	if _, errs := writer.StoreBatch(ctx, convs); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	segments := countSegments(t, b)
	models := 0
	b.List(ctx, codec.ModelPrefix, func(objstore.Attrs) error { models++; return nil })

	reader, err := New(ctx, Options{Bucket: b, Refs: r, Concurrency: 32})
	if err != nil {
		t.Fatal(err)
	}
	before := reader.Usage()
	got, errs := reader.RetrieveBatch(ctx, ids)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], convs[i]) {
			t.Fatalf("%s retrieved differently", ids[i])
		}
	}
	gets := reader.Usage().Sub(before).S3GetClass
	if want := float64(1 + segments); gets != want {
		t.Errorf("RetrieveBatch of %d conversations over %d segments made %v GETs, want %v (one for their batch object and one per segment)", len(ids), segments, gets, want)
	}
	t.Logf("%d conversations, %d segments, %d models: %v GETs", len(ids), segments, models, gets)
}

// TestBatchContinuesBase stores an API log in one batch: request k repeats request k-1's
// messages and adds a turn. Each turn is packed once (the packs hold about the unique tokens,
// not every request's), every request round-trips, and deleting the requests a later one
// continues, then collecting, leaves it intact.
func TestBatchContinuesBase(t *testing.T) {
	clock := &fakeclock.Clock{}
	v, b, _ := newMemVault(t, Options{Now: clock.Now})
	ctx := context.Background()
	var convs []*conversation.Conversation
	unique := 0
	msgs := []conversation.Message{{Role: "system", Content: "You are terse."}}
	tok, _ := tokenizer.Get("cl100k_base")
	for k := 1; k <= 6; k++ {
		turn := []conversation.Message{{Role: "user", Content: words(10*k, 40)}, {Role: "assistant", Content: words(10*k+1, 60)}}
		for _, m := range turn {
			unique += len(tok.Encode(m.Content))
		}
		msgs = append(slices.Clone(msgs), turn...)
		convs = append(convs, &conversation.Conversation{ID: fmt.Sprintf("log#%d", k), Tokenizer: "cl100k_base", Messages: msgs})
	}
	storeAll(t, v, convs)
	// The last request's chunks: its history's slice of the pack and its own are adjacent, and
	// merged.
	if m, err := v.readManifest(ctx, "log#6"); err != nil || len(m.Chunks) != 1 {
		t.Errorf("log#6's manifest has chunks %+v (%v), want one slice of the pack", m.Chunks, err)
	}
	if max, stored := unique+10, storedTokens(t, b); stored > max {
		t.Errorf("segments hold %d tokens; the six requests have %d unique tokens (each request's history stored again?)", stored, unique)
	}
	for _, id := range []string{"log#1", "log#2", "log#3", "log#4", "log#5"} {
		if err := v.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	collectDeleted(t, v, clock)
	got, err := v.Retrieve(ctx, "log#6")
	if err != nil || !reflect.DeepEqual(got, convs[5]) {
		t.Fatalf("log#6 after its bases were deleted and collected: %v", err)
	}
	if err := v.Delete(ctx, "log#6"); err != nil {
		t.Fatal(err)
	}
	collectDeleted(t, v, clock)
	if n := countSegments(t, b); n != 0 {
		t.Fatalf("%d segments left after deleting everything", n)
	}
}

// TestPackSharesRecurringPiece: a new long piece that a few conversations of a batch share (two
// answers to one long prompt) is packed once, and both reference its slice; a piece shared by
// packUses of them or more becomes a segment of its own.
func TestPackSharesRecurringPiece(t *testing.T) {
	ctx := context.Background()
	tok, _ := tokenizer.Get("cl100k_base")
	for _, users := range []int{2, packUses} {
		v, b, _ := newMemVault(t, Options{})
		prompt := words(77, 1500)
		var convs []*conversation.Conversation
		var lines [][]byte
		for i := range users {
			c := &conversation.Conversation{ID: fmt.Sprintf("pair-%d", i), Tokenizer: "cl100k_base", Messages: []conversation.Message{
				{Role: "user", Content: prompt}, {Role: "assistant", Content: words(80+i, 60)}}}
			line, _ := conversation.Marshal(c)
			convs, lines = append(convs, c), append(lines, line)
		}
		if _, errs := v.StoreBatch(ctx, convs); errors.Join(errs...) != nil {
			t.Fatal(errors.Join(errs...))
		}
		checkRoundTrip(t, v, convs, lines)
		stored, promptTokens := storedTokens(t, b), len(tok.Encode(prompt))
		objects := countSegments(t, b)
		switch {
		case users < packUses && (objects != 1 || stored >= 2*promptTokens):
			t.Errorf("%d users of a new long piece: %d segment objects holding %d tokens; want one pack holding the %d-token piece once", users, objects, stored, promptTokens)
		case users >= packUses && objects < 2:
			t.Errorf("%d users of a new long piece: %d segment objects; want the piece's own segments next to the pack", users, objects)
		}
	}
}

// TestPackShortSharedPiece: a piece shorter than lookupTokens that many conversations of a
// batch share (a short system prompt) is packed, once, rather than made a segment of its own.
func TestPackShortSharedPiece(t *testing.T) {
	ctx := context.Background()
	tok, _ := tokenizer.Get("cl100k_base")
	v, b, _ := newMemVault(t, Options{})
	prompt := words(1, 300)
	promptTokens := len(tok.Encode(prompt))
	if pieces := segment.Cut("cl100k_base", [][]int{tok.Encode(prompt)}); len(pieces) != 1 || pieces[0].ID == "" || promptTokens >= lookupTokens {
		t.Fatalf("fixture: a prompt of %d tokens in %d pieces, want one segment shorter than lookupTokens", promptTokens, len(pieces))
	}
	var convs []*conversation.Conversation
	var lines [][]byte
	others := 0 // the tokens of the messages other than the prompt
	for i := range 2 * packUses {
		c := &conversation.Conversation{ID: fmt.Sprintf("short-%d", i), Tokenizer: "cl100k_base", Messages: []conversation.Message{
			{Role: "system", Content: prompt}, {Role: "user", Content: words(90+i, 30)}, {Role: "assistant", Content: words(190+i, 40)}}}
		line, _ := conversation.Marshal(c)
		convs, lines = append(convs, c), append(lines, line)
		others += len(tok.Encode(c.Messages[1].Content)) + len(tok.Encode(c.Messages[2].Content))
	}
	if _, errs := v.StoreBatch(ctx, convs); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	checkRoundTrip(t, v, convs, lines)
	if objects, stored := countSegments(t, b), storedTokens(t, b); objects != 1 || stored >= others+2*promptTokens {
		t.Errorf("%d users of a %d-token prompt (%d other tokens): %d segment objects holding %d tokens; want one pack holding the prompt once",
			len(convs), promptTokens, others, objects, stored)
	}
}

// storedTokens is the number of tokens the bucket's segment objects hold, packs included.
func storedTokens(t *testing.T, b objstore.Bucket) int {
	t.Helper()
	ctx, stored := context.Background(), 0
	err := b.List(ctx, segment.Prefix, func(a objstore.Attrs) error {
		data, _, err := b.Get(ctx, a.Key)
		if err != nil {
			return err
		}
		h, err := codec.ReadHeader(data)
		stored += h.Tokens
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// TestStoreInlinesShortPieces: a conversation stored alone keeps its pieces shorter than
// lookupTokens in its batch object, so that it makes no segment object; a long piece stays a
// segment of its own, which the next conversation using it deduplicates.
func TestStoreInlinesShortPieces(t *testing.T) {
	ctx := context.Background()
	v, b, _ := newMemVault(t, Options{})
	short := &conversation.Conversation{ID: "short", Tokenizer: "cl100k_base", Messages: []conversation.Message{
		{Role: "system", Content: words(1, 600)}, {Role: "user", Content: words(2, 500)}, {Role: "assistant", Content: words(3, 400)}}}
	// The first write of a Vault checks the bucket's conditional writes.
	if err := v.CheckConditionalWrites(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := v.Store(ctx, short)
	if err != nil {
		t.Fatal(err)
	}
	if n := countSegments(t, b); n != 0 || res.NewSegments != 0 || res.Usage.S3PutClass != 1 {
		t.Fatalf("a conversation of short pieces: %d segment objects, %d new, %g PUTs; want none, and one PUT (its batch object)",
			n, res.NewSegments, res.Usage.S3PutClass)
	}
	doc := words(7, 8000) // pieces of 2,048 tokens or more among others
	long := func(id string, seed int) *conversation.Conversation {
		return &conversation.Conversation{ID: id, Tokenizer: "cl100k_base", Messages: []conversation.Message{
			{Role: "user", Content: doc}, {Role: "assistant", Content: words(seed, 300)}}}
	}
	first, err := v.Store(ctx, long("long-1", 11))
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Store(ctx, long("long-2", 12))
	if err != nil {
		t.Fatal(err)
	}
	if first.NewSegments == 0 || first.NewSegments != first.Segments || second.NewSegments != 0 || second.Segments != first.Segments {
		t.Fatalf("a long document stored twice: %d of %d segments new, then %d of %d; want its long pieces as segments, deduplicated the second time",
			first.NewSegments, first.Segments, second.NewSegments, second.Segments)
	}
	convs := []*conversation.Conversation{short, long("long-1", 11), long("long-2", 12)}
	var lines [][]byte
	for _, c := range convs {
		line, _ := conversation.Marshal(c)
		lines = append(lines, line)
	}
	checkRoundTrip(t, v, convs, lines)
}
