package dynamodb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/catalogtest"
	"github.com/stowken/stowken/internal/ddbtable"
	"github.com/stowken/stowken/internal/testenv"
	"github.com/stowken/stowken/refcount"
	rcddb "github.com/stowken/stowken/refcount/dynamodb"
)

// Integration tests run against the server STOWKEN_TEST_DYNAMODB_ENDPOINT points at (e.g.
// dynalite on http://127.0.0.1:18000), each in a fresh table created with ddbtable's
// EnsureTable and deleted afterwards, with testenv.Credentials. Without an endpoint they skip,
// except under CI=true, where they fail. (Against real DynamoDB, whose indexes lag writes by a
// moment, the listing checks may fail.)

type server struct {
	endpoint string
	creds    aws.CredentialsProvider
}

func testServer(t *testing.T) server {
	t.Helper()
	ep := testenv.Endpoints(t, "run them with scripts/with-servers.sh go test ./catalog/dynamodb/", testenv.DynamoDBEndpoint)[0]
	sv := server{endpoint: ep, creds: testenv.Credentials()}
	return sv
}

func (sv server) url(table string) *url.URL {
	return &url.URL{Scheme: "dynamodb", Host: table, RawQuery: url.Values{"endpoint": {sv.endpoint}}.Encode()}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// newTable creates a fresh table with EnsureTable and deletes it when the test ends; it returns
// the table's name and the reference store on it.
func (sv server) newTable(t *testing.T) (string, *rcddb.Store) {
	t.Helper()
	table := "stowken-catalog-" + randHex(6)
	tb, err := ddbtable.Open(t.Context(), sv.url(table), ddbtable.Options{Credentials: sv.creds})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := tb.EnsureTable(ctx); err != nil {
		t.Fatalf("EnsureTable(%s): %v", table, err)
	}
	t.Cleanup(func() {
		st := sv.open(t, table, "")
		_, _ = st.t.Client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(table)})
	})
	return table, rcddb.New(tb)
}

func (sv server) open(t *testing.T, table, namespace string) *Store {
	t.Helper()
	st, err := Open(t.Context(), sv.url(table), Options{Credentials: sv.creds, Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	sv := testServer(t)
	table, _ := sv.newTable(t)
	t.Logf("servers: dynalite at %s, table %s", sv.endpoint, table)
	// Every subtest has a namespace of its own in the one table, so it starts empty.
	catalogtest.Run(t, func(t *testing.T) catalog.Backend {
		return sv.open(t, table, "ct-"+randHex(4)+":")
	})
}

// TestSharedTable: stores in one table see only their own namespace, and the reference store's
// listings never see catalog items.
func TestSharedTable(t *testing.T) {
	sv := testServer(t)
	ctx := t.Context()
	table, refs := sv.newTable(t)
	a, b, bare := sv.open(t, table, "aaaa:"), sv.open(t, table, "bbbb:"), sv.open(t, table, "")
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, s := range []*Store{a, b, bare} {
		e := catalog.Entry{ID: "conv", Nonce: fmt.Sprint(i), Application: "app", Model: "m", StoredAt: now.Add(time.Duration(i) * time.Second)}
		if err := s.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range []*Store{a, b, bare} {
		got, err := s.Get(ctx, "conv")
		if err != nil || got.Nonce != fmt.Sprint(i) {
			t.Fatalf("store %d: Get = %+v, %v; want its own entry", i, got, err)
		}
		for _, q := range []catalog.Query{{}, {Application: "app"}, {Model: "m"}} {
			page, err := s.List(ctx, q)
			if err != nil || len(page.Entries) != 1 || page.Entries[0].Nonce != fmt.Sprint(i) {
				t.Fatalf("store %d: List(%+v) = %+v, %v; want its own entry only", i, q, page, err)
			}
		}
	}
	// Deleting in one namespace leaves the others.
	if err := a.Delete(ctx, "conv", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "conv"); err != nil {
		t.Fatalf("Get in b after deleting in a: %v", err)
	}

	// The reference store's scans skip catalog items.
	if err := refs.AddRefs(ctx, "owner", []string{"seg"}, now); err != nil {
		t.Fatal(err)
	}
	if err := refs.CreateHead(ctx, "seg", 1, now); err != nil {
		t.Fatal(err)
	}
	var heads, listed []string
	if err := refs.ListHeads(ctx, func(h refcount.Head) error { heads = append(heads, h.Segment); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := refs.ListRefs(ctx, func(r refcount.Ref) error { listed = append(listed, r.Segment); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(heads) != 1 || len(listed) != 1 {
		t.Fatalf("ListHeads %q, ListRefs %q next to catalog items; want only seg", heads, listed)
	}
	// And the catalog's listings skip reference items.
	page, err := bare.List(ctx, catalog.Query{})
	if err != nil || len(page.Entries) != 1 {
		t.Fatalf("List next to reference items = %+v, %v", page, err)
	}
}

// TestMissingTableAndIndexes: the errors name what to create.
func TestMissingTableAndIndexes(t *testing.T) {
	sv := testServer(t)
	ctx := t.Context()
	missing := sv.open(t, "stowken-catalog-missing-"+randHex(4), "")
	if _, err := missing.Get(ctx, "x"); err == nil || errors.Is(err, catalog.ErrNotFound) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Get without a table: %v; want a 'table does not exist' error that is not ErrNotFound", err)
	}

	// A table with the keys but without the indexes.
	table := "stowken-catalog-noidx-" + randHex(4)
	st := sv.open(t, table, "")
	t.Cleanup(func() {
		_, _ = st.t.Client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(table)})
	})
	_, err := st.t.Client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: "S"},
			{AttributeName: aws.String("sk"), AttributeType: "S"},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: "HASH"},
			{AttributeName: aws.String("sk"), KeyType: "RANGE"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := ddb.NewTableExistsWaiter(st.t.Client, func(o *ddb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, catalog.Entry{ID: "x", StoredAt: time.Now()}); err != nil {
		t.Fatalf("Put into a table without indexes: %v", err)
	}
	if _, err := st.List(ctx, catalog.Query{}); err == nil || !strings.Contains(err.Error(), "lacks the catalog's indexes") {
		t.Fatalf("List on a table without indexes: %v", err)
	}
}
