package vault

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/segment"
)

// Packing. Cutting makes pieces that become segments of their own, which deduplicate across
// conversations. But most pieces never recur (an answer, a question), and alone they compress
// poorly; and a segment of its own costs a PUT, a head and a reference item per batch that
// uses it, more than its bytes cost unless it is long. StoreBatch therefore puts into a pack everything of a
// conversation — its inline runs, and its long pieces — except the pieces of lookupTokens or
// more that already exist in the store or recur in the batch (long system prompts, tool
// schemas, shared documents), which stay segments of their own. A pack is one segment per
// packTokens tokens of conversations of the batch, where each piece compresses with the
// context of its neighbours; a piece several members of a pack use is in it once.
// Packs are per tokenizer and compression model, not per application: every pack is a PUT and a
// reference item, and an API log of fifty applications would otherwise make fifty per batch.
// Within a pack, the conversations of one application are next to each other, so that what
// they have in common compresses as well as in a pack of their own. Store, which has no batch
// to pack with, keeps the pieces shorter than lookupTokens inline in its batch object
// (inlineShort).
//
// A conversation often continues another of the same batch: an API log's request repeats the
// previous request's messages and adds a turn; variants of one conversation share all but the
// last reply. Such a conversation stores only what follows: its chunks for the shared messages
// are those of the conversation it continues (its base), whose pieces are packed once, and it
// references the base's segments and packs itself. (The references are its own: deleting the
// base takes nothing from it.)
//
// packTokens is what a pack grows to before a new one starts. A retrieval reads the whole pack
// of its conversation (about 120 KB, decoded in about 2 ms), so packs stay small enough to be
// cheap to read; larger ones would save a PUT per 128K tokens (about 2.5 × 10⁻² dollars per
// million conversations on the chat corpus) and cost every retrieval more bytes and time.
const packTokens = 128 << 10

// pack decides which pieces of the prepared conversations go into packs, builds the packs per
// tokenizer and compression model, in input order grouped by application, and rewrites the
// members' manifests to reference their slices. A conversation alone in its group is left as
// it is.
func (v *Vault) pack(ctx context.Context, ps []*pendingStore) {
	bases := findBases(ps)
	inPack := v.packedSegments(ctx, ps)
	type key struct {
		tokenizer string
		model     uint32
	}
	open := map[key][]*pendingStore{}
	size := map[key]int{}
	closePack := func(k key) {
		members := open[k]
		delete(open, k)
		delete(size, k)
		if len(members) < 2 {
			return
		}
		v.buildPack(k.tokenizer, k.model, members, inPack)
	}
	byApp := slices.Clone(ps)
	slices.SortStableFunc(byApp, func(a, b *pendingStore) int { return strings.Compare(a.c.Application, b.c.Application) })
	for _, p := range byApp {
		if p.err != nil {
			continue
		}
		n := packable(p.plan, inPack)
		if n == 0 || n >= packTokens {
			continue
		}
		k := key{p.c.Tokenizer, p.plan.model}
		open[k] = append(open[k], p)
		size[k] += n
		if size[k] >= packTokens {
			closePack(k)
		}
	}
	for k := range open {
		closePack(k)
	}
	// In batch order, so that a base's chunks are complete before a conversation continuing it
	// takes them over.
	for _, p := range ps {
		if b := bases[p]; b != nil {
			continueBase(p.plan, b.plan)
		}
	}
}

// findBases finds, for each conversation of the batch, the earlier one whose messages' tokens
// are the longest proper prefix of its own (its base), and re-cuts it to hold only the
// messages that follow; continueBase puts the base's chunks in front once they are packed.
func findBases(ps []*pendingStore) map[*pendingStore]*pendingStore {
	type key struct {
		tokenizer string
		hash      uint64
	}
	full := map[key]*pendingStore{} // by the hash of all of a conversation's messages
	bases := map[*pendingStore]*pendingStore{}
	for _, p := range ps {
		if p.err != nil {
			continue
		}
		streams := p.plan.streams
		prefixes := prefixHashes(streams)
		for n := len(streams) - 1; n >= 1; n-- {
			b := full[key{p.c.Tokenizer, prefixes[n]}]
			if b == nil || !sameMessages(b.plan.streams, streams[:n]) {
				continue
			}
			bases[p] = b
			m := p.plan.manifest
			m.Chunks, m.Inline, p.plan.segments, p.plan.runs = nil, nil, nil, nil
			p.plan.addPieces(p.c.Tokenizer, streams[n:])
			break
		}
		if _, ok := full[key{p.c.Tokenizer, prefixes[len(streams)]}]; !ok {
			full[key{p.c.Tokenizer, prefixes[len(streams)]}] = p
		}
	}
	return bases
}

