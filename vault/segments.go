package vault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/tokenizer"
)

// SegmentUse describes one segment that stored conversations share: the system-prompt audit.
type SegmentUse struct {
	ID string
	// Role is the role of the message the segment is part of, in a conversation using it.
	Role   string
	Tokens int
	// Bytes is the segment object's size.
	Bytes int64
	// Conversations is the number of stored conversations using it (a deleted conversation
	// counts until GC retires its batch).
	Conversations int
	// SavedBytes is what storing the segment once saves against storing it with every
	// conversation: (Conversations - 1) × Bytes.
	SavedBytes int64
	// Text is the start of the segment's text, at most TopSegmentsOptions.Preview characters.
	Text string
}

// TopSegments returns the n segments used by the most stored conversations, most first (ties
// by id), with a preview of preview characters. Packs, which hold what a batch's conversations
// do not share with later batches (StoreBatch keeps only long shared pieces as segments of their
// own), are left out. It lists every reference (its cost
// follows the size of the reference store) to find the batches that own one, reads each of
// their batch objects once (a GET per batch), and then reads each segment reported. A
// deleted conversation counts until GC retires its batch.
func (v *Vault) TopSegments(ctx context.Context, n, preview int) ([]SegmentUse, error) {
	batches := map[string]bool{}
	if err := v.refs.ListRefs(ctx, func(r refcount.Ref) error {
		if manifest.IsBatchID(r.Owner) { // not an audit's own reference
			batches[r.Owner] = true
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("vault: top segments: list references: %w", err)
	}
	ids := slices.Collect(maps.Keys(batches))
	read := make([]*batchObject, len(ids))
	if err := forEach(ctx, len(ids), v.concurrency, func(ctx context.Context, i int) error {
		b, err := v.readBatch(ctx, ids[i])
		if errors.Is(err, ErrMissingSegment) {
			return nil // collected since the listing
		}
		read[i] = b
		return err
	}); err != nil {
		return nil, fmt.Errorf("vault: top segments: %w", err)
	}
	uses := map[string]*SegmentUse{}
	first := map[string]*manifest.Manifest{} // a conversation using each segment
	for _, b := range read {
		if b == nil {
			continue
		}
		for _, m := range b.manifests {
			for _, id := range m.Segments() {
				if uses[id] == nil {
					uses[id] = &SegmentUse{ID: id}
				}
				if first[id] == nil || m.ID < first[id].ID {
					first[id] = m
				}
				uses[id].Conversations++
			}
		}
	}
	segs := slices.Collect(maps.Keys(uses))
	slices.SortFunc(segs, func(a, b string) int {
		if d := uses[b].Conversations - uses[a].Conversations; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var out []SegmentUse
	for _, id := range segs {
		if len(out) == n {
			break
		}
		ok, err := v.describeSegment(ctx, uses[id], first[id], preview)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, *uses[id])
		}
	}
	return out, nil
}

// describeSegment fills in use from m, a conversation using the segment; ok is false when the
// segment is a pack (m uses a slice of it).
func (v *Vault) describeSegment(ctx context.Context, use *SegmentUse, m *manifest.Manifest, preview int) (bool, error) {
	id := use.ID
	tokens, err := v.readSegment(ctx, m.Tokenizer, id)
	if err != nil {
		return false, fmt.Errorf("vault: top segments: %w", err)
	}
	// Find the segment in the stream, and the message it starts in.
	pos, msg, msgEnd := 0, 0, 0
	if len(m.Messages) > 0 {
		msgEnd = m.Messages[0].Tokens
	}
	for _, ch := range m.Chunks {
		for msg < len(m.Messages)-1 && pos >= msgEnd {
			msg++
			msgEnd += m.Messages[msg].Tokens
		}
		if ch.Segment != id {
			pos += ch.Tokens
			continue
		}
		if ch.Offset != 0 || ch.Tokens != len(tokens) {
			return false, nil // a slice of a pack
		}
		use.Role = m.Messages[msg].Role
		break
	}
	attrs, err := v.bucket.Stat(ctx, segment.Key(id))
	if err != nil {
		return false, fmt.Errorf("vault: top segments: segment %s: %w", id, err)
	}
	use.Tokens, use.Bytes = len(tokens), attrs.Size
	use.SavedBytes = int64(use.Conversations-1) * use.Bytes
	use.Text = previewText(m.Tokenizer, tokens, preview)
	return true, nil
}

// previewText decodes the first tokens of a segment into at most n characters of text.
func previewText(name string, tokens []int, n int) string {
	tok, err := tokenizer.Get(name)
	if err != nil {
		return ""
	}
	b, err := tok.DecodeBytes(tokens[:min(len(tokens), 4*n)])
	if err != nil {
		return ""
	}
	// The cut may split a character: drop what is not valid UTF-8.
	text := strings.ToValidUTF8(string(b), "")
	if utf8.RuneCountInString(text) > n {
		text = string([]rune(text)[:n])
	}
	return text
}
