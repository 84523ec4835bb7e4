package ddbtable

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/cost"
)

// ItemSize is the size of an item as DynamoDB counts it, by the rules of package cost: the sum
// of its attribute names' UTF-8 lengths and its values' sizes. A string is its UTF-8 length; a
// number is cost.NumberSize; binary is its raw length; a boolean or null is 1; a list or map is
// 3 bytes plus 1 per element plus its elements (a map's with their names); a set is the sum of
// its elements.
func ItemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return cost.NumberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberM:
		n := cost.DocumentOverheadBytes
		for name, e := range v.Value {
			n += cost.ElementOverheadBytes + len(name) + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberL:
		n := cost.DocumentOverheadBytes
		for _, e := range v.Value {
			n += cost.ElementOverheadBytes + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		return sumLen(v.Value)
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += cost.NumberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		return sumLen(v.Value)
	}
	return 0
}

// sumLen is the total length of a string or binary set's elements.
func sumLen[T string | []byte](xs []T) int {
	n := 0
	for _, x := range xs {
		n += len(x)
	}
	return n
}

// IndexesOf returns the global secondary indexes of sc that an item is in: those whose key
// attributes it carries.
func (sc Schema) IndexesOf(item map[string]types.AttributeValue) []Index {
	var in []Index
	for _, ix := range sc.Indexes {
		if item[ix.PartitionKey.Name] != nil && item[ix.SortKey.Name] != nil {
			in = append(in, ix)
		}
	}
	return in
}

// PutUsage is what putting an item costs: the write request units of the table and of each
// index the item is in, and the bytes billed in storage (cost.StoredBytes: the item and each
// index's copy). Every index of the schema projects ALL, so an index entry is as large as the
// item.
func (sc Schema) PutUsage(item map[string]types.AttributeValue) (writeUnits float64, storedBytes int) {
	size := ItemSize(item)
	indexes := len(sc.IndexesOf(item))
	return float64(1+indexes) * cost.WriteUnits(size), cost.StoredBytes(size, indexes)
}
