package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	catmem "github.com/stowken/stowken/catalog/mem"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/objstore"
	objfaulty "github.com/stowken/stowken/objstore/faulty"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/refcount"
	refmem "github.com/stowken/stowken/refcount/mem"
)

// condConv returns a valid conversation with a segment of its own.
func condConv(id string, seed int) *conversation.Conversation {
	return &conversation.Conversation{ID: id, Tokenizer: "cl100k_base",
		Messages: []conversation.Message{{Role: "user", Content: words(seed, 1000)}}}
}

// newVaultOver returns a vault over bucket b and reference store r, closed with the test
// (without closing b or r, which the test may share between vaults).
func newVaultOver(t *testing.T, b objstore.Bucket, r refcount.Backend) *Vault {
	t.Helper()
	v, err := New(context.Background(), Options{Bucket: nopClose{b}, Refs: nopCloseRefs{r}, Catalog: catmem.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

type nopClose struct{ objstore.Bucket }

func (nopClose) Close() error { return nil }

type nopCloseRefs struct{ refcount.Backend }

func (nopCloseRefs) Close() error { return nil }

// keys returns the keys of b.
func keys(t *testing.T, b objstore.Bucket) []string {
	t.Helper()
	var ks []string
	if err := b.List(context.Background(), "", func(a objstore.Attrs) error { ks = append(ks, a.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return ks
}

// checkNothingWritten fails the test if the bucket or the reference store holds anything.
func checkNothingWritten(t *testing.T, b objstore.Bucket, r refcount.Backend) {
	t.Helper()
	refs, heads := 0, 0
	r.ListRefs(context.Background(), func(refcount.Ref) error { refs++; return nil })
	r.ListHeads(context.Background(), func(refcount.Head) error { heads++; return nil })
	if ks := keys(t, b); len(ks) != 0 || refs != 0 || heads != 0 {
		t.Fatalf("wrote objects %v, %d references, %d heads", ks, refs, heads)
	}
}

// TestStoreRefusesBucketIgnoringConditions: on a server that ignores a condition, Store and
// StoreBatch fail with ErrConditionsIgnored naming it, and write nothing, however often tried.
func TestStoreRefusesBucketIgnoringConditions(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		ifNoneMatch, ifMatch bool
		want                 string
	}{
		{"IfNoneMatch", true, false, "ignores If-None-Match"},
		{"IfMatch", false, true, "ignores If-Match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b, r := objfaulty.New(objmem.New()), refmem.New()
			b.DropConditions(tc.ifNoneMatch, tc.ifMatch)
			v := newVaultOver(t, b, r)
			_, err := v.Store(ctx, condConv("a", 1))
			if !errors.Is(err, objstore.ErrConditionsIgnored) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Store: %v; want ErrConditionsIgnored saying %q", err, tc.want)
			}
			checkNothingWritten(t, b, r)

			// The verdict is remembered: no more requests to the bucket (a batch's look-ups of
			// references still happen), even if the server behaves now.
			b.DropConditions(false, false)
			before := v.Usage()
			_, errs := v.StoreBatch(ctx, []*conversation.Conversation{condConv("b", 2), condConv("c", 3)})
			for i, err := range errs {
				if !errors.Is(err, objstore.ErrConditionsIgnored) {
					t.Fatalf("StoreBatch %d: %v; want ErrConditionsIgnored", i, err)
				}
			}
			got := v.Usage().Sub(before)
			if got.DDBRRU = 0; got != (cost.Usage{}) {
				t.Fatalf("StoreBatch after the verdict made requests %+v", got)
			}
			checkNothingWritten(t, b, r)

			// A new Vault checks again.
			if _, err := newVaultOver(t, b, r).Store(ctx, condConv("a", 1)); err != nil {
				t.Fatalf("Store in a new Vault on a server that honours conditions: %v", err)
			}
		})
	}
}

// TestInvalidInputMakesNoCheck: a Store or StoreBatch whose every input is invalid makes no
// request at all, the check included.
func TestInvalidInputMakesNoCheck(t *testing.T) {
	ctx := context.Background()
	b, r := objfaulty.New(objmem.New()), refmem.New()
	b.DropConditions(true, true)
	v := newVaultOver(t, b, r)
	before := v.Usage() // New read the models
	bad := &conversation.Conversation{ID: "a", Tokenizer: "no-such-tokenizer"}
	if _, err := v.Store(ctx, bad); !errors.Is(err, conversation.ErrInvalid) {
		t.Fatalf("Store: %v", err)
	}
	if _, errs := v.StoreBatch(ctx, []*conversation.Conversation{bad, {ID: "a/b", Tokenizer: "cl100k_base"}}); !errors.Is(errs[0], conversation.ErrInvalid) || !errors.Is(errs[1], conversation.ErrInvalid) {
		t.Fatalf("StoreBatch: %v", errs)
	}
	if got := v.Usage().Sub(before); got != (cost.Usage{}) {
		t.Fatalf("invalid input made requests %+v", got)
	}
}

// TestConditionsMarker: the first Vault probes and writes the marker; a Vault opened later over
// the same bucket pays one GET for it and does not probe.
func TestConditionsMarker(t *testing.T) {
	ctx := context.Background()
	inner, r := objmem.New(), refmem.New()
	b := objfaulty.New(inner)
	var checks []objfaulty.Call
	b.SetHook(func(_ context.Context, c *objfaulty.Call) *objfaulty.Fault {
		if strings.HasPrefix(c.Key, "checks/") {
			checks = append(checks, *c)
		}
		return nil
	})
	if _, err := newVaultOver(t, b, r).Store(ctx, condConv("a", 1)); err != nil {
		t.Fatal(err)
	}
	// GET the marker, four PUTs and a DELETE of the scratch object, PUT the marker.
	if len(checks) != 7 || checks[0].Op != objfaulty.OpGet || checks[0].Key != conditionsMarkerKey ||
		checks[5].Op != objfaulty.OpDelete || checks[6].Op != objfaulty.OpPut || checks[6].Key != conditionsMarkerKey {
		t.Fatalf("first Vault's check: %+v", checks)
	}
	if ks := keys(t, b); !strings.Contains(strings.Join(ks, " "), conditionsMarkerKey) || strings.Contains(strings.Join(ks, " "), conditionsScratchPrefix) {
		t.Fatalf("objects after the check: %v", ks)
	}

	// Another Vault: one GET, then Stores as usual. Even on a server that now ignores
	// conditions: the marker is trusted (stowken init checks again; TestCheckConditionalWrites).
	checks = nil
	v := newVaultOver(t, b, r)
	for i, c := range []*conversation.Conversation{condConv("b", 2), condConv("c", 3)} {
		res, err := v.Store(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && res.Usage.S3GetClass != 1 || i == 1 && res.Usage.S3GetClass != 0 {
			t.Fatalf("store %d: %+v", i, res.Usage)
		}
	}
	if len(checks) != 1 || checks[0].Op != objfaulty.OpGet || checks[0].Key != conditionsMarkerKey {
		t.Fatalf("second Vault's check: %+v", checks)
	}
}

// TestConditionsCheckRetriedAfterFailure: a check that fails (a request error) is not a
// verdict: the Store fails without writing, and the next one checks again.
func TestConditionsCheckRetriedAfterFailure(t *testing.T) {
	ctx := context.Background()
	b, r := objfaulty.New(objmem.New()), refmem.New()
	v := newVaultOver(t, b, r)
	for _, f := range []*objfaulty.Fault{
		{Match: objfaulty.OnKey(objfaulty.OpGet, conditionsMarkerKey), Kind: objfaulty.FailBefore},
		{Match: objfaulty.OnPrefix(objfaulty.OpPut, conditionsScratchPrefix), Kind: objfaulty.FailBefore},
		{Match: objfaulty.OnKey(objfaulty.OpPut, conditionsMarkerKey), Kind: objfaulty.FailBefore},
	} {
		b.Add(f)
		_, err := v.Store(ctx, condConv("a", 1))
		if !errors.Is(err, objfaulty.ErrInjected) || errors.Is(err, objstore.ErrConditionsIgnored) {
			t.Fatalf("Store: %v; want the injected error", err)
		}
		checkNothingWritten(t, b, r)
	}
	if _, err := v.Store(ctx, condConv("a", 1)); err != nil {
		t.Fatal(err)
	}
}

// TestConditionsCheckShared: while one caller checks, others wait for its result instead of
// checking too.
func TestConditionsCheckShared(t *testing.T) {
	ctx := context.Background()
	b, r := objfaulty.New(objmem.New()), refmem.New()
	v := newVaultOver(t, b, r)
	reached, release := make(chan *objfaulty.Call, 1), make(chan struct{})
	b.Add(&objfaulty.Fault{Match: objfaulty.OnKey(objfaulty.OpGet, conditionsMarkerKey), Reached: reached, Wait: release})
	first := make(chan error, 1)
	go func() {
		_, err := v.Store(ctx, condConv("a", 1))
		first <- err
	}()
	<-reached
	// A caller whose context ends while the check runs gives up waiting, without a request.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	before := b.Stats().Calls
	if err := v.requireConditions(cctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("requireConditions with a cancelled context during the check: %v", err)
	}
	if n := b.Stats().Calls - before; n != 0 {
		t.Fatalf("a waiting caller made %d requests", n)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := v.Usage().S3GetClass; got != 1 {
		t.Fatalf("%v GETs, want the marker's one", got)
	}
}

// TestCheckConditionalWrites: the explicit check probes even when the marker exists, and on a
// server that ignores a condition deletes the marker, so that later Vaults check (and refuse)
// too.
func TestCheckConditionalWrites(t *testing.T) {
	ctx := context.Background()
	b, r := objfaulty.New(objmem.New()), refmem.New()
	if err := newVaultOver(t, b, r).CheckConditionalWrites(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(ctx, conditionsMarkerKey); err != nil {
		t.Fatalf("marker: %v", err)
	}
	b.DropConditions(true, false)
	v := newVaultOver(t, b, r)
	err := v.CheckConditionalWrites(ctx)
	if !errors.Is(err, objstore.ErrConditionsIgnored) || !strings.Contains(err.Error(), "ignores If-None-Match") {
		t.Fatalf("CheckConditionalWrites: %v", err)
	}
	if ks := keys(t, b); len(ks) != 0 {
		t.Fatalf("objects left: %v", ks)
	}
	for _, v := range []*Vault{v, newVaultOver(t, b, r)} {
		if _, err := v.Store(ctx, condConv("a", 1)); !errors.Is(err, objstore.ErrConditionsIgnored) {
			t.Fatalf("Store after a failed check: %v", err)
		}
	}
	checkNothingWritten(t, b, r)
}

// TestVerifyRepairChecksConditions: Verify's repair may upload a segment (adoptSegment), so on
// a server that ignores conditions it fails before writing anything.
func TestVerifyRepairChecksConditions(t *testing.T) {
	ctx := context.Background()
	b, r := objfaulty.New(objmem.New()), refmem.New()
	v := newVaultOver(t, b, r)
	if _, err := v.Store(ctx, condConv("a", 1)); err != nil {
		t.Fatal(err)
	}
	// A segment loses its head; the server starts ignoring conditions; the marker is gone.
	m, err := v.readManifest(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	seg := m.Segments()[0]
	now := time.Now()
	if err := errors.Join(r.Claim(ctx, seg, "claim", now.Add(time.Hour), now), r.DeleteHead(ctx, seg, "claim"),
		b.Delete(ctx, conditionsMarkerKey)); err != nil {
		t.Fatal(err)
	}
	b.DropConditions(true, true)
	before := keys(t, b)
	_, err = newVaultOver(t, b, r).Verify(ctx, VerifyOptions{Repair: true})
	if !errors.Is(err, objstore.ErrConditionsIgnored) {
		t.Fatalf("Verify with Repair: %v; want ErrConditionsIgnored", err)
	}
	if after := keys(t, b); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Fatalf("objects %v became %v", before, after)
	}
	if _, err := r.GetHead(ctx, seg); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("head after the refused repair: %v", err)
	}
	// Without Repair, Verify reads only.
	if rep, err := newVaultOver(t, b, r).Verify(ctx, VerifyOptions{}); err != nil || rep.MissingHeads != 1 {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
}
