package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute is a named, typed item attribute. Type is a DynamoDB scalar type: "S" or "N".
type Attribute struct {
	Name string // attribute name, e.g. "pk"
	Type string // "S" (string) or "N" (number)
}

// ItemAttribute is a non-key attribute one kind of item carries.
type ItemAttribute struct {
	Attribute
	// Item is the kind of item: "head", "reference" or "candidate".
	Item string
}

// Schema describes the table the store needs. Infrastructure code (Terraform) must declare
// exactly PartitionKey and SortKey as the table's attributes and keys; DynamoDB declares no
// non-key attributes, so ItemAttributes is documentation.
type Schema struct {
	PartitionKey Attribute // hash key
	SortKey      Attribute // range key
	// BillingMode is the DynamoDB billing mode EnsureTable uses.
	BillingMode string
	// ItemAttributes lists the non-key attributes the store writes.
	ItemAttributes []ItemAttribute
}

// TableSchema returns the table layout: partition key pk (S), sort key sk (S), no secondary
// indexes, on-demand (PAY_PER_REQUEST) billing.
func TableSchema() Schema {
	return Schema{
		PartitionKey: Attribute{attrPK, "S"},
		SortKey:      Attribute{attrSK, "S"},
		BillingMode:  string(types.BillingModePayPerRequest),
		ItemAttributes: []ItemAttribute{
			{Attribute{attrState, "S"}, "head"},
			{Attribute{attrSize, "N"}, "head"},
			{Attribute{attrCreated, "N"}, "head"},
			{Attribute{attrClaimID, "S"}, "head"},
			{Attribute{attrClaimExpires, "N"}, "head"},
			{Attribute{attrCreated, "N"}, "reference"},
			{Attribute{attrSince, "N"}, "candidate"},
		},
	}
}

// createTableInput is the CreateTable request for sc.
func (sc Schema) createTableInput(table string) *ddb.CreateTableInput {
	return &ddb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingMode(sc.BillingMode),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(sc.PartitionKey.Name), AttributeType: types.ScalarAttributeType(sc.PartitionKey.Type)},
			{AttributeName: aws.String(sc.SortKey.Name), AttributeType: types.ScalarAttributeType(sc.SortKey.Type)},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(sc.PartitionKey.Name), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sc.SortKey.Name), KeyType: types.KeyTypeRange},
		},
	}
}

// check reports how an existing table's keys differ from sc.
func (sc Schema) check(t *types.TableDescription) error {
	typeOf := map[string]types.ScalarAttributeType{}
	for _, a := range t.AttributeDefinitions {
		typeOf[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	want := map[types.KeyType]Attribute{types.KeyTypeHash: sc.PartitionKey, types.KeyTypeRange: sc.SortKey}
	if len(t.KeySchema) != len(want) {
		return fmt.Errorf("has %d key attributes, want %d (%s, %s)", len(t.KeySchema), len(want), sc.PartitionKey.Name, sc.SortKey.Name)
	}
	for _, k := range t.KeySchema {
		w, ok := want[k.KeyType]
		name := aws.ToString(k.AttributeName)
		if !ok || name != w.Name || string(typeOf[name]) != w.Type {
			return fmt.Errorf("key %s %s (%s), want partition key %s (%s) and sort key %s (%s)",
				k.KeyType, name, typeOf[name], sc.PartitionKey.Name, sc.PartitionKey.Type, sc.SortKey.Name, sc.SortKey.Type)
		}
	}
	return nil
}

// EnsureTable creates the table (TableSchema, on-demand billing) unless it exists, and waits
// until it is ACTIVE. It is idempotent and safe to run concurrently. An existing table with
// other keys is an error.
func (st *Store) EnsureTable(ctx context.Context) error {
	sc := TableSchema()
	out, err := st.client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(st.table)})
	var rnf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &rnf):
		_, err = st.client.CreateTable(ctx, sc.createTableInput(st.table))
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // in use: somebody else is creating it
			return st.translate("create table", st.table, err)
		}
	case err != nil:
		return st.translate("describe table", st.table, err)
	default:
		if err := sc.check(out.Table); err != nil {
			return fmt.Errorf("refcount/dynamodb: table %q exists but %v", st.table, err)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
	}
	w := ddb.NewTableExistsWaiter(st.client, func(o *ddb.TableExistsWaiterOptions) {
		o.MinDelay = 500 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(st.table)}, 10*time.Minute); err != nil {
		return st.translate("wait for table", st.table, err)
	}
	return nil
}
