package dynamodb

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/internal/rules"
	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/internal/ddbtable"
)

// TestItemAttributesDocumented: every attribute of the catalog item is documented with its type
// in ddbtable.TableSchema().ItemAttributes.
func TestItemAttributesDocumented(t *testing.T) {
	sc := ddbtable.TableSchema()
	documented := map[string]string{}
	for _, a := range sc.ItemAttributes {
		if a.Item == "catalog" {
			documented[a.Name] = a.Type
		}
	}
	st := New(&ddbtable.Table{Namespace: "ns:"})
	e := fullEntry()
	it := encode(st, e)
	for name, v := range it {
		typ := attrType(v)
		if name == ddbitem.AttrPK || name == ddbitem.AttrSK || slices.ContainsFunc(sc.KeyAttributes(), func(a ddbtable.Attribute) bool { return a.Name == name }) {
			continue
		}
		if documented[name] != typ {
			t.Errorf("the item's attribute %s (%s) is documented as %q in TableSchema().ItemAttributes", name, typ, documented[name])
		}
	}
	if len(documented) != len(it)-6 {
		t.Errorf("TableSchema documents %d catalog attributes, the item has %d besides the keys", len(documented), len(it)-6)
	}
}

// attrType is the DynamoDB type of v: "S", "N" or "M".
func attrType(v types.AttributeValue) string {
	switch v.(type) {
	case *types.AttributeValueMemberS:
		return "S"
	case *types.AttributeValueMemberN:
		return "N"
	case *types.AttributeValueMemberM:
		return "M"
	}
	return "?"
}

func fullEntry() catalog.Entry {
	return catalog.Entry{
		ID: "conv#1", Nonce: "n", Application: "app#x", Model: "m", Tokenizer: "tok",
		CreatedAt: time.Date(2025, 3, 1, 0, 0, 0, 5e6, time.UTC), StoredAt: time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC),
		Messages: 3, Tokens: map[string]int64{"user": 5, "assistant": 7}, StoredBytes: 99,
		Metadata: map[string]string{"k": "v", "a.b": "c"},
	}
}

