package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stowken/stowken/analyze"
	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/neardup"
	"github.com/stowken/stowken/search"
	"github.com/stowken/stowken/sketch"
	"github.com/stowken/stowken/vault"
)

// TestSketchesOnServers: on MinIO and dynalite, half of the sample is stored without sketches
// and half with; dups reads only the first half, Sketch fills in their rows (under the GC lease,
// rewriting the catalog's files in the bucket), and dups then reads none, with the same groups.
// Search reads every conversation from its batch object without a pointer read, and reads the
// pointers of the hits it shows only.
func TestSketchesOnServers(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	convs, _ := readCorpus(t, "sample.jsonl", 200)
	plain := st.open(t, vault.Options{})
	if _, errs := plain.StoreBatch(ctx, convs[:100]); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	v := st.open(t, vault.Options{Sketches: true})
	if _, errs := v.StoreBatch(ctx, convs[100:]); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	p := neardup.DefaultParams()
	p.Threshold = 0.5
	dups := func(wantRead int) []analyze.Group {
		t.Helper()
		res, err := analyze.Dups(ctx, v, analyze.Options{Query: catalog.Query{Oldest: true}}, p, sketch.SkipRoles)
		if err != nil || res.Conversations != len(convs) || res.Read != wantRead {
			t.Fatalf("dups: %d conversations, %d read, %v; want %d and %d", res.Conversations, res.Read, err, len(convs), wantRead)
		}
		return res.Groups
	}
	before := dups(100)
	rep, err := v.Sketch(ctx)
	if err != nil || rep.Sketched != 100 || rep.Unreadable != 0 || rep.Partial || rep.Catalog.FilesWritten == 0 {
		t.Fatalf("sketch: %+v, %v; want the first 100 rows sketched", rep, err)
	}
	if after := dups(0); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("groups from the catalog %v differ from those computed %v", after, before)
	}

	reader := st.open(t, vault.Options{ReadOnly: true})
	usage := reader.Usage()
	docs, err := analyze.Read(ctx, reader, analyze.Options{})
	if err != nil || len(docs) != len(convs) {
		t.Fatalf("read %d conversations, %v; want %d", len(docs), err, len(convs))
	}
	stored := func(d analyze.Doc) (bool, error) { return reader.Stored(ctx, d.Entry) }
	hits, err := analyze.Search(docs, "flight reservation refund", search.DefaultParams(), 3, stored)
	if err != nil || len(hits) != 3 {
		t.Fatalf("search: %+v, %v", hits, err)
	}
	if rru := reader.Usage().Sub(usage).DDBRRU; rru == 0 || rru > 3 {
		t.Errorf("reading %d conversations and showing 3 hits took %v read units; want the 3 hits' pointer reads only", len(docs), rru)
	}
}
