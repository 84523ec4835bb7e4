package ddbtable

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/ddbitem"
)

// Attribute is a named, typed item attribute. Type is a DynamoDB type: "S" (string), "N"
// (number) or, for non-key attributes, "M" (map).
type Attribute struct {
	Name string // attribute name, e.g. "pk"
	Type string // "S", "N" or "M"
}

// ItemAttribute is a non-key attribute one kind of item carries.
type ItemAttribute struct {
	Attribute
	// Item is the kind of item: "head", "reference" or "candidate".
	Item string
}

// Schema describes the table the reference store (refcount/dynamodb) needs. Infrastructure
// code (Terraform) must declare exactly KeyAttributes as the table's attributes, PartitionKey
// and SortKey as its keys, and no index; DynamoDB declares no other attributes, so
// ItemAttributes is documentation.
type Schema struct {
	PartitionKey Attribute // hash key
	SortKey      Attribute // range key
	// BillingMode is the DynamoDB billing mode EnsureTable uses.
	BillingMode string
	// ItemAttributes lists the non-key attributes the stores write.
	ItemAttributes []ItemAttribute
}

// TableSchema returns the table layout: partition key pk (S), sort key sk (S), no secondary
// index, on-demand (PAY_PER_REQUEST) billing.
func TableSchema() Schema {
	s := func(name string) Attribute { return Attribute{name, "S"} }
	n := func(name string) Attribute { return Attribute{name, "N"} }
	return Schema{
		PartitionKey: s(ddbitem.AttrPK),
		SortKey:      s(ddbitem.AttrSK),
		BillingMode:  string(types.BillingModePayPerRequest),
		ItemAttributes: []ItemAttribute{
			{s(ddbitem.AttrState), "head"},
			{n(ddbitem.AttrSize), "head"},
			{n(ddbitem.AttrCreated), "head"},
			{s(ddbitem.AttrClaimID), "head"},
			{n(ddbitem.AttrClaimExpires), "head"},
			{n(ddbitem.AttrCreated), "reference"},
			{n(ddbitem.AttrSince), "candidate"},
		},
	}
}

// KeyAttributes returns the attributes the table declares: its keys.
func (sc Schema) KeyAttributes() []Attribute {
	return []Attribute{sc.PartitionKey, sc.SortKey}
}

// createTableInput is the CreateTable request for sc.
func (sc Schema) createTableInput(table string) *ddb.CreateTableInput {
	in := &ddb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingMode(sc.BillingMode),
		KeySchema:   keySchema(sc.PartitionKey, sc.SortKey),
		TableClass:  types.TableClass(cost.DefaultTableClass),
	}
	for _, a := range sc.KeyAttributes() {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.Name), AttributeType: types.ScalarAttributeType(a.Type),
		})
	}
	return in
}

func keySchema(hash, rng Attribute) []types.KeySchemaElement {
	return []types.KeySchemaElement{
		{AttributeName: aws.String(hash.Name), KeyType: types.KeyTypeHash},
		{AttributeName: aws.String(rng.Name), KeyType: types.KeyTypeRange},
	}
}

// check reports how an existing table's keys differ from sc. Indexes are not checked: a table
// written before the catalog moved into the bucket keeps its catalog's, unused.
func (sc Schema) check(t *types.TableDescription) error {
	typeOf := map[string]types.ScalarAttributeType{}
	for _, a := range t.AttributeDefinitions {
		typeOf[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	// keysDiffer reports how a key schema differs from (hash, rng); what is "" for the table's.
	keysDiffer := func(what string, ks []types.KeySchemaElement, hash, rng Attribute) error {
		want := map[types.KeyType]Attribute{types.KeyTypeHash: hash, types.KeyTypeRange: rng}
		if len(ks) != len(want) {
			return fmt.Errorf("%shas %d key attributes, want %d (%s, %s)", what, len(ks), len(want), hash.Name, rng.Name)
		}
		for _, k := range ks {
			w, ok := want[k.KeyType]
			name := aws.ToString(k.AttributeName)
			if !ok || name != w.Name || string(typeOf[name]) != w.Type {
				return fmt.Errorf("%shas key %s %s (%s), want partition key %s (%s) and sort key %s (%s)",
					what, k.KeyType, name, typeOf[name], hash.Name, hash.Type, rng.Name, rng.Type)
			}
		}
		return nil
	}
	if err := keysDiffer("", t.KeySchema, sc.PartitionKey, sc.SortKey); err != nil {
		return err
	}
	return nil
}

// EnsureTable creates the table (TableSchema: keys, on-demand billing) unless it exists, and
// waits until it is ACTIVE. It is idempotent and safe to run concurrently. An existing table
// with other keys is an error: EnsureTable never changes a table.
func (t *Table) EnsureTable(ctx context.Context) error {
	sc := TableSchema()
	out, err := t.Client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(t.Name)})
	var rnf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &rnf):
		_, err = t.Client.CreateTable(ctx, sc.createTableInput(t.Name))
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // in use: somebody else is creating it
			return fmt.Errorf("ddbtable: create table %q: %w", t.Name, err)
		}
	case err != nil:
		return fmt.Errorf("ddbtable: describe table %q: %w", t.Name, err)
	default:
		if err := sc.check(out.Table); err != nil {
			return fmt.Errorf("ddbtable: table %q exists but %v", t.Name, err)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
	}
	w := ddb.NewTableExistsWaiter(t.Client, func(o *ddb.TableExistsWaiterOptions) {
		o.MinDelay = 500 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(t.Name)}, 10*time.Minute); err != nil {
		return fmt.Errorf("ddbtable: wait for table %q: %w", t.Name, err)
	}
	return nil
}