// prefixHashes returns, for n from 0 to len(streams), a hash of the first n messages' tokens
// (FNV-1a over the token ids and a mark after each message).
func prefixHashes(streams [][]int) []uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	out := make([]uint64, 0, len(streams)+1)
	out = append(out, h)
	for _, s := range streams {
		for _, t := range s {
			h = (h ^ uint64(uint32(t))) * prime
		}
		h = (h ^ 1<<40) * prime // the message boundary: no token id is this large
		out = append(out, h)
	}
	return out
}

// mergeChunks merges neighbouring chunks that continue each other: inline runs, or slices of
// one segment that are adjacent in it (a base's part of a pack, then the part of the
// conversation continuing it).
func mergeChunks(chunks []manifest.Chunk) []manifest.Chunk {
	out := chunks[:0]
	for _, c := range chunks {
		if n := len(out); n > 0 && out[n-1].Segment == c.Segment && (c.Segment == "" || out[n-1].Offset+out[n-1].Tokens == c.Offset) {
			out[n-1].Tokens += c.Tokens
			continue
		}
		out = append(out, c)
	}
	return out
}

func sameMessages(a, b [][]int) bool {
	return slices.EqualFunc(a, b, slices.Equal)
}

// continueBase puts the chunks of base (its messages are a prefix of the plan's) in front of
// the plan's own, which cover the messages that follow, and makes the plan reference the base's
// segments and packs.
func continueBase(plan, base *storePlan) {
	m, bm := plan.manifest, base.manifest
	m.Chunks = mergeChunks(append(slices.Clone(bm.Chunks), m.Chunks...))
	m.Inline = append(slices.Clone(bm.Inline), m.Inline...)
	m.Totals.SegmentBytes += bm.Totals.SegmentBytes
	own := map[string]bool{}
	for _, s := range plan.segments {
		own[s.id] = true
	}
	for _, s := range base.segments {
		if !own[s.id] {
			own[s.id] = true
			plan.segments = append(plan.segments, s)
		}
	}
	for _, pk := range base.packs {
		if !own[pk.id] {
			own[pk.id] = true
			plan.packs = append(plan.packs, pk)
		}
	}
}

// packUses is how often a piece of lookupTokens or more may occur in a batch and still be
// packed: a new piece used fewer times (the long shared history of a pair of answers to one
// prompt, say) is packed once and referenced as a slice by each user in its pack; one used more
// often (a new long system prompt) is likely to recur in later batches, and becomes a segment of
// its own, which they deduplicate against.
const packUses = 4

// lookupTokens is how long a piece must be to stay a segment of its own in StoreBatch: shorter
// ones are packed without looking for them in the store. Referencing a stored segment costs the
// batch a head read and a reference item (a write unit, and about 230 billed bytes): about
// 9 × 10⁻⁷ dollars with a year of storage in DynamoDB's Standard-IA class; a new one costs a PUT
// and a head more. Packing the piece again costs its compressed bytes (about 0.8 a token) kept
// a year in S3 Standard, 2.8 × 10⁻¹⁰ dollars a byte, in each pack that uses it: the same, for a
// piece in two packs of a batch, at about 2,000 tokens. Content-defined cutting makes pieces of
// about 2,300 tokens on average, so most pieces of long shared documents stay segments.
const lookupTokens = 2048

// packedSegments returns the ids of the segments to pack: those shorter than lookupTokens, and
// the longer ones that occur fewer than packUses times in the batch and do not exist in the
// store (a strongly consistent read of each such head). A failed read keeps the segment out.
func (v *Vault) packedSegments(ctx context.Context, ps []*pendingStore) map[string]bool {
	count, tokens := map[string]int{}, map[string]int{}
	for _, p := range ps {
		if p.err != nil {
			continue
		}
		for _, ch := range p.plan.manifest.Chunks {
			if ch.Segment != "" {
				count[ch.Segment]++
				tokens[ch.Segment] = ch.Tokens
			}
		}
	}
	inPack := map[string]bool{}
	var long []string
	for id, n := range count {
		switch {
		case tokens[id] < lookupTokens:
			inPack[id] = true
		case n >= packUses:
		default:
			long = append(long, id)
		}
	}
	absent := make([]bool, len(long))
	forEach(ctx, len(long), v.concurrency, func(ctx context.Context, i int) error {
		_, err := v.refs.GetHead(ctx, long[i])
		absent[i] = errors.Is(err, refcount.ErrNotFound)
		return nil
	})
	for i, id := range long {
		if absent[i] {
			inPack[id] = true
		}
	}
	return inPack
}

