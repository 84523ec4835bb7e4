package ddbtable

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/internal/ddbitem"
)

// Marshal returns it as the SDK's attribute values.
func Marshal(it ddbitem.Item) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(it))
	for name, v := range it {
		out[name] = marshalValue(v)
	}
	return out
}

func marshalValue(v ddbitem.Value) types.AttributeValue {
	switch v := v.(type) {
	case ddbitem.S:
		return &types.AttributeValueMemberS{Value: string(v)}
	case ddbitem.N:
		return &types.AttributeValueMemberN{Value: string(v)}
	case ddbitem.B:
		return &types.AttributeValueMemberB{Value: v}
	case ddbitem.Bool:
		return &types.AttributeValueMemberBOOL{Value: bool(v)}
	case ddbitem.Null:
		return &types.AttributeValueMemberNULL{Value: true}
	case ddbitem.M:
		return &types.AttributeValueMemberM{Value: Marshal(ddbitem.Item(v))}
	case ddbitem.L:
		l := make([]types.AttributeValue, len(v))
		for i, e := range v {
			l[i] = marshalValue(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case ddbitem.SS:
		return &types.AttributeValueMemberSS{Value: v}
	case ddbitem.NS:
		return &types.AttributeValueMemberNS{Value: v}
	case ddbitem.BS:
		return &types.AttributeValueMemberBS{Value: v}
	}
	panic(fmt.Sprintf("ddbtable: unknown item value %T", v))
}

// Unmarshal returns the SDK's item as a ddbitem.Item (what the metering sizes).
func Unmarshal(item map[string]types.AttributeValue) ddbitem.Item {
	out := make(ddbitem.Item, len(item))
	for name, v := range item {
		if u := unmarshalValue(v); u != nil {
			out[name] = u
		}
	}
	return out
}

func unmarshalValue(v types.AttributeValue) ddbitem.Value {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return ddbitem.S(v.Value)
	case *types.AttributeValueMemberN:
		return ddbitem.N(v.Value)
	case *types.AttributeValueMemberB:
		return ddbitem.B(v.Value)
	case *types.AttributeValueMemberBOOL:
		return ddbitem.Bool(v.Value)
	case *types.AttributeValueMemberNULL:
		return ddbitem.Null{}
	case *types.AttributeValueMemberM:
		return ddbitem.M(Unmarshal(v.Value))
	case *types.AttributeValueMemberL:
		l := make(ddbitem.L, 0, len(v.Value))
		for _, e := range v.Value {
			if u := unmarshalValue(e); u != nil {
				l = append(l, u)
			}
		}
		return l
	case *types.AttributeValueMemberSS:
		return ddbitem.SS(v.Value)
	case *types.AttributeValueMemberNS:
		return ddbitem.NS(v.Value)
	case *types.AttributeValueMemberBS:
		return ddbitem.BS(v.Value)
	}
	return nil // an unknown union member: no size of its own
}
