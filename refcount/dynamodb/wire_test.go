package dynamodb

import (
	"slices"
	"testing"
	"time"

	"github.com/stowken/stowken/internal/ddbtable/ddbtabletest"
)

// TestWireKeys pins the bytes of the keys a namespaced store sends, as they go over the wire:
// they are the stored format of S3 stores that share a table (location/aws.Namespace is 16 hex
// digits and ":"), and must stay what tables already written hold.
func TestWireKeys(t *testing.T) {
	rec := &ddbtabletest.KeyRecorder{}
	st := New(rec.Table(t, "9f86d081884c7d65:"))
	now := time.UnixMilli(1740787200000)
	ctx := t.Context()
	if err := st.CreateHead(ctx, "abc", 10, now); err != nil {
		t.Fatal(err)
	}
	if err := st.AddRefs(ctx, "owner-1", []string{"abc"}, now); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkCandidates(ctx, []string{"4f1c2e9a"}, now); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"seg#9f86d081884c7d65:abc | head",
		"ref#9f86d081884c7d65:abc#14 | owner-1",
		"gc#11 | 9f86d081884c7d65:4f1c2e9a",
	}
	if got := rec.Keys(); !slices.Equal(got, want) {
		t.Errorf("keys sent:\n%q\nwant\n%q", got, want)
	}
}
