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
	"github.com/aws/smithy-go"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/internal/rules"
	rcddb "github.com/stowken/stowken/refcount/dynamodb"
)

// Shards is the number of partitions each index spreads its entries over. It is part of the
// stored format: changing it would hide existing entries from List.
const Shards = 4

// Item attribute and index names (see the package documentation; the unit tests check them
// against refcount/dynamodb.TableSchema).
const (
	attrPK          = "pk"
	attrSK          = "sk"
	attrID          = "id"
	attrNonce       = "nonce"
	attrApplication = "application"
	attrModel       = "model"
	attrTokenizer   = "tokenizer"
	attrCreated     = "created"
	attrStored      = "stored"
	attrMessages    = "messages"
	attrTokens      = "tokens"
	attrStoredBytes = "stored_bytes"
	attrMetadata    = "metadata"
	attrTimePK      = "gsi1pk"
	attrAppPK       = "gsi2pk"
	attrModelPK     = "gsi3pk"
	attrIndexSK     = "gsisk"

	indexByTime  = "by_time"
	indexByApp   = "by_app"
	indexByModel = "by_model"

	skCatalog = "catalog"
)

// filteredReadItems is the least number of items one Query evaluates when it has a filter, so
// that a selective filter does not cost a round trip per page-sized handful of items.
const filteredReadItems = 100

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Options are the client settings of refcount/dynamodb (HTTP client, credentials,
	// attempts), applied the same way.
	rcddb.Options
	// Namespace prefixes every partition key of the catalog's items and index entries. It must
	// not contain '#'.
	Namespace string
}

// Store is a catalog.Backend in a DynamoDB table. Create it with Open.
type Store struct {
	client *ddb.Client
	table  string
	ns     string
}

var _ catalog.Backend = (*Store)(nil)

// Open returns a store on the table u names (dynamodb://TABLE[?region=R][&endpoint=URL]), in
// opts.Namespace. It does not contact the server; refcount/dynamodb's EnsureTable creates the
// table with the catalog's indexes.
func Open(ctx context.Context, u *url.URL, opts Options) (*Store, error) {
	if strings.Contains(opts.Namespace, "#") || rules.CheckString(opts.Namespace) != nil {
		return nil, fmt.Errorf("catalog/dynamodb: namespace %q must be UTF-8 without '#' or NUL", opts.Namespace)
	}
	client, table, err := rcddb.NewClient(ctx, u, opts.Options)
	if err != nil {
		return nil, fmt.Errorf("catalog/dynamodb: %w", err)
	}
	return &Store{client: client, table: table, ns: opts.Namespace}, nil
}

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
		return st.ns + "app#" + value + "#" + s
	case rules.ByModel:
		return st.ns + "model#" + value + "#" + s
	}
	return st.ns + "cat#" + s
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
		return indexByApp, attrAppPK
	case rules.ByModel:
		return indexByModel, attrModelPK
	}
	return indexByTime, attrTimePK
}

type item = map[string]types.AttributeValue

