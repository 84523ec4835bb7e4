package ddbtable

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/cost"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want target
		err  string // substring of the error; "" → success
	}{
		{in: "dynamodb://stowken-refs", want: target{table: "stowken-refs"}},
		{in: "dynamodb://My_Table.v2/", want: target{table: "My_Table.v2"}},
		{in: "dynamodb://t1x?region=eu-west-1", want: target{table: "t1x", region: "eu-west-1"}},
		{in: "dynamodb://t1x?endpoint=http://127.0.0.1:18000&region=us-west-2",
			want: target{table: "t1x", region: "us-west-2", endpoint: "http://127.0.0.1:18000"}},
		{in: "dynamodb://t1x?endpoint=" + url.QueryEscape("https://dynamodb.example.com/"),
			want: target{table: "t1x", endpoint: "https://dynamodb.example.com/"}},
		{in: "s3://bucket", err: "scheme must be dynamodb"},
		{in: "dynamodb://", err: "table name"},
		{in: "dynamodb://ab", err: "table name"},
		{in: "dynamodb://" + strings.Repeat("a", 256), err: "table name"},
		{in: "dynamodb://table:8000", err: "table name"},
		{in: "dynamodb://table/extra", err: "want dynamodb://TABLE"},
		{in: "dynamodb://user@table", err: "want dynamodb://TABLE"},
		{in: "dynamodb:table", err: "want dynamodb://TABLE"},
		{in: "dynamodb://table#frag", err: "want dynamodb://TABLE"},
		{in: "dynamodb://table?regoin=x", err: `unknown parameter "regoin"`},
		{in: "dynamodb://table?region=", err: "parameter region"},
		{in: "dynamodb://table?region=a&region=b", err: "parameter region"},
		{in: "dynamodb://table?endpoint=127.0.0.1:18000", err: "must be an http or https URL"},
		{in: "dynamodb://table?endpoint=ftp://x", err: "must be an http or https URL"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := url.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseURL(u)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseURL(%s) = %+v, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseURL(%s) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := parseURL(nil); err == nil {
		t.Fatal("parseURL(nil) succeeded")
	}
}

func TestOpenRegion(t *testing.T) {
	// Open contacts nothing, so it runs without a server.
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_PROFILE", "")
	u, _ := url.Parse("dynamodb://some-table")
	tb, err := Open(t.Context(), u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := tb.Client.Options().Region; r != DefaultRegion {
		t.Fatalf("default region %q, want %q", r, DefaultRegion)
	}
	if tb.Name != "some-table" {
		t.Fatalf("Name = %q", tb.Name)
	}
	if got := tb.Client.Options().Retryer.MaxAttempts(); got != DefaultMaxAttempts {
		t.Fatalf("MaxAttempts %d, want %d", got, DefaultMaxAttempts)
	}

	t.Setenv("AWS_REGION", "ap-south-1")
	tb, err = Open(t.Context(), u, Options{MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r := tb.Client.Options().Region; r != "ap-south-1" {
		t.Fatalf("region from AWS_REGION: %q", r)
	}
	if got := tb.Client.Options().Retryer.MaxAttempts(); got != 3 {
		t.Fatalf("MaxAttempts %d, want 3", got)
	}

	u, _ = url.Parse("dynamodb://some-table?region=eu-north-1&endpoint=http://127.0.0.1:1")
	tb, err = Open(t.Context(), u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := tb.Client.Options().Region; r != "eu-north-1" {
		t.Fatalf("region from the URL: %q", r)
	}
	if e := aws.ToString(tb.Client.Options().BaseEndpoint); e != "http://127.0.0.1:1" {
		t.Fatalf("endpoint from the URL: %q", e)
	}
}

// TestNamespace: Open takes a namespace the keys can hold and refuses one they cannot.
func TestNamespace(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	u, _ := url.Parse("dynamodb://some-table")
	for _, ns := range []string{"", "0123456789abcdef:", "été:"} {
		tb, err := Open(t.Context(), u, Options{Namespace: ns})
		if err != nil || tb.Namespace != ns {
			t.Errorf("Open(namespace %q) = %+v, %v", ns, tb, err)
		}
	}
	for _, ns := range []string{"a#b", "nul\x00", "\xff"} {
		if _, err := Open(t.Context(), u, Options{Namespace: ns}); err == nil || !strings.Contains(err.Error(), "namespace") {
			t.Errorf("Open(namespace %q): %v, want an error about the namespace", ns, err)
		}
	}
}

// TestCutNamespace: only names in the namespace come back out, without it.
func TestCutNamespace(t *testing.T) {
	tb := &Table{Namespace: "9f86d081884c7d65:"}
	if name, ok := tb.CutNamespace("9f86d081884c7d65:abc"); !ok || name != "abc" {
		t.Errorf("CutNamespace of a name in the namespace = %q, %v", name, ok)
	}
	if name, ok := tb.CutNamespace("0000000000000000:abc"); ok {
		t.Errorf("CutNamespace of another namespace's name = %q, accepted", name)
	}
	bare := &Table{}
	if name, ok := bare.CutNamespace("abc"); !ok || name != "abc" {
		t.Errorf("CutNamespace without a namespace = %q, %v", name, ok)
	}
}

func TestSchemaMatchesCreateTable(t *testing.T) {
	sc := TableSchema()
	if sc.PartitionKey != (Attribute{"pk", "S"}) || sc.SortKey != (Attribute{"sk", "S"}) || sc.BillingMode != "PAY_PER_REQUEST" {
		t.Fatalf("TableSchema() = %+v", sc)
	}
	wantKeys := []Attribute{{"pk", "S"}, {"sk", "S"}}
	if got := sc.KeyAttributes(); !slices.Equal(got, wantKeys) {
		t.Fatalf("KeyAttributes() = %v, want %v", got, wantKeys)
	}
	in := sc.createTableInput("t")
	if aws.ToString(in.TableName) != "t" || string(in.BillingMode) != sc.BillingMode ||
		len(in.KeySchema) != 2 || len(in.AttributeDefinitions) != len(wantKeys) ||
		len(in.GlobalSecondaryIndexes) != 0 || len(in.LocalSecondaryIndexes) != 0 || in.ProvisionedThroughput != nil ||
		string(in.TableClass) != cost.DefaultTableClass {
		t.Fatalf("createTableInput = %+v", in)
	}
}

// describe returns the description DescribeTable gives of a table created with in.
func describe(in *ddb.CreateTableInput) *types.TableDescription {
	d := &types.TableDescription{AttributeDefinitions: in.AttributeDefinitions, KeySchema: in.KeySchema}
	for _, g := range in.GlobalSecondaryIndexes {
		d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, types.GlobalSecondaryIndexDescription{
			IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection,
		})
	}
	return d
}

func TestSchemaCheck(t *testing.T) {
	sc := TableSchema()
	tests := []struct {
		name   string
		change func(*ddb.CreateTableInput)
		err    string // substring; "" → the table is right
	}{
		{"AsCreated", func(*ddb.CreateTableInput) {}, ""},
		// A table written before the catalog moved into the bucket keeps its indexes.
		{"OldCatalogIndex", func(in *ddb.CreateTableInput) {
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String("gsi1pk"), AttributeType: types.ScalarAttributeTypeS})
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
				IndexName: aws.String("by_time"), KeySchema: keySchema(Attribute{"gsi1pk", "S"}, Attribute{"sk", "S"}),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}})
		}, ""},
		{"OnlyPartitionKey", func(in *ddb.CreateTableInput) { in.KeySchema = in.KeySchema[:1] }, "has 1 key attributes"},
		{"SortKeyIsANumber", func(in *ddb.CreateTableInput) { in.AttributeDefinitions[1].AttributeType = types.ScalarAttributeTypeN },
			"has key RANGE sk (N)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sc.createTableInput("t")
			tc.change(in)
			err := sc.check(describe(in))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("check: %v; want %q", err, tc.err)
			}
		})
	}
}
