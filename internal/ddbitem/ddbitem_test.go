package ddbitem

import (
	"strconv"
	"strings"
	"testing"
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

// TestUnits: a reference item costs a write unit and is billed its size and 100 bytes; a
// head of over 1 KB (a long segment name) two write units.
func TestUnits(t *testing.T) {
	ref := Ref("", "seg", "owner", 1764000000123)
	// pk: 2 + "ref#seg#" and the shard's digits; sk: 2 + 5; created: 7 + (13 digits + 1)/2 + 1.
	if got, want := Size(ref), 2+len("ref#seg#"+strconv.Itoa(RefShard("owner")))+2+5+7+8; got != want {
		t.Errorf("Size(ref) = %d, want %d", got, want)
	}
	if WriteUnits(ref) != 1 || StoredBytes(ref) != Size(ref)+100 {
		t.Errorf("a reference: WriteUnits %v, StoredBytes %d", WriteUnits(ref), StoredBytes(ref))
	}
	big := Head("", strings.Repeat("s", 1100), "live", 10, 1764000000123, "", 0)
	if WriteUnits(big) != 2 {
		t.Errorf("a head of %d bytes: WriteUnits %v, want 2", Size(big), WriteUnits(big))
	}
}

// TestPointerSize: a pointer of a 31-byte id in a 17-byte namespace (the averages the cost
// figures use), worked out by hand.
func TestPointerSize(t *testing.T) {
	ns := "9f86d081884c7d65:"               // 17 bytes: location/aws.Namespace
	id := "conv-2026-12-03-123456789abcdef" // 31 bytes
	p := Pointer(ns, id, "b-0123456789abcdef01234567", "0123456789ab")
	if len(ns) != 17 || len(id) != 31 {
		t.Fatalf("fixture: namespace of %d bytes, id of %d", len(ns), len(id))
	}
	if pk := p[AttrPK]; pk != S("id#9f86d081884c7d65:conv-2026-12-03-123456789abcdef") || p[AttrSK] != S("p") {
		t.Fatalf("key %v", PointerKey(ns, id))
	}
	// pk: 2 + 3 + 17 + 31; sk: 2 + 1; b: 1 + 12 + 6 (packed).
	const want = 53 + 3 + 19
	if b, ok := p[AttrBatch].(B); !ok || len(p) != 3 {
		t.Fatalf("pointer %v: want pk, sk and a binary b", p)
	} else if batch, nonce, err := UnpackPointer(b); err != nil || batch != "b-0123456789abcdef01234567" || nonce != "0123456789ab" {
		t.Fatalf("UnpackPointer = %q %q %v", batch, nonce, err)
	}
	if got := Size(p); got != want {
		t.Errorf("Size(pointer) = %d, want %d", got, want)
	}
	if WriteUnits(p) != 1 || StoredBytes(p) != want+100 {
		t.Errorf("a pointer: WriteUnits %v, StoredBytes %d; want 1 and %d", WriteUnits(p), StoredBytes(p), want+100)
	}
	if got := Size(PointerKey(ns, id)); got != 53+3 {
		t.Errorf("Size(pointer key) = %d, want %d", got, 53+3)
	}
	if PointerPrefix(ns) != "id#"+ns {
		t.Errorf("PointerPrefix(%q) = %q", ns, PointerPrefix(ns))
	}
	// A Store's batch id packs into 13 bytes: one more.
	solo := Pointer(ns, id, "s-0123456789abcdef01234567", "0123456789ab")
	if b, ok := solo[AttrBatch].(B); !ok || len(b) != 19 {
		t.Fatalf("solo pointer %v: want a binary b of 19 bytes", solo)
	} else if batch, nonce, err := UnpackPointer(b); err != nil || batch != "s-0123456789abcdef01234567" || nonce != "0123456789ab" {
		t.Fatalf("UnpackPointer = %q %q %v", batch, nonce, err)
	}
	if got := Size(solo); got != want+1 {
		t.Errorf("Size(solo pointer) = %d, want %d", got, want+1)
	}
	for _, bad := range [][]byte{nil, make([]byte, 6), make([]byte, 17), append([]byte{'x'}, make([]byte, 18)...)} {
		if batch, _, err := UnpackPointer(bad); err == nil {
			t.Errorf("UnpackPointer(%x) = %q, want an error", bad, batch)
		}
	}
}

// TestPointerUnpacked: a batch or nonce of another form than the vault's (uppercase hex
// included, which would not come back as it was) keeps the layout of strings b and n.
func TestPointerUnpacked(t *testing.T) {
	for _, c := range []struct{ batch, nonce string }{
		{"b-0123456789ABCDEF01234567", "0123456789ab"},
		{"b-0123456789abcdef0123456", "0123456789ab"},
		{"batch-1", "0123456789ab"},
		{"b-0123456789abcdef01234567", "0123456789AB"},
		{"b-0123456789abcdef01234567", "n1"},
	} {
		p := Pointer("", "id", c.batch, c.nonce)
		if p[AttrBatch] != S(c.batch) || p[AttrNonce] != S(c.nonce) {
			t.Errorf("Pointer(%q, %q) = %v, want strings b and n", c.batch, c.nonce, p)
		}
	}
	if _, _, err := UnpackPointer(make([]byte, 17)); err == nil {
		t.Error("UnpackPointer of 17 bytes: no error")
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
