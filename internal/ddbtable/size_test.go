package ddbtable

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/cost"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// TestItemSize checks DynamoDB's size rules on values worked out by hand.
func TestItemSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		item map[string]types.AttributeValue
		want int
	}{
		{"head key", map[string]types.AttributeValue{"pk": s("seg#abc"), "sk": s("head")}, 2 + 7 + 2 + 4},
		{"UTF-8", map[string]types.AttributeValue{"é": s("€")}, 2 + 3},
		{"seven digits", map[string]types.AttributeValue{"size": n("1234567")}, 4 + 5},
		{"trailing zeros", map[string]types.AttributeValue{"n": n("100")}, 1 + 2},
		{"zero", map[string]types.AttributeValue{"n": n("0")}, 1 + 1},
		{"sign and point", map[string]types.AttributeValue{"n": n("-12.50")}, 1 + 3},
		{"millis", map[string]types.AttributeValue{"created": n("1764000000000")}, 7 + 3}, // 1764: trailing zeros trimmed
		{"map", map[string]types.AttributeValue{"tokens": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"user": n("12")}}}, 6 + 3 + 1 + 4 + 2},
		{"empty map", map[string]types.AttributeValue{"m": &types.AttributeValueMemberM{}}, 1 + 3},
		{"list", map[string]types.AttributeValue{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("ab"), &types.AttributeValueMemberBOOL{Value: true}}}}, 1 + 3 + 1 + 2 + 1 + 1},
		{"binary and set", map[string]types.AttributeValue{"b": &types.AttributeValueMemberB{Value: []byte{1, 2, 3}}, "ss": &types.AttributeValueMemberSS{Value: []string{"a", "bc"}}}, 1 + 3 + 2 + 3},
	} {
		if got := ItemSize(tc.item); got != tc.want {
			t.Errorf("%s: ItemSize = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestPutUsage: an item in the table's indexes costs a write and a stored copy per index; an
// item in none costs one of each.
func TestPutUsage(t *testing.T) {
	sc := TableSchema()
	head := map[string]types.AttributeValue{AttrPK: s("seg#x"), AttrSK: s("head"), AttrState: s("live")}
	if w, b := sc.PutUsage(head); w != 1 || b != ItemSize(head)+cost.ItemOverheadBytes {
		t.Errorf("head: %v WRU, %d bytes", w, b)
	}
	entry := map[string]types.AttributeValue{AttrPK: s("conv#1"), AttrSK: s("catalog"),
		AttrByTimePK: s("cat#0"), AttrByAppPK: s("app#a#0"), AttrIndexSK: s("001764000000000#1")}
	if got := len(sc.IndexesOf(entry)); got != 2 {
		t.Fatalf("a catalog entry without a model is in %d indexes, want 2", got)
	}
	if w, b := sc.PutUsage(entry); w != 3 || b != 3*(ItemSize(entry)+cost.ItemOverheadBytes) {
		t.Errorf("catalog entry: %v WRU, %d bytes", w, b)
	}
}
