package ddbtable

import (
	"context"
	"errors"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/ddbitem"
)

// The Table's client reports what each item request cost (cost.Charge) to the metering around
// the store call that sent it (internal/meter). It asks the server for its figure
// (ReturnConsumedCapacity TOTAL; the table has no index) and takes it where given; where the
// server gives none (a failed condition), the units come from the request's item by
// DynamoDB's rules, and an update or delete of an item of unknown size counts 1 unit (the
// store only updates and conditionally deletes small items: heads and candidate marks). A
// throttled or failed request is not billed and reports nothing.

// usageMiddleware is the Initialize step that asks for and reports consumed capacity.
var usageMiddleware = middleware.InitializeMiddlewareFunc("stowkenUsage",
	func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		askCapacity(in.Parameters)
		out, md, err := next.HandleInitialize(ctx, in)
		if u, ok := usageOf(in.Parameters, out.Result, err); ok {
			cost.Charge(ctx, u)
		}
		return out, md, err
	})

// addUsageMiddleware installs usageMiddleware on a client's stack.
func addUsageMiddleware(s *middleware.Stack) error {
	return s.Initialize.Add(usageMiddleware, middleware.After)
}

// askCapacity sets ReturnConsumedCapacity TOTAL on the item requests.
func askCapacity(params any) {
	const rcc = types.ReturnConsumedCapacityTotal
	switch in := params.(type) {
	case *ddb.PutItemInput:
		in.ReturnConsumedCapacity = rcc
	case *ddb.UpdateItemInput:
		in.ReturnConsumedCapacity = rcc
	case *ddb.DeleteItemInput:
		in.ReturnConsumedCapacity = rcc
	case *ddb.GetItemInput:
		in.ReturnConsumedCapacity = rcc
	case *ddb.QueryInput:
		in.ReturnConsumedCapacity = rcc
	case *ddb.ScanInput:
		in.ReturnConsumedCapacity = rcc
	case *ddb.BatchWriteItemInput:
		in.ReturnConsumedCapacity = rcc
	}
}

// usageOf returns what a request cost, and false for a request that is not billed (not an
// item request, or one that failed without a failed condition).
func usageOf(params, result any, err error) (cost.Usage, bool) {
	var ccf *types.ConditionalCheckFailedException
	failed := errors.As(err, &ccf)
	if err != nil && !failed {
		return cost.Usage{}, false
	}
	if failed { // billed, with no figure from the server
		if in, ok := params.(*ddb.PutItemInput); ok {
			return cost.Usage{DDBWRU: cost.WriteUnits(ddbitem.Size(Unmarshal(in.Item)))}, true
		}
		return cost.Usage{DDBWRU: 1}, true
	}
	switch in := params.(type) {
	case *ddb.PutItemInput:
		out := result.(*ddb.PutItemOutput)
		return writes(out.ConsumedCapacity, func() ddbitem.Item { return Unmarshal(in.Item) }), true
	case *ddb.UpdateItemInput:
		out := result.(*ddb.UpdateItemOutput)
		return writes(out.ConsumedCapacity, func() ddbitem.Item { return nil }), true
	case *ddb.DeleteItemInput:
		out := result.(*ddb.DeleteItemOutput)
		return writes(out.ConsumedCapacity, func() ddbitem.Item { return nil }), true
	case *ddb.BatchWriteItemInput:
		out := result.(*ddb.BatchWriteItemOutput)
		return batchWrites(in, out), true
	case *ddb.GetItemInput:
		out := result.(*ddb.GetItemOutput)
		return reads(out.ConsumedCapacity, []map[string]types.AttributeValue{out.Item}, in.ConsistentRead), true
	case *ddb.QueryInput:
		out := result.(*ddb.QueryOutput)
		return reads(out.ConsumedCapacity, out.Items, in.ConsistentRead), true
	case *ddb.ScanInput:
		out := result.(*ddb.ScanOutput)
		return reads(out.ConsumedCapacity, out.Items, in.ConsistentRead), true
	}
	return cost.Usage{}, false
}

// writes is the usage of a single-item write: the server's units; without a figure, item's
// units (the put item; nil when unknown: 1). item is sized only when needed.
func writes(cc *types.ConsumedCapacity, item func() ddbitem.Item) cost.Usage {
	if cc != nil && cc.CapacityUnits != nil {
		return cost.Usage{DDBWRU: *cc.CapacityUnits}
	}
	if it := item(); it != nil {
		return cost.Usage{DDBWRU: ddbitem.WriteUnits(it)}
	}
	return cost.Usage{DDBWRU: 1}
}

// batchWrites is the usage of a BatchWriteItem: the server's units; without a figure, each
// processed item's units (a delete, whose item is unknown, 1).
func batchWrites(in *ddb.BatchWriteItemInput, out *ddb.BatchWriteItemOutput) cost.Usage {
	if len(out.ConsumedCapacity) > 0 {
		var reported float64
		for _, cc := range out.ConsumedCapacity {
			if cc.CapacityUnits != nil {
				reported += *cc.CapacityUnits
			}
		}
		return cost.Usage{DDBWRU: reported}
	}
	var modelled float64
	for table, reqs := range in.RequestItems {
		unprocessed := map[string]bool{}
		for _, r := range out.UnprocessedItems[table] {
			unprocessed[requestKey(r)] = true
		}
		for _, r := range reqs {
			switch {
			case unprocessed[requestKey(r)]:
			case r.PutRequest == nil:
				modelled++
			default:
				modelled += ddbitem.WriteUnits(Unmarshal(r.PutRequest.Item))
			}
		}
	}
	return cost.Usage{DDBWRU: modelled}
}

// requestKey identifies the item of a batched write by its key attributes.
func requestKey(r types.WriteRequest) string {
	var it map[string]types.AttributeValue
	if r.PutRequest != nil {
		it = r.PutRequest.Item
	} else if r.DeleteRequest != nil {
		it = r.DeleteRequest.Key
	}
	pk, _ := it[ddbitem.AttrPK].(*types.AttributeValueMemberS)
	sk, _ := it[ddbitem.AttrSK].(*types.AttributeValueMemberS)
	if pk == nil || sk == nil {
		return ""
	}
	return pk.Value + "\x00" + sk.Value
}

// reads is the usage of a read: the server's units or, without them, the returned items'
// (cost.ReadUnits of their sum; a Scan is billed for the items it reads, which only the
// server knows).
func reads(cc *types.ConsumedCapacity, items []map[string]types.AttributeValue, consistent *bool) cost.Usage {
	if cc != nil && cc.CapacityUnits != nil {
		return cost.Usage{DDBRRU: *cc.CapacityUnits}
	}
	size := 0
	for _, it := range items {
		size += ddbitem.Size(Unmarshal(it))
	}
	return cost.Usage{DDBRRU: cost.ReadUnits(size, consistent != nil && *consistent)}
}