func TestItemRoundTrip(t *testing.T) {
	st := New(&ddbtable.Table{Namespace: "ns:"})
	e := fullEntry()
	it := encode(st, e)
	str := func(name string) string {
		v, ok := it[name].(*types.AttributeValueMemberS)
		if !ok {
			t.Fatalf("attribute %s is %T", name, it[name])
		}
		return v.Value
	}
	sh := ddbitem.CatalogShard(e.ID)
	wantKeys := map[string]string{
		ddbitem.AttrPK:        "ns:conv#conv#1",
		ddbitem.AttrSK:        "catalog",
		ddbitem.AttrByTimePK:  "ns:cat#" + string(rune('0'+sh)),
		ddbitem.AttrByAppPK:   "ns:app#app#x#" + string(rune('0'+sh)),
		ddbitem.AttrByModelPK: "ns:model#m#" + string(rune('0'+sh)),
		ddbitem.AttrIndexSK:   "001740787200005#conv#1",
	}
	for name, want := range wantKeys {
		if got := str(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	got, err := decode(it)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Nonce != e.Nonce || got.Application != e.Application || got.Model != e.Model ||
		got.Tokenizer != e.Tokenizer || !got.CreatedAt.Equal(e.CreatedAt) || !got.StoredAt.Equal(e.StoredAt) ||
		got.Messages != e.Messages || got.StoredBytes != e.StoredBytes || !maps.Equal(got.Tokens, e.Tokens) ||
		!maps.Equal(got.Metadata, e.Metadata) {
		t.Fatalf("decode(encode(e)) = %+v\nwant %+v", got, e)
	}

	// Without application and model the item is in neither of their indexes (sparse indexes).
	e.Application, e.Model, e.Tokens, e.Metadata = "", "", nil, nil
	it = encode(st, e)
	for _, name := range []string{ddbitem.AttrByAppPK, ddbitem.AttrByModelPK, ddbitem.AttrTokens, ddbitem.AttrMetadata} {
		if _, ok := it[name]; ok {
			t.Errorf("an entry without it has attribute %s", name)
		}
	}

	// Malformed items are errors, not zero values.
	for _, name := range []string{ddbitem.AttrID, ddbitem.AttrCreated, ddbitem.AttrStored} {
		bad := encode(st, fullEntry())
		delete(bad, name)
		if _, err := decode(bad); err == nil {
			t.Errorf("decode of an item without %s succeeded", name)
		}
	}
	bad := encode(st, fullEntry())
	bad[ddbitem.AttrMessages] = &types.AttributeValueMemberN{Value: "1.5"}
	if _, err := decode(bad); err == nil {
		t.Error("decode of a fractional message count succeeded")
	}
}

func TestIndexSortKeyOrder(t *testing.T) {
	// gsisk must sort (as DynamoDB compares strings: bytewise) exactly like rules.Key.
	k := func(ms int64, id string) rules.Key { return rules.Key{Ms: ms, ID: id} }
	keys := []rules.Key{k(0, ""), k(0, "a"), k(5, "a"), k(5, "a\x01"), k(5, "a#"), k(5, "ab"), k(5, "b"), k(10, ""), k(10, "A"),
		k(rules.MaxMillis, "z"), k(rules.MaxMillis+1, "")}
	for i := range keys {
		for j := range keys {
			if got, want := strings.Compare(indexSK(keys[i]), indexSK(keys[j])), keys[i].Compare(keys[j]); got != want {
				t.Errorf("indexSK(%v) vs indexSK(%v): %d, keys compare %d", keys[i], keys[j], got, want)
			}
		}
	}
	if got := indexSK(rules.Key{Ms: rules.MaxMillis + 1}); len(got) != 16 {
		t.Errorf("indexSK of the largest bound = %q: not 15 digits", got)
	}
}

func TestShardIsStable(t *testing.T) {
	// The shard function is part of the stored format: these values must never change.
	golden := map[string]int{"": 1, "a": 0, "conversation/123": 1, "0190f6a4-7a9b-7c3e-8d2f-1b2c3d4e5f60": 0}
	for id, want := range golden {
		if got := ddbitem.CatalogShard(id); got != want {
			t.Errorf("ddbitem.CatalogShard(%q) = %d, want %d", id, got, want)
		}
	}
}

func TestQueryInput(t *testing.T) {
	st := New(&ddbtable.Table{Name: "t", Namespace: "ns:"})
	plan := func(q catalog.Query) *rules.Plan {
		p, err := rules.NewPlan(q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		q      catalog.Query
		index  string
		pk     string
		filter string
		limit  int32
	}{
		{"All", catalog.Query{}, "by_time", "ns:cat#2", "", 101},
		{"Application", catalog.Query{Application: "a", Limit: 5, Oldest: true}, "by_app", "ns:app#a#2", "", 6},
		{"ApplicationAndModel", catalog.Query{Application: "a", Model: "m"}, "by_app", "ns:app#a#2", "#model = :model", 101},
		{"Model", catalog.Query{Model: "m", Limit: 1}, "by_model", "ns:model#m#2", "", 2},
		{"Filters", catalog.Query{Model: "m", Tokenizer: "t", Metadata: map[string]string{"z": "1", "a": "2"}, Limit: 1},
			"by_model", "ns:model#m#2", "#tokenizer = :tokenizer AND #metadata.#m0 = :m0 AND #metadata.#m1 = :m1", filteredReadItems},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := st.queryInput(plan(tc.q), 2)
			pk := in.ExpressionAttributeValues[":pk"].(*types.AttributeValueMemberS).Value
			if aws.ToString(in.IndexName) != tc.index || pk != tc.pk || aws.ToString(in.FilterExpression) != tc.filter ||
				aws.ToInt32(in.Limit) != tc.limit || aws.ToBool(in.ScanIndexForward) != tc.q.Oldest {
				t.Fatalf("queryInput = index %s, pk %s, filter %q, limit %d, forward %v",
					aws.ToString(in.IndexName), pk, aws.ToString(in.FilterExpression), aws.ToInt32(in.Limit), aws.ToBool(in.ScanIndexForward))
			}
			// DynamoDB rejects names or values no expression uses.
			exprs := aws.ToString(in.KeyConditionExpression) + " " + aws.ToString(in.FilterExpression)
			for name := range in.ExpressionAttributeNames {
				if !strings.Contains(exprs, name) {
					t.Errorf("unused attribute name %s in %q", name, exprs)
				}
			}
			for v := range in.ExpressionAttributeValues {
				if !strings.Contains(exprs, v) {
					t.Errorf("unused attribute value %s in %q", v, exprs)
				}
			}
			if tc.name == "Filters" && (in.ExpressionAttributeNames["#m0"] != "a" || in.ExpressionAttributeNames["#m1"] != "z") {
				t.Errorf("metadata names %v", in.ExpressionAttributeNames)
			}
		})
	}
}

func TestOpenNamespace(t *testing.T) {
	u, _ := url.Parse("dynamodb://some-table?region=eu-west-1")
	for ns, ok := range map[string]bool{"": true, "0123456789abcdef:": true, "a#b": false, "\xff": false, "a\x00": false} {
		st, err := Open(t.Context(), u, Options{Namespace: ns})
		if ok != (err == nil) {
			t.Errorf("Open with namespace %q: %v", ns, err)
		}
		if ok && (st.t.Name != "some-table" || st.t.Namespace != ns) {
			t.Errorf("Open: table %q, namespace %q", st.t.Name, st.t.Namespace)
		}
	}
	bad, _ := url.Parse("s3://bucket")
	if _, err := Open(t.Context(), bad, Options{}); err == nil || !strings.Contains(err.Error(), "scheme must be dynamodb") {
		t.Errorf("Open(s3://bucket): %v", err)
	}
}

// encode is the SDK item Put sends for e.
func encode(st *Store, e catalog.Entry) item {
	return ddbtable.Marshal(ddbitem.Catalog(st.t.Namespace, e))
}
