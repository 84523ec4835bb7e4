package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	catmem "github.com/stowken/stowken/catalog/mem"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/internal/fakeclock"
	objmem "github.com/stowken/stowken/objstore/mem"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/sketch"
	"github.com/stowken/stowken/tokenizer"
)

// failingCatalog fails Put or Delete while told to, as a crash between a Store's (or a
// Delete's) manifest write and its catalog write would leave things.
type failingCatalog struct {
	catalog.Backend
	failPut, failDelete atomic.Bool
}

var errCatalogDown = errors.New("catalog down")

func (f *failingCatalog) Put(ctx context.Context, entries ...catalog.Entry) error {
	if f.failPut.Load() {
		return errCatalogDown
	}
	return f.Backend.Put(ctx, entries...)
}

func (f *failingCatalog) Delete(ctx context.Context, e catalog.Entry) error {
	if f.failDelete.Load() {
		return errCatalogDown
	}
	return f.Backend.Delete(ctx, e)
}

// catalogConv is conversation i of the catalog tests: application a or b, model m1..m3,
// created one minute apart, metadata team x or y.
func catalogConv(i int) *conversation.Conversation {
	return &conversation.Conversation{
		ID: fmt.Sprintf("id-%02d", i), Application: []string{"a", "b"}[i%2], Model: []string{"m1", "m2", "m3"}[i%3],
		Tokenizer: "cl100k_base", CreatedAt: time.Date(2026, 11, 1, 0, i, 0, 0, time.UTC),
		Metadata: []byte(fmt.Sprintf(`{"team":%q,"n":%d,"nested":{"x":1}}`, []string{"x", "y"}[i%4/2], i)),
		Messages: []conversation.Message{
			{Role: "system", Content: "Be brief."}, {Role: "user", Content: words(i, 20)}, {Role: "assistant", Content: words(100+i, 30)}},
	}
}

