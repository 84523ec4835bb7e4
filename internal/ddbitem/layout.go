package ddbitem

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/refcount"
)

// Names of the table's key attributes and of the attributes of its items (see the package
// documentation).
const (
	AttrPK = "pk" // partition key
	AttrSK = "sk" // sort key

	// Heads, references and candidate marks (refcount/dynamodb).
	AttrState        = "state"
	AttrSize         = "size"
	AttrCreated      = "created"
	AttrClaimID      = "claim_id"
	AttrClaimExpires = "claim_expires"
	AttrSince        = "since"

	// Pointers (refcount/dynamodb).
	AttrBatch = "b" // the batch that stored the conversation
	AttrNonce = "n" // the nonce of the stored copy
)

// HasRefsFanout is how many of a segment's RefShards reference partitions the DynamoDB store's
// HasRefs queries at once; it stops after the first group that finds a reference (the
// metering's model of HasRefs counts the same).
const HasRefsFanout = 4

// RefShards is the number of partition keys one segment's references (and, by segment, the
// candidate marks) are spread over. It is part of the stored format: changing it would hide
// existing items.
const RefShards = 16

// SKHead is the sort key of every head.
const SKHead = "head"

// SKPointer is the sort key of every pointer.
const SKPointer = "p"

// Key prefixes.
const (
	prefixHead      = "seg#"
	prefixRef       = "ref#"
	prefixCandidate = "gc#"
	prefixPointer   = "id#"
)

// fnvShard is FNV-1a (32 bit) of key modulo n. Part of the stored format.
func fnvShard(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key)) // never fails
	return int(h.Sum32() % uint32(n))
}

// RefShard is the shard of a reference's owner, or of a candidate mark's namespaced segment.
func RefShard(key string) int { return fnvShard(key, RefShards) }

// Num is the number n.
func Num(n int64) N { return N(strconv.FormatInt(n, 10)) }

// HeadPrefix is what every head's partition key in namespace ns starts with.
func HeadPrefix(ns string) string { return prefixHead + ns }

// HeadKey is the key of a segment's head.
func HeadKey(ns, segment string) Item {
	return Item{AttrPK: S(HeadPrefix(ns) + segment), AttrSK: S(SKHead)}
}

// Head is a segment's head item: live or deleting, with the object's size and the creation
// time, and the claim when claimID is not "" (claimExpires only while deleting, 0 otherwise).
func Head(ns, segment, state string, size, createdMs int64, claimID string, claimExpiresMs int64) Item {
	it := HeadKey(ns, segment)
	it[AttrState], it[AttrSize], it[AttrCreated] = S(state), Num(size), Num(createdMs)
	if claimID != "" {
		it[AttrClaimID] = S(claimID)
	}
	if claimExpiresMs != 0 {
		it[AttrClaimExpires] = Num(claimExpiresMs)
	}
	return it
}

// HeadOf is the item of h (ClaimExpires zero: no claim expiry).
func HeadOf(ns string, h refcount.Head) Item {
	var expires int64
	if !h.ClaimExpires.IsZero() {
		expires = h.ClaimExpires.UnixMilli()
	}
	return Head(ns, h.Segment, string(h.State), h.Size, h.Created.UnixMilli(), h.ClaimID, expires)
}

// RefPrefix is what every reference's partition key in namespace ns starts with.
func RefPrefix(ns string) string { return prefixRef + ns }

// RefPK is the partition key of shard of a segment's references.
func RefPK(ns, segment string, shard int) string {
	return RefPrefix(ns) + segment + "#" + strconv.Itoa(shard)
}

// RefKey is the key of owner's reference on segment.
func RefKey(ns, segment, owner string) Item {
	return Item{AttrPK: S(RefPK(ns, segment, RefShard(owner))), AttrSK: S(owner)}
}

// Ref is owner's reference item on segment, created at createdMs.
func Ref(ns, segment, owner string, createdMs int64) Item {
	it := RefKey(ns, segment, owner)
	it[AttrCreated] = Num(createdMs)
	return it
}

// SegmentOfRefPK returns the namespaced segment of a reference item's partition key.
func SegmentOfRefPK(pk string) (string, bool) {
	rest, ok := strings.CutPrefix(pk, prefixRef)
	i := strings.LastIndexByte(rest, '#')
	if !ok || i <= 0 {
		return "", false
	}
	if _, err := strconv.Atoi(rest[i+1:]); err != nil {
		return "", false
	}
	return rest[:i], true
}

// CandidatePK is the partition key of a shard of candidate marks.
func CandidatePK(shard int) string { return prefixCandidate + strconv.Itoa(shard) }

// CandidateKey is the key of a segment's candidate mark.
func CandidateKey(ns, segment string) Item {
	return Item{AttrPK: S(CandidatePK(RefShard(ns + segment))), AttrSK: S(ns + segment)}
}

// Candidate is a segment's candidate mark, set at sinceMs.
func Candidate(ns, segment string, sinceMs int64) Item {
	it := CandidateKey(ns, segment)
	it[AttrSince] = Num(sinceMs)
	return it
}

// PointerPrefix is what every pointer's partition key in namespace ns starts with.
func PointerPrefix(ns string) string { return prefixPointer + ns }

// PointerKey is the key of a conversation's pointer.
func PointerKey(ns, id string) Item {
	return Item{AttrPK: S(PointerPrefix(ns) + id), AttrSK: S(SKPointer)}
}

// Pointer is a conversation's pointer item: the batch that stored it and the nonce of the
// stored copy. When both have the vault's form (PackPointer), they are one binary attribute b
// of 18 bytes (19 for a conversation stored alone); otherwise, and in the items of stores written before that layout, they are the
// strings b and n (40 bytes for the vault's ids). Readers take both (UnpackPointer).
func Pointer(ns, id, batch, nonce string) Item {
	it := PointerKey(ns, id)
	if packed, ok := PackPointer(batch, nonce); ok {
		it[AttrBatch] = B(packed)
	} else {
		it[AttrBatch], it[AttrNonce] = S(batch), S(nonce)
	}
	return it
}

// nonceBytes is the length of the nonces the vault makes: 6 random bytes, as 12 lowercase hex
// digits.
const nonceBytes = 6

// PackPointer returns a pointer's batch and nonce as the binary value of a pointer item's b
// attribute: the batch id's bytes (manifest.BatchIDBytes: 12 for a StoreBatch's id, 13 for a
// Store's) and the nonce's 6. It reports false when either has another form.
func PackPointer(batch, nonce string) ([]byte, bool) {
	b, ok := manifest.BatchIDBytes(batch)
	if !ok || len(nonce) != 2*nonceBytes {
		return nil, false
	}
	n, err := hex.DecodeString(nonce)
	if err != nil || hex.EncodeToString(n) != nonce {
		return nil, false
	}
	return append(b, n...), true
}

// UnpackPointer returns the batch and nonce PackPointer packed into v.
func UnpackPointer(v []byte) (batch, nonce string, err error) {
	if len(v) < nonceBytes {
		return "", "", fmt.Errorf("ddbitem: packed pointer of %d bytes", len(v))
	}
	id := v[:len(v)-nonceBytes]
	if batch = manifest.BatchIDFromBytes(id); batch == "" {
		return "", "", fmt.Errorf("ddbitem: packed pointer of %d bytes does not start with a batch id", len(v))
	}
	return batch, hex.EncodeToString(v[len(id):]), nil
}
