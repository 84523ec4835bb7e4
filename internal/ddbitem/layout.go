package ddbitem

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/refcount"
)

// Names of the table's key attributes, its indexes and the attributes of its items (see the
// package documentation).
const (
	AttrPK = "pk" // partition key
	AttrSK = "sk" // sort key

	// Heads, references and candidate marks (refcount/dynamodb).
	AttrState        = "state"
	AttrSize         = "size"
	AttrCreated      = "created" // also a catalog attribute
	AttrClaimID      = "claim_id"
	AttrClaimExpires = "claim_expires"
	AttrSince        = "since"

	// Catalog entries (catalog/dynamodb).
	AttrID          = "id"
	AttrNonce       = "nonce"
	AttrApplication = "application"
	AttrModel       = "model"
	AttrTokenizer   = "tokenizer"
	AttrStored      = "stored"
	AttrMessages    = "messages"
	AttrTokens      = "tokens"
	AttrStoredBytes = "stored_bytes"
	AttrMetadata    = "metadata"

	// The catalog's global secondary indexes and their keys.
	IndexByTime   = "by_time"
	IndexByApp    = "by_app"
	IndexByModel  = "by_model"
	AttrByTimePK  = "gsi1pk"
	AttrByAppPK   = "gsi2pk"
	AttrByModelPK = "gsi3pk"
	AttrIndexSK   = "gsisk"
)

// Index is a global secondary index: its name and key attributes (both strings). Every index
// projects ALL attributes.
type Index struct {
	Name, PartitionKey, SortKey string
}

// TableIndexes are the table's global secondary indexes.
var TableIndexes = []Index{
	{IndexByTime, AttrByTimePK, AttrIndexSK},
	{IndexByApp, AttrByAppPK, AttrIndexSK},
	{IndexByModel, AttrByModelPK, AttrIndexSK},
}

// HasRefsFanout is how many of a segment's RefShards reference partitions the DynamoDB store's
// HasRefs queries at once; it stops after the first group that finds a reference (the
// metering's model of HasRefs counts the same).
const HasRefsFanout = 4

// RefShards is the number of partition keys one segment's references (and, by segment, the
// candidate marks) are spread over; CatalogShards, the partitions each catalog index spreads
// its entries over. Both are part of the stored format: changing them would hide existing
// items.
const (
	RefShards     = 16
	CatalogShards = 4
)

// SKHead and SKCatalog are the sort keys of every head and every catalog item.
const (
	SKHead    = "head"
	SKCatalog = "catalog"
)

// Key prefixes.
const (
	prefixHead      = "seg#"
	prefixRef       = "ref#"
	prefixCandidate = "gc#"
	prefixCatalog   = "conv#"
)

// fnvShard is FNV-1a (32 bit) of key modulo n. Part of the stored format.
func fnvShard(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key)) // never fails
	return int(h.Sum32() % uint32(n))
}

// RefShard is the shard of a reference's owner, or of a candidate mark's namespaced segment.
func RefShard(key string) int { return fnvShard(key, RefShards) }

// CatalogShard is the shard of a catalog entry's id in every index.
func CatalogShard(id string) int { return fnvShard(id, CatalogShards) }

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

// CatalogKey is the key of the catalog item of id.
func CatalogKey(ns, id string) Item {
	return Item{AttrPK: S(ns + prefixCatalog + id), AttrSK: S(SKCatalog)}
}

// IndexPK is the partition key of an entry (or a query) in index, for value (the application
// in IndexByApp, the model in IndexByModel, ignored in IndexByTime) and shard.
func IndexPK(ns, index, value string, shard int) string {
	s := strconv.Itoa(shard)
	switch index {
	case IndexByApp:
		return ns + "app#" + value + "#" + s
	case IndexByModel:
		return ns + "model#" + value + "#" + s
	}
	return ns + "cat#" + s
}

// IndexSK is the sort key of a position in every index: created ms as 15 digits, "#", id. It
// sorts by time, then by id bytewise.
func IndexSK(createdMs int64, id string) string {
	return fmt.Sprintf("%015d#%s", createdMs, id)
}

// Catalog is the item of a normalized catalog entry, with its index keys.
func Catalog(ns string, e catalog.Entry) Item {
	it := CatalogKey(ns, e.ID)
	for name, v := range map[string]string{AttrID: e.ID, AttrNonce: e.Nonce, AttrApplication: e.Application,
		AttrModel: e.Model, AttrTokenizer: e.Tokenizer} {
		it[name] = S(v)
	}
	created := e.CreatedAt.UnixMilli()
	for name, v := range map[string]int64{AttrCreated: created, AttrStored: e.StoredAt.UnixMilli(),
		AttrMessages: int64(e.Messages), AttrStoredBytes: e.StoredBytes} {
		it[name] = Num(v)
	}
	if len(e.Tokens) > 0 {
		m := make(M, len(e.Tokens))
		for role, n := range e.Tokens {
			m[role] = Num(n)
		}
		it[AttrTokens] = m
	}
	if len(e.Metadata) > 0 {
		m := make(M, len(e.Metadata))
		for k, v := range e.Metadata {
			m[k] = S(v)
		}
		it[AttrMetadata] = m
	}
	sh := CatalogShard(e.ID)
	it[AttrIndexSK] = S(IndexSK(created, e.ID))
	it[AttrByTimePK] = S(IndexPK(ns, IndexByTime, "", sh))
	if e.Application != "" {
		it[AttrByAppPK] = S(IndexPK(ns, IndexByApp, e.Application, sh))
	}
	if e.Model != "" {
		it[AttrByModelPK] = S(IndexPK(ns, IndexByModel, e.Model, sh))
	}
	return it
}
