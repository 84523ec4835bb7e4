package ddbtable

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Billing sizes, by DynamoDB's rules ("DynamoDB item sizes and formats" in the DynamoDB
// Developer Guide): what a request is billed in units and what an item is billed in storage.
// One code path serves every backend: the local and in-memory stores model what the same items
// would cost in this table.
const (
	// WriteUnitBytes is the item size one write request unit covers.
	WriteUnitBytes = 1024
	// ReadUnitBytes is the size one strongly consistent read request unit covers (an
	// eventually consistent read costs half).
	ReadUnitBytes = 4096
	// ItemOverheadBytes is the storage billed for every item, and for every index entry, on
	// top of its size.
	ItemOverheadBytes = 100
)

// ItemSize is the size of an item as DynamoDB counts it: the sum of its attribute names'
// UTF-8 lengths and its values' sizes. A string is its UTF-8 length; a number is 1 byte per two
// significant digits, plus 1; binary is its raw length; a boolean or null is 1; a list or map
// is 3 bytes plus 1 per element plus its elements (a map's with their names); a set is the sum
// of its elements.
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
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberM:
		n := 3
		for name, e := range v.Value {
			n += 1 + len(name) + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	}
	return 0
}

// numberSize is the size of a number given in decimal: its significant digits (leading and
// trailing zeros trimmed, sign, point and exponent left out), 1 byte per two, plus 1.
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.Replace(s, ".", "", 1)
	s = strings.Trim(s, "0")
	return (utf8.RuneCountInString(s)+1)/2 + 1
}

// WriteUnits is what writing an item of size bytes costs in write request units: 1 per KB or
// part of one, at least 1 (a failed conditional write costs the same).
func WriteUnits(size int) float64 {
	return math.Max(1, math.Ceil(float64(size)/WriteUnitBytes))
}

// ReadUnits is what reading size bytes costs in read request units: 1 per 4 KB or part of one,
// at least 1, and half of that when eventually consistent. A Query rounds the sum of the items
// it returns, a GetItem the item.
func ReadUnits(size int, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/ReadUnitBytes))
	if !consistent {
		u /= 2
	}
	return u
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

// PutUsage is what putting an item costs: the write request units of the table and of each index
// the item is in, and the bytes billed in storage (the item and each index's copy, each with
// ItemOverheadBytes). Every index of the schema projects ALL, so an index entry is as large as
// the item.
func (sc Schema) PutUsage(item map[string]types.AttributeValue) (writeUnits float64, storedBytes int) {
	size := ItemSize(item)
	copies := 1 + len(sc.IndexesOf(item))
	return float64(copies) * WriteUnits(size), copies * (size + ItemOverheadBytes)
}
