package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/internal/rules"
	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/internal/ddbtable"
)

// Shards is the number of partitions each index spreads its entries over
// (ddbitem.CatalogShards).
const Shards = ddbitem.CatalogShards

// filteredReadItems is the least number of items one Query evaluates when it has a filter, so
// that a selective filter does not cost a round trip per page-sized handful of items.
const filteredReadItems = 100

// Options tune Open: the client's settings and the namespace (ddbtable.Options), which
// prefixes every partition key of the catalog's items and index entries.
type Options = ddbtable.Options

// Store is a catalog.Backend in a DynamoDB table, in the table's namespace. Create it with Open
// or New.
type Store struct {
	t *ddbtable.Table
}

var _ catalog.Backend = (*Store)(nil)

// Open returns a store on the table u names (dynamodb://TABLE[?region=R][&endpoint=URL]), in
// opts.Namespace (see ddbtable.Open). It does not contact the server; the Table's EnsureTable
// creates the table with the catalog's indexes.
func Open(ctx context.Context, u *url.URL, opts Options) (*Store, error) {
	t, err := ddbtable.Open(ctx, u, opts)
	if err != nil {
		return nil, fmt.Errorf("catalog/dynamodb: %w", err)
	}
	return New(t), nil
}

// New returns a store on t, keeping its items under t.Namespace.
func New(t *ddbtable.Table) *Store {
	return &Store{t: t}
}

// Table returns the table the store is on.
func (st *Store) Table() *ddbtable.Table { return st.t }

// indexSK is the sort key of position k in every index: created ms (15 digits), "#", id. It
// sorts as rules.Key does: the digits by time, then the ids bytewise after the same "#".
func indexSK(k rules.Key) string { return ddbitem.IndexSK(k.Ms, k.ID) }

// indexOf returns the name of index ix and its partition key attribute.
func indexOf(ix rules.Index) (name, pk string) {
	switch ix {
	case rules.ByApp:
		return ddbitem.IndexByApp, ddbitem.AttrByAppPK
	case rules.ByModel:
		return ddbitem.IndexByModel, ddbitem.AttrByModelPK
	}
	return ddbitem.IndexByTime, ddbitem.AttrByTimePK
}

type item = map[string]types.AttributeValue

func strAttr(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func (st *Store) key(id string) item { return ddbtable.Marshal(ddbitem.CatalogKey(st.t.Namespace, id)) }

// decode returns the entry of an item.
func decode(it item) (catalog.Entry, error) {
	var (
		e    catalog.Entry
		errs []error
	)
	str := func(name string) string {
		v, ok := it[name].(*types.AttributeValueMemberS)
		if !ok {
			errs = append(errs, fmt.Errorf("attribute %s is %T, want a string", name, it[name]))
			return ""
		}
		return v.Value
	}
	num := func(name string, v types.AttributeValue) int64 {
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			errs = append(errs, fmt.Errorf("attribute %s is %T, want a number", name, v))
			return 0
		}
		x, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("attribute %s: %w", name, err))
		}
		return x
	}
	mapOf := func(name string) map[string]types.AttributeValue {
		switch m := it[name].(type) {
		case nil:
			return nil
		case *types.AttributeValueMemberM:
			return m.Value
		default:
			errs = append(errs, fmt.Errorf("attribute %s is %T, want a map", name, m))
			return nil
		}
	}
	e.ID, e.Nonce, e.Application, e.Model, e.Tokenizer =
		str(ddbitem.AttrID), str(ddbitem.AttrNonce), str(ddbitem.AttrApplication), str(ddbitem.AttrModel), str(ddbitem.AttrTokenizer)
	e.CreatedAt = rules.Time(num(ddbitem.AttrCreated, it[ddbitem.AttrCreated]))
	e.StoredAt = rules.Time(num(ddbitem.AttrStored, it[ddbitem.AttrStored]))
	e.Messages = int(num(ddbitem.AttrMessages, it[ddbitem.AttrMessages]))
	e.StoredBytes = num(ddbitem.AttrStoredBytes, it[ddbitem.AttrStoredBytes])
	if m := mapOf(ddbitem.AttrTokens); len(m) > 0 {
		e.Tokens = make(map[string]int64, len(m))
		for role, v := range m {
			e.Tokens[role] = num(ddbitem.AttrTokens+"."+role, v)
		}
	}
	if m := mapOf(ddbitem.AttrMetadata); len(m) > 0 {
		e.Metadata = make(map[string]string, len(m))
		for k, v := range m {
			s, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				errs = append(errs, fmt.Errorf("metadata %q is %T, want a string", k, v))
				continue
			}
			e.Metadata[k] = s.Value
		}
	}
	if err := errors.Join(errs...); err != nil {
		return catalog.Entry{}, fmt.Errorf("catalog/dynamodb: malformed catalog item %v: %w", it[ddbitem.AttrPK], err)
	}
	return e, nil
}

