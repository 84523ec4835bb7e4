package ddbitem

import (
	"strconv"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
)

// TestSize checks DynamoDB's size rules on values worked out by hand.
func TestSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		item Item
		want int
	}{
		{"head key", Item{"pk": S("seg#abc"), "sk": S("head")}, 2 + 7 + 2 + 4},
		{"UTF-8", Item{"é": S("€")}, 2 + 3},
		{"seven digits", Item{"size": N("1234567")}, 4 + 5},
		{"trailing zeros", Item{"n": N("100")}, 1 + 2},
		{"zero", Item{"n": N("0")}, 1 + 1},
		{"sign and point", Item{"n": N("-12.50")}, 1 + 3},
		{"millis", Item{"created": N("1764000000000")}, 7 + 3}, // 1764: trailing zeros trimmed
		{"map", Item{"tokens": M{"user": N("12")}}, 6 + 3 + 1 + 4 + 2},
		{"empty map", Item{"m": M{}}, 1 + 3},
		{"list", Item{"l": L{S("ab"), Bool(true)}}, 1 + 3 + 1 + 2 + 1 + 1},
		{"binary and sets", Item{"b": B{1, 2, 3}, "ss": SS{"a", "bc"}, "ns": NS{"10", "-7"}, "bs": BS{{1}, {2, 3}}, "z": Null{}}, 1 + 3 + 2 + 3 + 2 + 2 + 2 + 2 + 3 + 1 + 1},
	} {
		if got := Size(tc.item); got != tc.want {
			t.Errorf("%s: Size = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestUnits: a catalog item is in every index whose keys it carries and costs a write and a
// stored copy per index; a reference is in none.
func TestUnits(t *testing.T) {
	created := time.UnixMilli(1764000000123).UTC()
	e := catalog.Entry{ID: "c1", Nonce: "n", Application: "app", Tokenizer: "cl100k_base", CreatedAt: created, StoredAt: created,
		Messages: 2, Tokens: map[string]int64{"user": 5}}
	it := Catalog("", e)
	if got := Indexes(it); got != 2 { // by_time and by_app; no model
		t.Fatalf("Indexes(catalog item without a model) = %d, want 2", got)
	}
	size := Size(it)
	if got, want := WriteUnits(it), 3.0; got != want {
		t.Errorf("WriteUnits(catalog item of %d bytes) = %v, want %v", size, got, want)
	}
	if got, want := StoredBytes(it), 3*(size+100); got != want {
		t.Errorf("StoredBytes = %d, want %d", got, want)
	}
	ref := Ref("", "seg", "owner", 1764000000123)
	// pk: 2 + "ref#seg#" and the shard's digits; sk: 2 + 5; created: 7 + (13 digits + 1)/2 + 1.
	if got, want := Size(ref), 2+len("ref#seg#"+strconv.Itoa(RefShard("owner")))+2+5+7+8; got != want {
		t.Errorf("Size(ref) = %d, want %d", got, want)
	}
	if Indexes(ref) != 0 || WriteUnits(ref) != 1 || StoredBytes(ref) != Size(ref)+100 {
		t.Errorf("a reference: Indexes %d, WriteUnits %v, StoredBytes %d", Indexes(ref), WriteUnits(ref), StoredBytes(ref))
	}
}

// TestShardIsStable: the shard functions are part of the stored format; these values must
// never change. They are checked against an independent FNV-1a too.
func TestShardIsStable(t *testing.T) {
	golden := map[string]int{
		"":                 5,  // FNV-1a 32 of "" is 0x811c9dc5
		"a":                12, // 0xe40c292c
		"owner-1":          14, // 0x40feeefe
		"conversation/123": 5,  // 0x44ec2685
		"4f1c2e9a":         8,  // 0xadc1dfa8
	}
	for k, want := range golden {
		if got := RefShard(k); got != want {
			t.Errorf("RefShard(%q) = %d, want %d", k, got, want)
		}
		if got := fnv1a32(k) % RefShards; int(got) != want {
			t.Errorf("independent FNV-1a of %q mod %d = %d, want %d", k, RefShards, got, want)
		}
		if got, want := CatalogShard(k), int(fnv1a32(k)%CatalogShards); got != want {
			t.Errorf("CatalogShard(%q) = %d, want %d", k, got, want)
		}
	}
}

// fnv1a32 is an independent FNV-1a (32 bit) implementation.
func fnv1a32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
