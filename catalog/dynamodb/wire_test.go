package dynamodb

import (
	"net/url"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stowken/stowken/internal/ddbtable"
	"github.com/stowken/stowken/internal/testenv"
)

// TestWireKeys pins the bytes of the key a namespaced catalog sends, as it goes over the wire:
// it is the stored format of S3 stores that share a table (location/aws.Namespace is 16 hex
// digits and ":"), and must stay what tables already written hold. TestItemRoundTrip pins the
// index keys.
func TestWireKeys(t *testing.T) {
	rec := &testenv.KeyRecorder{PK: ddbtable.AttrPK, SK: ddbtable.AttrSK}
	u, _ := url.Parse("dynamodb://stowken-test?region=us-east-1&endpoint=http://127.0.0.1:1")
	st, err := Open(t.Context(), u, Options{
		HTTPClient:  rec,
		Credentials: credentials.NewStaticCredentialsProvider("id", "secret", ""),
		Namespace:   "9f86d081884c7d65:",
	})
	if err != nil {
		t.Fatal(err)
	}
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
