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
// (ReturnConsumedCapacity INDEXES) and takes it where given: AWS reports the table's units and
// each index's, dynalite only the table's. Where the server gives no index breakdown, the
// index writes are added from the items (ddbitem.Indexes: a put's item, a delete's old item
// when the request returned it); where it gives no figure at all (a failed condition), the
// units come from the request's item by DynamoDB's rules, and an update or delete of an item
// of unknown size counts 1 unit (the stores only update and conditionally delete small items:
// heads and candidate marks). A throttled or failed request is not billed and reports nothing.

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

// askCapacity sets ReturnConsumedCapacity INDEXES on the item requests.
func askCapacity(params any) {
	const rcc = types.ReturnConsumedCapacityIndexes
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
		return writes(out.ConsumedCapacity, func() ddbitem.Item { return Unmarshal(out.Attributes) }), true
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

// indexWrites is the write units of it's copies in the indexes it is in (0 for nil).
func indexWrites(it ddbitem.Item) float64 {
	if it == nil {
		return 0
	}
	return float64(ddbitem.Indexes(it)) * cost.WriteUnits(ddbitem.Size(it))
}

// writes is the usage of a single-item write: the server's units, with the index writes of
// item (the put item, or the deleted one; nil when unknown) added unless the server reported
// them; without a figure, item's units (1 when unknown). item is sized only when needed: not
// on AWS, which reports the indexes too.
func writes(cc *types.ConsumedCapacity, item func() ddbitem.Item) cost.Usage {
	reported := cc != nil && cc.CapacityUnits != nil
	if reported && cc.GlobalSecondaryIndexes != nil {
		return cost.Usage{DDBWRU: *cc.CapacityUnits}
	}
	it := item()
	switch {
	case reported:
		return cost.Usage{DDBWRU: *cc.CapacityUnits + indexWrites(it)}
	case it == nil:
		return cost.Usage{DDBWRU: 1}
	}
	return cost.Usage{DDBWRU: ddbitem.WriteUnits(it)}
}

// batchWrites is the usage of a BatchWriteItem: the server's units, with the index writes of
// the processed puts added unless the server reported them; without a figure, each processed
// item's units (a delete, whose item is unknown, 1). Items are sized only when needed.
func batchWrites(in *ddb.BatchWriteItemInput, out *ddb.BatchWriteItemOutput) cost.Usage {
	var reported float64
	breakdown := false
	for _, cc := range out.ConsumedCapacity {
		if cc.CapacityUnits != nil {
			reported += *cc.CapacityUnits
			breakdown = breakdown || cc.GlobalSecondaryIndexes != nil
		}
	}
	if breakdown {
		return cost.Usage{DDBWRU: reported}
	}
	var modelled, indexes float64
	for table, reqs := range in.RequestItems {
		unprocessed := map[string]bool{}
		for _, r := range out.UnprocessedItems[table] {
			unprocessed[requestKey(r)] = true
		}
		for _, r := range reqs {
			if unprocessed[requestKey(r)] {
				continue
			}
			if r.PutRequest == nil {
				modelled++
				continue
			}
			it := Unmarshal(r.PutRequest.Item)
			modelled += ddbitem.WriteUnits(it)
			indexes += indexWrites(it)
		}
	}
	if len(out.ConsumedCapacity) == 0 {
		return cost.Usage{DDBWRU: modelled}
	}
	return cost.Usage{DDBWRU: reported + indexes}
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
