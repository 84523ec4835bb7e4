package vault

import (
	"context"
	"fmt"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/segment"
)

// StatsOptions select and group what Stats sums.
type StatsOptions struct {
	// Filter selects the conversations (catalog.Query; its Limit, Cursor and Oldest are
	// ignored). With a filter, the bucket's totals are not computed.
	Filter catalog.Query
	// By groups the sums by catalog dimensions (catalog.DimApplication, DimModel, DimDay,
	// DimTokenizer), in this order of keys.
	By []string
	// References also sums the reference store's items (Stats.RefBytes, RefWriteUnits),
	// unfiltered only. On DynamoDB that is two Scans of the table and RefShards Queries, which
	// read every reference: several times what the catalog costs to read, so it is asked for.
	References bool
}

// Stats are sums over the catalog's conversations and, unfiltered, over the bucket.
type Stats struct {
	// Sums over the selected conversations (see catalog.Group for input and output tokens).
	Conversations, Messages, Tokens int64
	InputTokens, OutputTokens       int64
	// AttributedBytes sums every selected conversation's own bytes: its manifest and every
	// segment it references, a shared segment counted for each conversation using it and a
	// pack by the conversation's share: what they would take without deduplication.
	AttributedBytes int64
	// Groups holds the sums per group when StatsOptions.By is given, sorted by key.
	Groups []catalog.Group

	// Filtered is set when StatsOptions.Filter selected conversations; the bucket totals
	// below are then zero.
	Filtered bool
	// StoredBytes is every byte the store is billed for keeping: the bucket's (segments,
	// manifests, models, and the catalog's files and deletions: CatalogBytes) and, as DynamoDB
	// bills them (item sizes by DynamoDB's rules, 100 bytes per item; see internal/ddbitem),
	// the reference store's heads, references and candidate marks (RefBytes, zero unless
	// StatsOptions.References). Whatever backs the store, the DynamoDB figures are those of
	// the same items in DynamoDB.
	StoredBytes, SegmentBytes, ManifestBytes, ModelBytes, CatalogBytes, RefBytes int64
	// Segments, Batches (batch objects), Models and CatalogFiles count the bucket's objects.
	Segments, Batches, Models, CatalogFiles int64
	// RefWriteUnits is the DynamoDB write units writing each of the reference store's items
	// once costs.
	RefWriteUnits float64
	// BytesPerToken is StoredBytes / Tokens (AttributedBytes / Tokens when filtered).
	BytesPerToken float64
	// UndedupedBytes is what the store would take without deduplication (AttributedBytes plus
	// models and catalog); DedupSaving is the fraction of it that deduplication saves.
	UndedupedBytes int64
	DedupSaving    float64
}

// StoredByPart is what the store keeps, by part (cost.Usage's S3Bytes and DDBBytes): the bucket's
// segments, manifests, models and catalog files, and the references' DynamoDB items.
func (st Stats) StoredByPart() map[cost.Part]cost.Usage {
	return map[cost.Part]cost.Usage{
		cost.Segments: {S3Bytes: float64(st.SegmentBytes)}, cost.Manifests: {S3Bytes: float64(st.ManifestBytes)},
		cost.Models: {S3Bytes: float64(st.ModelBytes)}, cost.Catalog: {S3Bytes: float64(st.CatalogBytes)},
		cost.References: {DDBBytes: float64(st.RefBytes)},
	}
}

// Stats sums the catalog entries the filter selects (a cost that follows their number, never
// reading a manifest) and, unfiltered, lists the bucket for the bytes it holds and, with
// StatsOptions.References, the reference store's items (ListHeads, ListRefs, ListCandidates:
// scans of the table on DynamoDB) for theirs.
func (v *Vault) Stats(ctx context.Context, opts StatsOptions) (Stats, error) {
	var st Stats
	agg, err := catalog.NewAggregator(opts.By...)
	if err != nil {
		return st, fmt.Errorf("vault: stats: %w", err)
	}
	f := opts.Filter
	st.Filtered = f.Application != "" || f.Model != "" || f.Tokenizer != "" || !f.Since.IsZero() || !f.Until.IsZero() || len(f.Metadata) > 0
	err = v.ListAll(ctx, f, func(e catalog.Entry) error {
		agg.Add(e)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("vault: stats: %w", err)
	}
	groups := agg.Groups()
	for _, g := range groups {
		st.Conversations += g.Conversations
		st.Messages += g.Messages
		st.InputTokens += g.InputTokens
		st.OutputTokens += g.OutputTokens
		st.AttributedBytes += g.StoredBytes
	}
	st.Tokens = st.InputTokens + st.OutputTokens
	if len(opts.By) > 0 {
		st.Groups = groups
	}
	if st.Filtered {
		if st.Tokens > 0 {
			st.BytesPerToken = float64(st.AttributedBytes) / float64(st.Tokens)
		}
		return st, nil
	}
	for _, p := range []struct {
		prefix       string
		count, bytes *int64
	}{
		{segment.Prefix, &st.Segments, &st.SegmentBytes}, {manifest.BatchPrefix, &st.Batches, &st.ManifestBytes}, {codec.ModelPrefix, &st.Models, &st.ModelBytes},
		{catalog.FilePrefix, &st.CatalogFiles, &st.CatalogBytes}, {catalog.DeletedPrefix, nil, &st.CatalogBytes},
	} {
		err := v.bucket.List(ctx, p.prefix, func(a objstore.Attrs) error {
			if p.count != nil {
				*p.count++
			}
			*p.bytes += a.Size
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("vault: stats: list %s: %w", p.prefix, err)
		}
	}
	if opts.References {
		if st.RefBytes, st.RefWriteUnits, err = v.refItems(ctx); err != nil {
			return st, fmt.Errorf("vault: stats: %w", err)
		}
	}
	st.StoredBytes = st.SegmentBytes + st.ManifestBytes + st.ModelBytes + st.CatalogBytes + st.RefBytes
	st.UndedupedBytes = st.AttributedBytes + st.ModelBytes + st.CatalogBytes
	if st.Tokens > 0 {
		st.BytesPerToken = float64(st.StoredBytes) / float64(st.Tokens)
	}
	if st.UndedupedBytes > 0 {
		st.DedupSaving = 1 - float64(st.StoredBytes)/float64(st.UndedupedBytes)
	}
	return st, nil
}

// refItems returns what the reference store's items are billed for in DynamoDB, and the write
// units writing each once costs.
func (v *Vault) refItems(ctx context.Context) (bytes int64, writeUnits float64, err error) {
	ns := v.itemNamespace()
	add := func(it ddbitem.Item) error {
		bytes += int64(ddbitem.StoredBytes(it))
		writeUnits += ddbitem.WriteUnits(it)
		return nil
	}
	err = v.refs.ListHeads(ctx, func(h refcount.Head) error { return add(ddbitem.HeadOf(ns, h)) })
	if err == nil {
		err = v.refs.ListPointers(ctx, func(id string, p refcount.Pointer) error {
			return add(ddbitem.Pointer(ns, id, p.Batch, p.Nonce))
		})
	}
	if err == nil {
		err = v.refs.ListRefs(ctx, func(r refcount.Ref) error {
			return add(ddbitem.Ref(ns, r.Segment, r.Owner, r.Created.UnixMilli()))
		})
	}
	if err == nil {
		err = v.refs.ListCandidates(ctx, func(c refcount.Candidate) error {
			return add(ddbitem.Candidate(ns, c.Segment, c.Since.UnixMilli()))
		})
	}
	return bytes, writeUnits, err
}