// translate is the one place SDK errors become this package's: a missing table or index says
// how to create it (ddbtable's TableError); everything else (context cancellation included,
// which stays visible to errors.Is) is wrapped with the operation.
func (st *Store) translate(op, id string, err error) error {
	what := "catalog/dynamodb: " + op
	if id != "" {
		what += " " + strconv.Quote(id)
	}
	if terr := st.t.TableError(what, err); terr != nil {
		return terr
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Put puts the entry's item, replacing any item of e.ID.
func (st *Store) Put(ctx context.Context, e catalog.Entry) error {
	e, err := rules.Normalize(e)
	if err != nil {
		return err
	}
	_, err = st.t.Client.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(st.t.Name), Item: ddbtable.Marshal(ddbitem.Catalog(st.t.Namespace, e))})
	if err != nil {
		return st.translate("put", e.ID, err)
	}
	return nil
}

// Delete deletes the item of id, on the condition that its nonce is nonce when nonce is not "".
func (st *Store) Delete(ctx context.Context, id, nonce string) error {
	// The old item comes back so that the metering can count the index entries the delete
	// removes (ddbtable's usage), which dynalite does not report.
	in := &ddb.DeleteItemInput{TableName: aws.String(st.t.Name), Key: st.key(id), ReturnValues: types.ReturnValueAllOld}
	if nonce != "" {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk) OR #nonce = :nonce")
		in.ExpressionAttributeNames = map[string]string{"#pk": ddbitem.AttrPK, "#nonce": ddbitem.AttrNonce}
		in.ExpressionAttributeValues = item{":nonce": strAttr(nonce)}
	}
	_, err := st.t.Client.DeleteItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &ccf) { // another nonce: a newer stored copy's entry stays
		return nil
	}
	return st.translate("delete", id, err)
}

// Get reads the item of id with a strongly consistent GetItem.
func (st *Store) Get(ctx context.Context, id string) (catalog.Entry, error) {
	out, err := st.t.Client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(st.t.Name),
		Key:            st.key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return catalog.Entry{}, st.translate("get", id, err)
	}
	if out.Item == nil {
		return catalog.Entry{}, fmt.Errorf("catalog/dynamodb: entry %q: %w", id, catalog.ErrNotFound)
	}
	return decode(out.Item)
}

// shardQuery is one shard's part of a List: its next request, and the matching entries it
// returned that the merge has not taken yet.
type shardQuery struct {
	in   *ddb.QueryInput
	buf  []catalog.Entry
	done bool // no more items
}

// List queries every shard of the plan's index and merges their items (see the package
// documentation).
func (st *Store) List(ctx context.Context, q catalog.Query) (catalog.Page, error) {
	p, err := rules.NewPlan(q)
	if err != nil {
		return catalog.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return catalog.Page{}, st.translate("list", "", err)
	}
	if p.Empty() {
		return catalog.Page{}, nil
	}
	shards := make([]*shardQuery, Shards)
	for i := range shards {
		shards[i] = &shardQuery{in: st.queryInput(p, i)}
	}
	var matched []catalog.Entry
	for len(matched) < p.Want() {
		if err := st.fill(ctx, p, shards); err != nil {
			return catalog.Page{}, err
		}
		// Take the first entry, in the plan's order, among the shards' next ones.
		var next *shardQuery
		for _, s := range shards {
			if len(s.buf) > 0 && (next == nil || p.Before(s.buf[0], next.buf[0])) {
				next = s
			}
		}
		if next == nil {
			break // every shard is done
		}
		matched = append(matched, next.buf[0])
		next.buf = next.buf[1:]
	}
	return p.Page(matched), nil
}

