package ddbtable

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/internal/testenv"
)

// The tests here run against the server STOWKEN_TEST_DYNAMODB_ENDPOINT points at (dynalite
// under scripts/with-servers.sh); without one they skip, except under CI=true, where they fail.

// openOn opens table on the test server.
func openOn(t *testing.T, endpoint, table string) *Table {
	t.Helper()
	u := &url.URL{Scheme: "dynamodb", Host: table, RawQuery: url.Values{"endpoint": {endpoint}}.Encode()}
	tb, err := Open(t.Context(), u, Options{Credentials: testenv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestEnsureTable(t *testing.T) {
	endpoint := testenv.Endpoints(t, "run them with scripts/with-servers.sh go test ./internal/ddbtable/", testenv.DynamoDBEndpoint)[0]
	ctx := t.Context()
	table := fmt.Sprintf("stowken-ensure-%d", time.Now().UnixNano())
	st := openOn(t, endpoint, table)
	t.Cleanup(func() {
		_, _ = st.Client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(table)})
	})
	get := func() error {
		_, err := st.Client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{ddbitem.AttrPK: &types.AttributeValueMemberS{Value: "x"}, ddbitem.AttrSK: &types.AttributeValueMemberS{Value: "y"}}})
		return err
	}
	if err := st.TableError("get", get()); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("GetItem before the table exists: %v; want a 'table does not exist' error", err)
	}
	for i := range 2 { // idempotent
		if err := st.EnsureTable(ctx); err != nil {
			t.Fatalf("EnsureTable #%d: %v", i+1, err)
		}
	}
	out, err := st.Client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if err := TableSchema().check(out.Table); err != nil {
		t.Fatalf("created table: %v", err)
	}
	if out.Table.TableStatus != "ACTIVE" {
		t.Fatalf("table status %s after EnsureTable", out.Table.TableStatus)
	}
	if bm := out.Table.BillingModeSummary; bm != nil && string(bm.BillingMode) != TableSchema().BillingMode {
		t.Fatalf("billing mode %s, want %s", bm.BillingMode, TableSchema().BillingMode)
	}
	if err := get(); err != nil {
		t.Fatalf("GetItem after EnsureTable: %v", err)
	}

	// A table with other keys is refused.
	other := table + "-wrong"
	t.Cleanup(func() {
		_, _ = st.Client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(other)})
	})
	in := TableSchema().createTableInput(other)
	in.AttributeDefinitions = in.AttributeDefinitions[:1]
	in.KeySchema = in.KeySchema[:1]
	if _, err := st.Client.CreateTable(ctx, in); err != nil {
		t.Fatal(err)
	}
	wrong := openOn(t, endpoint, other)
	if err := wrong.EnsureTable(ctx); err == nil || !strings.Contains(err.Error(), "exists but") {
		t.Fatalf("EnsureTable on a table with other keys: %v", err)
	}
}