func strAttr(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func numAttr(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func (st *Store) key(id string) item {
	return item{attrPK: strAttr(st.ns + "conv#" + id), attrSK: strAttr(skCatalog)}
}

// encode returns the item of a normalized entry.
func (st *Store) encode(e catalog.Entry) item {
	it := st.key(e.ID)
	for name, v := range map[string]string{attrID: e.ID, attrNonce: e.Nonce, attrApplication: e.Application,
		attrModel: e.Model, attrTokenizer: e.Tokenizer} {
		it[name] = strAttr(v)
	}
	for name, v := range map[string]int64{attrCreated: rules.Millis(e.CreatedAt), attrStored: rules.Millis(e.StoredAt),
		attrMessages: int64(e.Messages), attrStoredBytes: e.StoredBytes} {
		it[name] = numAttr(v)
	}
	if len(e.Tokens) > 0 {
		m := make(item, len(e.Tokens))
		for role, n := range e.Tokens {
			m[role] = numAttr(n)
		}
		it[attrTokens] = &types.AttributeValueMemberM{Value: m}
	}
	if len(e.Metadata) > 0 {
		m := make(item, len(e.Metadata))
		for k, v := range e.Metadata {
			m[k] = strAttr(v)
		}
		it[attrMetadata] = &types.AttributeValueMemberM{Value: m}
	}
	k, sh := rules.KeyOf(e), shard(e.ID)
	it[attrIndexSK] = strAttr(indexSK(k))
	it[attrTimePK] = strAttr(st.indexPK(rules.ByTime, "", sh))
	if e.Application != "" {
		it[attrAppPK] = strAttr(st.indexPK(rules.ByApp, e.Application, sh))
	}
	if e.Model != "" {
		it[attrModelPK] = strAttr(st.indexPK(rules.ByModel, e.Model, sh))
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
		str(attrID), str(attrNonce), str(attrApplication), str(attrModel), str(attrTokenizer)
	e.CreatedAt = rules.Time(num(attrCreated, it[attrCreated]))
	e.StoredAt = rules.Time(num(attrStored, it[attrStored]))
	e.Messages = int(num(attrMessages, it[attrMessages]))
	e.StoredBytes = num(attrStoredBytes, it[attrStoredBytes])
	if m := mapOf(attrTokens); len(m) > 0 {
		e.Tokens = make(map[string]int64, len(m))
		for role, v := range m {
			e.Tokens[role] = num(attrTokens+"."+role, v)
		}
	}
	if m := mapOf(attrMetadata); len(m) > 0 {
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
		return catalog.Entry{}, fmt.Errorf("catalog/dynamodb: malformed catalog item %v: %w", it[attrPK], err)
	}
	return e, nil
}

// translate is the one place SDK errors become this package's: a missing table or index says
// how to create it; everything else (context cancellation included, which stays visible to
// errors.Is) is wrapped with the operation.
func (st *Store) translate(op, id string, err error) error {
	what := "catalog/dynamodb: " + op
	if id != "" {
		what += " " + strconv.Quote(id)
	}
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return fmt.Errorf("%s: table %q does not exist (create it with refcount/dynamodb's EnsureTable, i.e. stowken init): %w", what, st.table, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationException" && strings.Contains(api.ErrorMessage(), "specified index") {
		return fmt.Errorf("%s: table %q lacks the catalog's indexes (refcount/dynamodb.TableSchema; a table created before the catalog needs them added): %w", what, st.table, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Put puts the entry's item, replacing any item of e.ID.
func (st *Store) Put(ctx context.Context, e catalog.Entry) error {
	e, err := rules.Normalize(e)
	if err != nil {
		return err
	}
	_, err = st.client.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(st.table), Item: st.encode(e)})
	if err != nil {
		return st.translate("put", e.ID, err)
	}
	return nil
}

// Delete deletes the item of id, on the condition that its nonce is nonce when nonce is not "".
func (st *Store) Delete(ctx context.Context, id, nonce string) error {
	in := &ddb.DeleteItemInput{TableName: aws.String(st.table), Key: st.key(id)}
	if nonce != "" {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk) OR #nonce = :nonce")
		in.ExpressionAttributeNames = map[string]string{"#pk": attrPK, "#nonce": attrNonce}
		in.ExpressionAttributeValues = item{":nonce": strAttr(nonce)}
	}
	_, err := st.client.DeleteItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &ccf) { // another nonce: a newer stored copy's entry stays
		return nil
	}
	return st.translate("delete", id, err)
}

// Get reads the item of id with a strongly consistent GetItem.
func (st *Store) Get(ctx context.Context, id string) (catalog.Entry, error) {
	out, err := st.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(st.table),
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
	names := map[string]string{"#pk": pk, "#sk": attrIndexSK}
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
		filter("#model = :model", "#model", attrModel, p.Query.Model)
	}
	if p.Query.Tokenizer != "" {
		filter("#tokenizer = :tokenizer", "#tokenizer", attrTokenizer, p.Query.Tokenizer)
	}
	for i, k := range slices.Sorted(maps.Keys(p.Query.Metadata)) {
		names["#metadata"] = attrMetadata
		filter(fmt.Sprintf("#metadata.#m%d = :m%d", i, i), fmt.Sprintf("#m%d", i), k, p.Query.Metadata[k])
	}
	in := &ddb.QueryInput{
		TableName:                 aws.String(st.table),
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
	out, err := st.client.Query(ctx, s.in)
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
