package vault

import (
	"context"
	"errors"
	"fmt"
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
	// Conversations is the number of stored copies of conversations referencing it.
	Conversations int
	// SavedBytes is what storing the segment once saves against storing it with every
	// conversation: (Conversations - 1) × Bytes.
	SavedBytes int64
	// Text is the start of the segment's text, at most TopSegmentsOptions.Preview characters.
	Text string
}

// TopSegments returns the n segments referenced by the most conversations, most first (ties by
// id), with a preview of preview characters. Packs, which hold the unique parts of many
// conversations rather than shared content, are left out. It lists every reference, so its
// cost follows the size of the reference store; then it reads, per segment reported, the
// segment and one manifest using it.
func (v *Vault) TopSegments(ctx context.Context, n, preview int) ([]SegmentUse, error) {
	owners := map[string][]string{}
	if err := v.refs.ListRefs(ctx, func(r refcount.Ref) error {
		owners[r.Segment] = append(owners[r.Segment], r.Owner)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("vault: top segments: list references: %w", err)
	}
	ids := make([]string, 0, len(owners))
	for id := range owners {
		if id != gcLeaseHead {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if d := len(owners[b]) - len(owners[a]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var out []SegmentUse
	for _, id := range ids {
		if len(out) == n {
			break
		}
		use, ok, err := v.segmentUse(ctx, id, owners[id], preview)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, use)
		}
	}
	return out, nil
}

// segmentUse describes segment id from a conversation of one of its owners; ok is false when
// the segment is a pack, or no owner's conversation can be read (they were all deleted).
func (v *Vault) segmentUse(ctx context.Context, id string, owners []string, preview int) (SegmentUse, bool, error) {
	use := SegmentUse{ID: id, Conversations: len(owners)}
	for _, owner := range owners {
		nonce, convID := manifest.ParseOwner(owner)
		m, err := v.readManifest(ctx, convID)
		if errors.Is(err, ErrNotFound) || err == nil && m.Nonce != nonce {
			continue // deleted or stored again since
		}
		if err != nil {
			return use, false, fmt.Errorf("vault: top segments: %w", err)
		}
		tokens, err := v.readSegment(ctx, m.Tokenizer, id)
		if err != nil {
			return use, false, fmt.Errorf("vault: top segments: %w", err)
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
				return use, false, nil // a slice of a pack
			}
			use.Role = m.Messages[msg].Role
			break
		}
		attrs, err := v.bucket.Stat(ctx, segment.Key(id))
		if err != nil {
			return use, false, fmt.Errorf("vault: top segments: segment %s: %w", id, err)
		}
		use.Tokens, use.Bytes = len(tokens), attrs.Size
		use.SavedBytes = int64(use.Conversations-1) * use.Bytes
		use.Text = previewText(m.Tokenizer, tokens, preview)
		return use, true, nil
	}
	return use, false, nil
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
