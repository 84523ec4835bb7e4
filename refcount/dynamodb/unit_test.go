package dynamodb

import (
	"fmt"
	"testing"
	"time"

	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/internal/ddbtable"
)

func TestShardSpread(t *testing.T) {
	// A popular segment's owners must land on every shard, roughly evenly.
	counts := make([]int, RefShards)
	const n = 16000
	for i := range n {
		s := ddbitem.RefShard(fmt.Sprintf("conversation-%d", i))
		if s < 0 || s >= RefShards {
			t.Fatalf("shard out of range: %d", s)
		}
		counts[s]++
	}
	for i, c := range counts {
		if c < n/RefShards*8/10 || c > n/RefShards*12/10 {
			t.Fatalf("shard %d holds %d of %d keys: %v", i, c, n, counts)
		}
	}
}

func TestKeys(t *testing.T) {
	str := func(it item, name string) string {
		v, err := getS(it, name, true)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	st := New(&ddbtable.Table{})
	if hk := st.headKey("abc"); str(hk, ddbitem.AttrPK) != "seg#abc" || str(hk, ddbitem.AttrSK) != "head" || len(hk) != 2 {
		t.Errorf("headKey = %v", hk)
	}
	if rk := st.refKey("abc", "owner-1"); str(rk, ddbitem.AttrPK) != "ref#abc#14" || str(rk, ddbitem.AttrSK) != "owner-1" || len(rk) != 2 {
		t.Errorf("refKey = %v", rk)
	}
	if ck := st.candidateKey("4f1c2e9a"); str(ck, ddbitem.AttrPK) != "gc#8" || str(ck, ddbitem.AttrSK) != "4f1c2e9a" || len(ck) != 2 {
		t.Errorf("candidateKey = %v", ck)
	}
	for _, tc := range []struct{ pk, seg string }{
		{ddbitem.RefPK("", "abc", 3), "abc"},
		{ddbitem.RefPK("", "a#b", 15), "a#b"}, // segments may contain '#': the shard is after the last one
	} {
		seg, ok := ddbitem.SegmentOfRefPK(tc.pk)
		if !ok || seg != tc.seg {
			t.Errorf("segmentOfRefPK(%q) = %q, %v; want %q", tc.pk, seg, ok, tc.seg)
		}
	}
	for _, bad := range []string{"seg#abc", "ref#abc", "ref#abc#x", "ref##3"} {
		if seg, ok := ddbitem.SegmentOfRefPK(bad); ok {
			t.Errorf("segmentOfRefPK(%q) = %q, accepted", bad, seg)
		}
	}
	if got := ddbitem.RefPK("", "abc", 3); got != "ref#abc#3" {
		t.Errorf("refPK = %q", got)
	}
	if got := ddbitem.CandidatePK(11); got != "gc#11" {
		t.Errorf("candidatePK = %q", got)
	}

	// In a namespace, the name of the segment carries it wherever it appears (the shard of a
	// candidate included): these bytes are the stored format of S3 stores that share a table.
	ns := New(&ddbtable.Table{Namespace: "9f86d081884c7d65:"})
	if hk := ns.headKey("abc"); str(hk, ddbitem.AttrPK) != "seg#9f86d081884c7d65:abc" || str(hk, ddbitem.AttrSK) != "head" {
		t.Errorf("namespaced headKey = %v", hk)
	}
	if rk := ns.refKey("abc", "owner-1"); str(rk, ddbitem.AttrPK) != "ref#9f86d081884c7d65:abc#14" || str(rk, ddbitem.AttrSK) != "owner-1" {
		t.Errorf("namespaced refKey = %v", rk)
	}
	want := ddbitem.CandidatePK(ddbitem.RefShard("9f86d081884c7d65:4f1c2e9a"))
	if ck := ns.candidateKey("4f1c2e9a"); str(ck, ddbitem.AttrPK) != want || want != "gc#11" || str(ck, ddbitem.AttrSK) != "9f86d081884c7d65:4f1c2e9a" {
		t.Errorf("namespaced candidateKey = %v, want pk %s", ck, want)
	}
}

func TestJitter(t *testing.T) {
	for round := 1; round < 40; round++ {
		for range 100 {
			d := jitter(round)
			if d <= 0 || d > batchMaxDelay+time.Millisecond {
				t.Fatalf("jitter(%d) = %v", round, d)
			}
		}
	}
}
