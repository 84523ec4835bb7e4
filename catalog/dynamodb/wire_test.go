package dynamodb

import (
	"slices"
	"testing"

	"github.com/stowken/stowken/internal/ddbtable/ddbtabletest"
)

// TestWireKeys pins the bytes of the key a namespaced catalog sends, as it goes over the wire:
// it is the stored format of S3 stores that share a table (location/aws.Namespace is 16 hex
// digits and ":"), and must stay what tables already written hold. TestItemRoundTrip pins the
// index keys.
func TestWireKeys(t *testing.T) {
	rec := &ddbtabletest.KeyRecorder{}
	st := New(rec.Table(t, "9f86d081884c7d65:"))
	if err := st.Put(t.Context(), fullEntry()); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(t.Context(), "conv#1", ""); err != nil {
		t.Fatal(err)
	}
	want := []string{"9f86d081884c7d65:conv#conv#1 | catalog", "9f86d081884c7d65:conv#conv#1 | catalog"}
	if got := rec.Keys(); !slices.Equal(got, want) {
		t.Errorf("keys sent:\n%q\nwant\n%q", got, want)
	}
}
