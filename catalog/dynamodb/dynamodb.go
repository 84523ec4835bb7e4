package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
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
	"github.com/stowken/stowken/internal/ddbtable"
)

// Shards is the number of partitions each index spreads its entries over. It is part of the
// stored format: changing it would hide existing entries from List.
const Shards = 4

// skCatalog is the sort key of every catalog item.
const skCatalog = "catalog"

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

// shard maps an id to its shard in [0, Shards): FNV-1a (32 bit) modulo Shards. Part of the
// stored format.
func shard(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id)) // never fails
	return int(h.Sum32() % Shards)
}

// indexPK is the partition key of an entry (or a query) in index ix, for value (application or
// model) and shard.
func (st *Store) indexPK(ix rules.Index, value string, shard int) string {
	s := strconv.Itoa(shard)
	switch ix {
	case rules.ByApp:
		return st.t.InNamespace("app#" + value + "#" + s)
	case rules.ByModel:
		return st.t.InNamespace("model#" + value + "#" + s)
	}
	return st.t.InNamespace("cat#" + s)
}

// indexSK is the sort key of position k in every index: created ms (15 digits), "#", id. It
// sorts as rules.Key does: the digits by time, then the ids bytewise after the same "#".
func indexSK(k rules.Key) string {
	return fmt.Sprintf("%015d#%s", k.Ms, k.ID)
}

// indexOf returns the name of index ix and its partition key attribute.
func indexOf(ix rules.Index) (name, pk string) {
	switch ix {
	case rules.ByApp:
		return ddbtable.IndexByApp, ddbtable.AttrByAppPK
	case rules.ByModel:
		return ddbtable.IndexByModel, ddbtable.AttrByModelPK
	}
	return ddbtable.IndexByTime, ddbtable.AttrByTimePK
}

type item = map[string]types.AttributeValue

func strAttr(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func numAttr(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func (st *Store) key(id string) item {
	return item{ddbtable.AttrPK: strAttr(st.t.InNamespace("conv#" + id)), ddbtable.AttrSK: strAttr(skCatalog)}
}

// encode returns the item of a normalized entry.
func (st *Store) encode(e catalog.Entry) item {
	it := st.key(e.ID)
	for name, v := range map[string]string{ddbtable.AttrID: e.ID, ddbtable.AttrNonce: e.Nonce, ddbtable.AttrApplication: e.Application,
		ddbtable.AttrModel: e.Model, ddbtable.AttrTokenizer: e.Tokenizer} {
		it[name] = strAttr(v)
	}
	for name, v := range map[string]int64{ddbtable.AttrCreated: rules.Millis(e.CreatedAt), ddbtable.AttrStored: rules.Millis(e.StoredAt),
		ddbtable.AttrMessages: int64(e.Messages), ddbtable.AttrStoredBytes: e.StoredBytes} {
		it[name] = numAttr(v)
	}
	if len(e.Tokens) > 0 {
		m := make(item, len(e.Tokens))
		for role, n := range e.Tokens {
			m[role] = numAttr(n)
		}
		it[ddbtable.AttrTokens] = &types.AttributeValueMemberM{Value: m}
	}
	if len(e.Metadata) > 0 {
		m := make(item, len(e.Metadata))
		for k, v := range e.Metadata {
			m[k] = strAttr(v)
		}
		it[ddbtable.AttrMetadata] = &types.AttributeValueMemberM{Value: m}
	}
	k, sh := rules.KeyOf(e), shard(e.ID)
	it[ddbtable.AttrIndexSK] = strAttr(indexSK(k))
	it[ddbtable.AttrByTimePK] = strAttr(st.indexPK(rules.ByTime, "", sh))
	if e.Application != "" {
		it[ddbtable.AttrByAppPK] = strAttr(st.indexPK(rules.ByApp, e.Application, sh))
	}
	if e.Model != "" {
		it[ddbtable.AttrByModelPK] = strAttr(st.indexPK(rules.ByModel, e.Model, sh))
	}
	return it
}

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
		str(ddbtable.AttrID), str(ddbtable.AttrNonce), str(ddbtable.AttrApplication), str(ddbtable.AttrModel), str(ddbtable.AttrTokenizer)
	e.CreatedAt = rules.Time(num(ddbtable.AttrCreated, it[ddbtable.AttrCreated]))
	e.StoredAt = rules.Time(num(ddbtable.AttrStored, it[ddbtable.AttrStored]))
	e.Messages = int(num(ddbtable.AttrMessages, it[ddbtable.AttrMessages]))
	e.StoredBytes = num(ddbtable.AttrStoredBytes, it[ddbtable.AttrStoredBytes])
	if m := mapOf(ddbtable.AttrTokens); len(m) > 0 {
		e.Tokens = make(map[string]int64, len(m))
		for role, v := range m {
			e.Tokens[role] = num(ddbtable.AttrTokens+"."+role, v)
		}
	}
	if m := mapOf(ddbtable.AttrMetadata); len(m) > 0 {
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
		return catalog.Entry{}, fmt.Errorf("catalog/dynamodb: malformed catalog item %v: %w", it[ddbtable.AttrPK], err)
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
	_, err = st.t.Client.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(st.t.Name), Item: st.encode(e)})
	if err != nil {
		return st.translate("put", e.ID, err)
	}
	return nil
}

// Delete deletes the item of id, on the condition that its nonce is nonce when nonce is not "".
func (st *Store) Delete(ctx context.Context, id, nonce string) error {
	in := &ddb.DeleteItemInput{TableName: aws.String(st.t.Name), Key: st.key(id)}
	if nonce != "" {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk) OR #nonce = :nonce")
		in.ExpressionAttributeNames = map[string]string{"#pk": ddbtable.AttrPK, "#nonce": ddbtable.AttrNonce}
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
	names := map[string]string{"#pk": pk, "#sk": ddbtable.AttrIndexSK}
	values := item{
		":pk": strAttr(st.indexPK(ix, value, shard)),
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
		filter("#model = :model", "#model", ddbtable.AttrModel, p.Query.Model)
	}
	if p.Query.Tokenizer != "" {
		filter("#tokenizer = :tokenizer", "#tokenizer", ddbtable.AttrTokenizer, p.Query.Tokenizer)
	}
	for i, k := range slices.Sorted(maps.Keys(p.Query.Metadata)) {
		names["#metadata"] = ddbtable.AttrMetadata
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

// Close releases nothing: the SDK client holds no resources that need closing.
func (st *Store) Close() error { return nil }