func ids(entries []catalog.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

// TestListFiltersOrderCursor lists through the vault: filters, both orders, and cursors that
// page through everything exactly once.
func TestListFiltersOrderCursor(t *testing.T) {
	v, _, _ := newMemVault(t, Options{})
	ctx := context.Background()
	for i := range 25 {
		if _, err := v.Store(ctx, catalogConv(i)); err != nil {
			t.Fatal(err)
		}
	}
	listAll := func(q catalog.Query) []string {
		var out []string
		for {
			page, err := v.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Entries) > q.Limit {
				t.Fatalf("page of %d entries, limit %d", len(page.Entries), q.Limit)
			}
			out = append(out, ids(page.Entries)...)
			if q.Cursor = page.Next; q.Cursor == "" {
				return out
			}
		}
	}
	want := func(pred func(i int) bool, newest bool) []string {
		var out []string
		for i := range 25 {
			if pred(i) {
				out = append(out, fmt.Sprintf("id-%02d", i))
			}
		}
		if newest {
			slices.Reverse(out)
		}
		return out
	}
	since, until := time.Date(2026, 11, 1, 0, 5, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 17, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		q    catalog.Query
		pred func(i int) bool
	}{
		{"all", catalog.Query{}, func(int) bool { return true }},
		{"application", catalog.Query{Application: "a"}, func(i int) bool { return i%2 == 0 }},
		{"application and model", catalog.Query{Application: "b", Model: "m1"}, func(i int) bool { return i%2 == 1 && i%3 == 0 }},
		{"model", catalog.Query{Model: "m3"}, func(i int) bool { return i%3 == 2 }},
		{"time range", catalog.Query{Since: since, Until: until}, func(i int) bool { return i >= 5 && i < 17 }},
		{"metadata", catalog.Query{Metadata: map[string]string{"team": "y"}}, func(i int) bool { return i%4/2 == 1 }},
		{"metadata number", catalog.Query{Metadata: map[string]string{"n": "7"}}, func(i int) bool { return i == 7 }},
	} {
		for _, oldest := range []bool{false, true} {
			q := tc.q
			q.Oldest, q.Limit = oldest, 4
			got, exp := listAll(q), want(tc.pred, !oldest)
			if !slices.Equal(got, exp) {
				t.Errorf("%s (oldest %v): listed %v, want %v", tc.name, oldest, got, exp)
			}
		}
	}
	if _, err := v.List(ctx, catalog.Query{Cursor: "garbage"}); !errors.Is(err, catalog.ErrInvalidCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

// TestCatalogFollowsStoreAndDelete checks an entry's fields against the conversation, and that
// entries appear with Store and disappear with Delete.
func TestCatalogFollowsStoreAndDelete(t *testing.T) {
	v, _, _ := newMemVault(t, Options{})
	ctx := context.Background()
	c := catalogConv(3)
	res, err := v.Store(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	page, err := v.List(ctx, catalog.Query{})
	if err != nil || len(page.Entries) != 1 {
		t.Fatalf("list: %v, %v", page, err)
	}
	e := page.Entries[0]
	tok, _ := tokenizer.Get("cl100k_base")
	wantTokens := map[string]int64{}
	for _, m := range c.Messages {
		wantTokens[m.Role] += int64(len(tok.Encode(m.Content)))
	}
	if e.ID != c.ID || e.Application != "b" || e.Model != "m1" || e.Tokenizer != "cl100k_base" || !e.CreatedAt.Equal(c.CreatedAt) ||
		e.Messages != 3 || fmt.Sprint(e.Tokens) != fmt.Sprint(wantTokens) || e.TotalTokens() != int64(res.Tokens) ||
		e.Metadata["team"] != "y" || e.Metadata["n"] != "3" || len(e.Metadata) != 2 || e.StoredBytes < 50 {
		t.Fatalf("entry %+v (tokens want %v)", e, wantTokens)
	}
	if err := v.Delete(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if page, _ := v.List(ctx, catalog.Query{}); len(page.Entries) != 0 {
		t.Fatalf("entry left after Delete: %v", ids(page.Entries))
	}
}

// TestCatalogRepairAfterCrashes leaves the catalog behind the manifests, as crashes between a
// StoreBatch's or Delete's two writes would: Verify with Repair restores it (storing the same
// conversation again changes nothing).
func TestCatalogRepairAfterCrashes(t *testing.T) {
	cat := &failingCatalog{Backend: catmem.New()}
	v, b, r := newMemVault(t, Options{Catalog: cat})
	ctx := context.Background()
	for i := range 4 {
		if _, errs := v.StoreBatch(ctx, []*conversation.Conversation{catalogConv(i)}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	// A StoreBatch's catalog write fails: the conversation is stored; the error says so.
	cat.failPut.Store(true)
	for _, i := range []int{4, 5} {
		if _, errs := v.StoreBatch(ctx, []*conversation.Conversation{catalogConv(i)}); !errors.Is(errs[0], errCatalogDown) {
			t.Fatalf("store with the catalog down: %v", errs[0])
		}
		if _, err := v.Retrieve(ctx, catalogConv(i).ID); err != nil {
			t.Fatalf("conversation %d not stored: %v", i, err)
		}
	}
	cat.failPut.Store(false)
	if res, err := v.Store(ctx, catalogConv(4)); err != nil || !res.Existed {
		t.Fatalf("store again: %+v, %v", res, err)
	}
	// Delete's catalog delete fails: a stale entry stays.
	cat.failDelete.Store(true)
	if err := v.Delete(ctx, "id-01"); !errors.Is(err, errCatalogDown) {
		t.Fatalf("delete with the catalog down: %v", err)
	}
	cat.failDelete.Store(false)
	list := func() []string {
		page, err := v.List(ctx, catalog.Query{Oldest: true})
		if err != nil {
			t.Fatal(err)
		}
		return ids(page.Entries)
	}
	if got := list(); !slices.Equal(got, []string{"id-00", "id-01", "id-02", "id-03"}) {
		t.Fatalf("before repair: %v", got)
	}
	// A verifier whose clock is two days on: everything is past MinAge.
	later := func() time.Time { return time.Now().Add(48 * time.Hour) }
	verifier, err := New(ctx, Options{Bucket: b, Refs: r, Catalog: cat, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verifier.Verify(ctx, VerifyOptions{Repair: true})
	if err != nil || !rep.OK() || rep.MissingCatalogEntries != 2 || rep.StaleCatalogEntries != 1 {
		t.Fatalf("verify --repair: %+v, %v", rep, err)
	}
	if got := list(); !slices.Equal(got, []string{"id-00", "id-02", "id-03", "id-04", "id-05"}) {
		t.Fatalf("after repair: %v", got)
	}
	if rep, err := verifier.Verify(ctx, VerifyOptions{}); err != nil || rep.MissingCatalogEntries+rep.StaleCatalogEntries != 0 {
		t.Fatalf("verify after repair: %+v, %v", rep, err)
	}
}

// TestStatsMatchCorpus stores the shared sample and checks Stats, grouped by application and
// by model and application, against sums computed here from the corpus itself.
func TestStatsMatchCorpus(t *testing.T) {
	v, _, _ := newMemVault(t, Options{})
	ctx := context.Background()
	convs, _ := readCorpus(t, corpus.Path(t, "sample.jsonl"), 1)
	type sums struct{ convs, msgs, in, out int64 }
	byApp, byModelApp := map[string]*sums{}, map[[2]string]*sums{}
	var total sums
	for _, c := range convs {
		tok, err := tokenizer.Get(c.Tokenizer)
		if err != nil {
			t.Fatal(err)
		}
		s := sums{convs: 1, msgs: int64(len(c.Messages))}
		for _, m := range c.Messages {
			n := int64(len(m.Tokens))
			if !m.HasTokens() {
				n = int64(len(tok.Encode(m.Content)))
			}
			if m.Role == "assistant" {
				s.out += n
			} else {
				s.in += n
			}
		}
		for _, acc := range []*sums{&total, at(byApp, c.Application), at(byModelApp, [2]string{c.Model, c.Application})} {
			acc.convs, acc.msgs, acc.in, acc.out = acc.convs+s.convs, acc.msgs+s.msgs, acc.in+s.in, acc.out+s.out
		}
	}
	storeAll(t, v, convs)

	st, err := v.Stats(ctx, StatsOptions{By: []string{catalog.DimApplication}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Conversations != total.convs || st.Messages != total.msgs || st.InputTokens != total.in || st.OutputTokens != total.out {
		t.Fatalf("totals %+v, want %+v", st, total)
	}
	if len(st.Groups) != len(byApp) {
		t.Fatalf("%d application groups, want %d", len(st.Groups), len(byApp))
	}
	for _, g := range st.Groups {
		w := byApp[g.Key[catalog.DimApplication]]
		if w == nil || g.Conversations != w.convs || g.Messages != w.msgs || g.InputTokens != w.in || g.OutputTokens != w.out {
			t.Errorf("group %v: %+v, want %+v", g.Key, g, w)
		}
	}
	st, err = v.Stats(ctx, StatsOptions{By: []string{catalog.DimModel, catalog.DimApplication}})
	if err != nil || len(st.Groups) != len(byModelApp) {
		t.Fatalf("by model, application: %d groups (want %d), %v", len(st.Groups), len(byModelApp), err)
	}
	for _, g := range st.Groups {
		w := byModelApp[[2]string{g.Key[catalog.DimModel], g.Key[catalog.DimApplication]}]
		if w == nil || g.Conversations != w.convs || g.InputTokens != w.in || g.OutputTokens != w.out {
			t.Errorf("group %v: %+v, want %+v", g.Key, g, w)
		}
	}
	// Filtered: one application, its sums only.
	app := convs[0].Application
	st, err = v.Stats(ctx, StatsOptions{Filter: catalog.Query{Application: app}})
	if w := byApp[app]; err != nil || !st.Filtered || st.Conversations != w.convs || st.InputTokens+st.OutputTokens != w.in+w.out {
		t.Fatalf("filtered on %s: %+v, %v", app, st, err)
	}
}

func at[K comparable, V any](m map[K]*V, k K) *V {
	if m[k] == nil {
		m[k] = new(V)
	}
	return m[k]
}

// TestTopSegments shares three long system prompts (one piece of lookupTokens or more each,
// which StoreBatch keeps as a segment) among 30, 20 and 10 stored conversations (in a batch, so
// that the rest is packed): the top segments are the prompts, in that order, with their role,
// counts and text; the packs are not listed.
func TestTopSegments(t *testing.T) {
	v, _, _ := newMemVault(t, Options{})
	ctx := context.Background()
	prompts := []string{"Alpha. " + words(1, 800), "Beta. " + words(4, 800), "Gamma. " + words(7, 800)}
	var convs []*conversation.Conversation
	for i := range 60 {
		p := 0
		if i >= 30 {
			p = 1
		}
		if i >= 50 {
			p = 2
		}
		convs = append(convs, &conversation.Conversation{ID: fmt.Sprintf("c%d", i), Tokenizer: "cl100k_base", Messages: []conversation.Message{
			{Role: "system", Content: prompts[p]}, {Role: "user", Content: words(10+i, 30)}, {Role: "assistant", Content: words(900+i, 40)}}})
	}
	storeAll(t, v, convs)
	top, err := v.TopSegments(ctx, 5, 12)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) < 3 {
		t.Fatalf("top segments: %+v", top)
	}
	for i, want := range []struct {
		n    int
		text string
	}{{30, "Alpha. "}, {20, "Beta. "}, {10, "Gamma. "}} {
		s := top[i]
		if s.Conversations != want.n || s.Role != "system" || len(s.Text) == 0 || s.Text[:len(want.text)] != want.text ||
			s.SavedBytes != int64(want.n-1)*s.Bytes || s.Tokens < 256 {
			t.Errorf("top %d: %+v, want %d conversations of %q", i, s, want.n, want.text)
		}
	}
	for _, s := range top[3:] {
		t.Errorf("listed a segment that is not shared content (a pack?): %+v", s)
	}
}

// deletingCatalog runs a Delete of the conversation before the first catalog write passes on:
// the Delete of race (p), between a Store's manifest write and its catalog write.
type deletingCatalog struct {
	catalog.Backend
	v    *Vault
	once sync.Once
	err  error
}

func (d *deletingCatalog) Put(ctx context.Context, entries ...catalog.Entry) error {
	d.once.Do(func() { d.err = d.v.Delete(ctx, entries[0].ID) })
	return d.Backend.Put(ctx, entries...)
}

// TestCatalogWriteAfterDelete forces race (p): a Delete of the conversation between a Store's
// manifest write and its catalog write. The catalog does not list the deleted conversation:
// the Delete's deletion of that copy holds for the entry written after it.
func TestCatalogWriteAfterDelete(t *testing.T) {
	b := objmem.New()
	cat := &deletingCatalog{Backend: catparquet.New(b, catparquet.Options{})}
	v, err := New(context.Background(), Options{Bucket: b, Refs: refmem.New(), Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cat.v = v
	ctx := context.Background()
	if _, errs := v.StoreBatch(ctx, []*conversation.Conversation{catalogConv(1)}); errs[0] != nil || cat.err != nil {
		t.Fatalf("store: %v; the racing delete: %v", errs[0], cat.err)
	}
	if _, err := v.Retrieve(ctx, catalogConv(1).ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the deleted conversation: %v, want ErrNotFound", err)
	}
	page, err := v.List(ctx, catalog.Query{})
	if err != nil || len(page.Entries) != 0 {
		t.Fatalf("the catalog lists %v (%v) after the racing delete, want nothing", ids(page.Entries), err)
	}
}

// TestSketches: with Options.Sketches, every catalog entry carries its conversation's sketches,
// equal to those computed from the tokens read back: the entries StoreBatch writes, those GC
// gathers for conversations stored alone (whose long pieces are segments), and those a catalog
// compaction rewrites. Without it, no entry has any.
func TestSketches(t *testing.T) {
	ctx := context.Background()
	convs, _ := readCorpus(t, corpus.Path(t, "sample.jsonl"), 10)
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("Sketches=%v", on), func(t *testing.T) {
			clock := &fakeclock.Clock{}
			v, _, _ := newMemVault(t, Options{Now: clock.Now, Sketches: on})
			if _, errs := v.StoreBatch(ctx, convs[3:]); errors.Join(errs...) != nil {
				t.Fatal(errors.Join(errs...))
			}
			for _, c := range convs[:3] {
				if _, err := v.Store(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if err := v.Delete(ctx, convs[4].ID); err != nil {
				t.Fatal(err)
			}
			clock.Advance(retireAfter)
			rep, err := v.GC(ctx, GCOptions{})
			if err != nil || rep.Gathered != 3 || rep.Catalog.RowsErased != 1 {
				t.Fatalf("gc: %+v, %v; want 3 entries gathered and the deleted row erased", rep, err)
			}
			n := 0
			err = v.ListAll(ctx, catalog.Query{}, func(e catalog.Entry) error {
				n++
				if !on {
					if e.Signature != nil || e.Vector != nil {
						t.Errorf("%s has sketches", e.ID)
					}
					return nil
				}
				sig, vec := sketchesOf(t, v, e.ID)
				if !bytes.Equal(e.Signature, sig) || !bytes.Equal(e.Vector, vec) {
					t.Errorf("%s: stored sketches (%d and %d bytes) are not those of its tokens (%d and %d)",
						e.ID, len(e.Signature), len(e.Vector), len(sig), len(vec))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(convs)-1 {
				t.Fatalf("listed %d entries, want %d", n, len(convs)-1)
			}
		})
	}
}

// sketchesOf returns the sketches of conversation id as computed from its tokens read back:
// what its catalog entry should hold.
func sketchesOf(t *testing.T, v *Vault, id string) (signature, vector []byte) {
	t.Helper()
	m, streams, err := v.Tokens(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	signature, vector, err = sketch.Compute(m.Tokenizer, m.Roles(), streams)
	if err != nil {
		t.Fatal(err)
	}
	return signature, vector
}