// inlineShort puts into the manifest of a conversation stored alone (Store) its pieces shorter
// than lookupTokens, which StoreBatch would pack. A pack of one conversation would be a PUT of
// its own; inline, its tokens travel in the batch object, so that a Store makes one PUT unless
// it brings a new long piece. Long pieces stay segments of their own, looked up like every
// segment, so that conversations stored one at a time deduplicate the long prompts, tool
// schemas and documents they share.
func (plan *storePlan) inlineShort() {
	m := plan.manifest
	segTokens := map[string][]int{}
	for _, s := range plan.segments {
		if len(s.tokens) < lookupTokens {
			segTokens[s.id] = s.tokens
		}
	}
	old := m.Inline
	var chunks []manifest.Chunk
	var inline []int
	for _, ch := range m.Chunks {
		var piece []int
		switch {
		case ch.Segment == "":
			piece, old = old[:ch.Tokens], old[ch.Tokens:]
		case segTokens[ch.Segment] == nil:
			chunks = append(chunks, ch)
			continue
		default:
			piece = segTokens[ch.Segment]
		}
		inline = append(inline, piece...)
		if n := len(chunks); n > 0 && chunks[n-1].Segment == "" {
			chunks[n-1].Tokens += len(piece)
		} else {
			chunks = append(chunks, manifest.Chunk{Tokens: len(piece)})
		}
	}
	m.Chunks, m.Inline = chunks, inline
	plan.segments = slices.DeleteFunc(plan.segments, func(s segmentPlan) bool { return segTokens[s.id] != nil })
}

// packable counts the tokens of a plan that would go into a pack.
func packable(plan *storePlan, inPack map[string]bool) int {
	n := len(plan.manifest.Inline)
	for _, s := range plan.segments {
		if inPack[s.id] {
			n += len(s.tokens)
		}
	}
	return n
}

// appendSlice appends a slice of the pack being built (Segment still empty) to chunks, merged
// with the last one when it continues it.
func appendSlice(chunks []manifest.Chunk, offset, n int) []manifest.Chunk {
	if last := len(chunks) - 1; last >= 0 && chunks[last].Segment == "" && chunks[last].Offset+chunks[last].Tokens == offset {
		chunks[last].Tokens += n
		return chunks
	}
	return append(chunks, manifest.Chunk{Offset: offset, Tokens: n})
}

// buildPack encodes the members' packable pieces as one segment and points their chunks at
// their slices of it. If encoding fails, it leaves the members as they were.
func (v *Vault) buildPack(tokenizer string, model uint32, members []*pendingStore, inPack map[string]bool) {
	var tokens []int
	regions := make([][]manifest.Chunk, len(members))
	placed := map[string]int{} // the offset of each piece in the pack
	for i, p := range members {
		tokens, regions[i] = appendPacked(tokens, p.plan, inPack, placed)
	}
	frame, err := v.codec.Encode(tokens, model)
	if err != nil {
		return
	}
	seg := &segmentPlan{id: segment.ID(tokenizer, tokens), tokens: tokens, frame: frame}
	for i, p := range members {
		plan, m := p.plan, p.plan.manifest
		packed := 0
		for j := range regions[i] {
			if regions[i][j].Segment == "" {
				regions[i][j].Segment = seg.id
				packed += regions[i][j].Tokens
			}
		}
		m.Chunks = regions[i]
		kept := plan.segments[:0]
		for _, s := range plan.segments {
			if !inPack[s.id] {
				kept = append(kept, s)
			}
		}
		plan.segments = kept
		// The member's share of the pack's bytes, for per-conversation statistics.
		m.Totals.SegmentBytes += int64(len(frame)) * int64(packed) / int64(len(tokens))
		m.Inline = nil
		plan.packs = append(plan.packs, seg)
	}
}

// appendPacked appends the plan's packable pieces to tokens and returns the plan's new chunk
// list, in which packed pieces are slices (Segment still empty) at their offsets in tokens;
// adjacent slices are merged. A piece already in the pack (placed, by id: its offset) is not
// appended again: the chunk is a slice of the copy there.
func appendPacked(tokens []int, plan *storePlan, inPack map[string]bool, placed map[string]int) ([]int, []manifest.Chunk) {
	segTokens := map[string][]int{}
	for _, s := range plan.segments {
		segTokens[s.id] = s.tokens
	}
	inline := plan.manifest.Inline
	var chunks []manifest.Chunk
	for _, ch := range plan.manifest.Chunks {
		var piece []int
		switch {
		case ch.Segment == "":
			piece, inline = inline[:ch.Tokens], inline[ch.Tokens:]
		case !inPack[ch.Segment]:
			chunks = append(chunks, ch)
			continue
		default:
			if off, ok := placed[ch.Segment]; ok {
				chunks = appendSlice(chunks, off, ch.Tokens)
				continue
			}
			placed[ch.Segment] = len(tokens)
			piece = segTokens[ch.Segment]
		}
		chunks = appendSlice(chunks, len(tokens), len(piece))
		tokens = append(tokens, piece...)
	}
	return tokens, chunks
}