// queryInput is the first Query of one shard of the plan's index.
func (st *Store) queryInput(p *rules.Plan, shard int) *ddb.QueryInput {
	ix, value := p.Index()
	index, pk := indexOf(ix)
	names := map[string]string{"#pk": pk, "#sk": ddbitem.AttrIndexSK}
	values := item{
		":pk": strAttr(ddbitem.IndexPK(st.t.Namespace, index, value, shard)),
		":lo": strAttr(indexSK(p.Lower())),
		":hi": strAttr(indexSK(p.Upper())),
	}
	var filters []string
	filter := func(expr, name, attr, v string) {
		names[name] = attr
		values[":"+name[1:]] = strAttr(v)
		filters = append(filters, expr)
	}
	if ix == rules.ByApp && p.Query.Model != "" {
		filter("#model = :model", "#model", ddbitem.AttrModel, p.Query.Model)
	}
	if p.Query.Tokenizer != "" {
		filter("#tokenizer = :tokenizer", "#tokenizer", ddbitem.AttrTokenizer, p.Query.Tokenizer)
	}
	for i, k := range slices.Sorted(maps.Keys(p.Query.Metadata)) {
		names["#metadata"] = ddbitem.AttrMetadata
		filter(fmt.Sprintf("#metadata.#m%d = :m%d", i, i), fmt.Sprintf("#m%d", i), k, p.Query.Metadata[k])
	}
	in := &ddb.QueryInput{
		TableName:                 aws.String(st.t.Name),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ScanIndexForward:          aws.Bool(!p.Desc),
		Limit:                     aws.Int32(int32(p.Want())),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
	if len(filters) > 0 {
		in.FilterExpression = aws.String(strings.Join(filters, " AND "))
		in.Limit = aws.Int32(int32(max(p.Want(), filteredReadItems)))
	}
	return in
}

// fill queries, in parallel, every shard that has no entry left and more items, until each has
// an entry or is done. Requests already sent are never abandoned (dynalite crashes when a client
// does that), so fill waits for all of them before it reports an error.
func (st *Store) fill(ctx context.Context, p *rules.Plan, shards []*shardQuery) error {
	for {
		var wg sync.WaitGroup
		errs := make([]error, len(shards))
		for i, s := range shards {
			if len(s.buf) > 0 || s.done {
				continue
			}
			wg.Go(func() { errs[i] = st.fetch(ctx, p, s) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if !slices.ContainsFunc(shards, func(s *shardQuery) bool { return len(s.buf) == 0 && !s.done }) {
			return nil
		}
	}
}

// fetch sends a shard's next Query and keeps the entries the plan matches (the filter
// expression has dropped most others; Match also drops the cursor's own entry).
func (st *Store) fetch(ctx context.Context, p *rules.Plan, s *shardQuery) error {
	out, err := st.t.Client.Query(ctx, s.in)
	if err != nil {
		return st.translate("list", "", err)
	}
	for _, it := range out.Items {
		e, err := decode(it)
		if err != nil {
			return err
		}
		if p.Match(e) {
			s.buf = append(s.buf, e)
		}
	}
	s.in.ExclusiveStartKey = out.LastEvaluatedKey
	s.done = len(out.LastEvaluatedKey) == 0
	return nil
}

// ItemNamespace returns the namespace of the store's items. With it the store is a
// meter.Reporter: its requests report what they cost (the server's consumed capacity, through
// the Table's client: see internal/ddbtable), and the vault's metering takes that figure
// instead of its model.
func (st *Store) ItemNamespace() string { return st.t.Namespace }

// TableClass returns the class of the store's table (ddbtable.Table.Class), which prices its
// DynamoDB usage.
func (st *Store) TableClass(ctx context.Context) (string, error) { return st.t.Class(ctx) }

// Close releases nothing: the SDK client holds no resources that need closing.
func (st *Store) Close() error { return nil }
