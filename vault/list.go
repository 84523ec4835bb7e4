package vault

import (
	"context"
	"fmt"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
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
	// StoredBytes is every byte the store holds: segments, manifests, models and the catalog's
	// entries (CatalogBytes, their encoded size; a backend's indexes take more).
	StoredBytes, SegmentBytes, ManifestBytes, ModelBytes, CatalogBytes int64
	Segments, Models                                                   int64
	// BytesPerToken is StoredBytes / Tokens (AttributedBytes / Tokens when filtered).
	BytesPerToken float64
	// UndedupedBytes is what the store would take without deduplication (AttributedBytes plus
	// models and catalog); DedupSaving is the fraction of it that deduplication saves.
	UndedupedBytes int64
	DedupSaving    float64
}

// Stats sums the catalog entries the filter selects (a cost that follows their number, never
// reading a manifest) and, unfiltered, lists the bucket for the bytes it holds.
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
		if !st.Filtered {
			st.CatalogBytes += int64(e.EncodedSize())
		}
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
	}{{segment.Prefix, &st.Segments, &st.SegmentBytes}, {manifest.Prefix, nil, &st.ManifestBytes}, {codec.ModelPrefix, &st.Models, &st.ModelBytes}} {
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
	st.StoredBytes = st.SegmentBytes + st.ManifestBytes + st.ModelBytes + st.CatalogBytes
	st.UndedupedBytes = st.AttributedBytes + st.ModelBytes + st.CatalogBytes
	if st.Tokens > 0 {
		st.BytesPerToken = float64(st.StoredBytes) / float64(st.Tokens)
	}
	if st.UndedupedBytes > 0 {
		st.DedupSaving = 1 - float64(st.StoredBytes)/float64(st.UndedupedBytes)
	}
	return st, nil
}
