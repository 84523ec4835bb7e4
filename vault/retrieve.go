package vault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/tokenizer"
)

// Retrieve returns the stored conversation: text messages as the identical text, token
// messages as the identical tokens. Every segment is checked against its checksum and its id;
// a missing or corrupt segment is an error naming it (ErrMissingSegment, ErrCorrupt), never a
// partial conversation.
//
// A conversation deleted while it is read is ErrNotFound; one deleted and stored again, or
// moved to another batch by GC's compaction while it is read, is read again.
func (v *Vault) Retrieve(ctx context.Context, id string) (*conversation.Conversation, error) {
	var c *conversation.Conversation
	_, err := v.read(ctx, id, func(m *manifest.Manifest) (err error) {
		c, err = v.assemble(ctx, m)
		return err
	})
	return c, err
}

// Tokens returns the manifest of a stored conversation and the token ids of each of its
// messages, in the manifest's tokenizer, without detokenizing them: what analyses over tokens
// read (package analyze). Its checks and errors are Retrieve's.
func (v *Vault) Tokens(ctx context.Context, id string) (*manifest.Manifest, [][]int, error) {
	var streams [][]int
	m, err := v.read(ctx, id, func(m *manifest.Manifest) (err error) {
		streams, err = v.streams(ctx, m)
		return err
	})
	return m, streams, err
}

// read reads the manifest of conversation id through its pointer and calls fn with it; when fn
// finds an object missing, and the pointer has changed meanwhile (a Delete, or a compaction),
// it reads again.
// TokensOf reads the conversations that catalog entries summarize, for an analysis of many:
// fn is called with each entry's index, manifest and token ids, from up to Concurrency
// goroutines. A conversation is read from the batch object its entry names (Entry.Batch) and
// its segments, shared with the others and cached, without a pointer read: the copy the entry
// summarizes, as stored. An entry without a batch, or whose batch object or segments are gone
// (GC moved the conversation to another batch, or collected it), is read through its pointer,
// as Tokens reads; an entry whose copy is not stored any more is skipped.
//
// Without the pointer read, a conversation deleted since the catalog was listed (or whose
// Delete stopped before it deleted the catalog entry) is read until GC compacts its batch:
// check what is shown of it with Stored.
func (v *Vault) TokensOf(ctx context.Context, entries []catalog.Entry, fn func(i int, m *manifest.Manifest, streams [][]int) error) error {
	return forEach(ctx, len(entries), v.concurrency, func(ctx context.Context, i int) error {
		e := entries[i]
		if e.Batch != "" {
			b, err := v.readBatch(ctx, e.Batch)
			if err != nil && !errors.Is(err, ErrMissingSegment) {
				return err
			}
			if m := b.manifestOf(e.ID); m != nil {
				c := *m
				c.Nonce = e.Nonce
				streams, err := v.streams(ctx, &c)
				if err == nil {
					return fn(i, &c, streams)
				}
				if !errors.Is(err, ErrMissingSegment) {
					return err
				}
			}
		}
		m, streams, err := v.Tokens(ctx, e.ID)
		switch {
		case errors.Is(err, ErrNotFound) || err == nil && e.Nonce != "" && m.Nonce != e.Nonce:
			return nil // deleted, or stored again: another entry summarizes the new copy
		case err != nil:
			return err
		}
		return fn(i, m, streams)
	})
}

// Stored reports whether the copy of a conversation that e summarizes is stored: one strongly
// consistent pointer read.
func (v *Vault) Stored(ctx context.Context, e catalog.Entry) (bool, error) {
	p, err := v.refs.GetPointer(ctx, e.ID)
	switch {
	case errors.Is(err, refcount.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("vault: read the pointer of %q: %w", e.ID, err)
	}
	return p.Nonce == e.Nonce, nil
}

func (v *Vault) read(ctx context.Context, id string, fn func(*manifest.Manifest) error) (*manifest.Manifest, error) {
	for attempt := 1; ; attempt++ {
		ptr, err := v.pointer(ctx, id)
		if err != nil {
			return nil, err
		}
		m, _, err := v.manifestAt(ctx, id, ptr)
		if err == nil {
			err = fn(m)
		}
		if !errors.Is(err, ErrMissingSegment) || attempt == 3 {
			return m, err
		}
		// Its objects may have been collected after a Delete or a compaction that followed
		// our pointer read.
		if now, perr := v.refs.GetPointer(ctx, id); perr == nil && now == ptr {
			return nil, err // still stored there: the object is really missing
		}
	}
}

// RetrieveBatch retrieves the conversations concurrently; the i-th result and error belong to
// ids[i]. Shared segments are fetched once and served from the cache.
func (v *Vault) RetrieveBatch(ctx context.Context, ids []string) ([]*conversation.Conversation, []error) {
	out := make([]*conversation.Conversation, len(ids))
	errs := make([]error, len(ids))
	forEach(ctx, len(ids), v.concurrency, func(ctx context.Context, i int) error {
		out[i], errs[i] = v.Retrieve(ctx, ids[i])
		return nil
	})
	return out, errs
}

// Manifest returns the decoded manifest of a stored conversation.
func (v *Vault) Manifest(ctx context.Context, id string) (*manifest.Manifest, error) {
	return v.readManifest(ctx, id)
}

func (v *Vault) readManifest(ctx context.Context, id string) (*manifest.Manifest, error) {
	m, _, err := v.readManifestSized(ctx, id)
	return m, err
}

// readManifestSized reads the manifest of id through its pointer, and returns its share of
// its batch object's size too.
func (v *Vault) readManifestSized(ctx context.Context, id string) (*manifest.Manifest, int64, error) {
	ptr, err := v.pointer(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	return v.manifestAt(ctx, id, ptr)
}

// pointer reads id's pointer: ErrNotFound when id is not stored.
func (v *Vault) pointer(ctx context.Context, id string) (refcount.Pointer, error) {
	if err := conversation.ValidateID(id); err != nil {
		return refcount.Pointer{}, err
	}
	ptr, err := v.refs.GetPointer(ctx, id)
	if errors.Is(err, refcount.ErrNotFound) {
		return ptr, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return ptr, fmt.Errorf("vault: read the pointer of %q: %w", id, err)
	}
	return ptr, nil
}

// manifestAt reads the manifest of id from the batch object ptr names, and its share of the
// batch object's size. The manifest has the pointer's nonce and batch.
func (v *Vault) manifestAt(ctx context.Context, id string, ptr refcount.Pointer) (*manifest.Manifest, int64, error) {
	b, err := v.readBatch(ctx, ptr.Batch)
	if err != nil {
		return nil, 0, fmt.Errorf("conversation %q: %w", id, err)
	}
	stored := b.manifests[id]
	if stored == nil {
		return nil, 0, fmt.Errorf("%w: batch object %s does not hold conversation %q", ErrCorrupt, ptr.Batch, id)
	}
	m := *stored // the cached manifest is shared: set the copy's pointer fields
	m.Nonce, m.Batch = ptr.Nonce, ptr.Batch
	return &m, b.size / int64(len(b.manifests)), nil
}

// batchObject is a decoded batch object: its manifests by conversation id (shared: never
// modified), its writer deadline, and its stored size.
type batchObject struct {
	manifests map[string]*manifest.Manifest
	deadline  time.Time
	size      int64
}

// manifestOf returns the manifest of id in b, or nil (also for a nil b).
func (b *batchObject) manifestOf(id string) *manifest.Manifest {
	if b == nil {
		return nil
	}
	return b.manifests[id]
}

// readBatch returns the decoded batch object id, from the cache or the bucket, checked (its
// checksum, its format, every manifest in it). Concurrent reads of one batch object share one
// GET, as segment reads do. A batch object that does not exist is ErrMissingSegment.
func (v *Vault) readBatch(ctx context.Context, id string) (*batchObject, error) {
	return sharedRead(ctx, v, id, func() (*batchObject, bool) { return v.batches.Get(id) },
		func() (*batchObject, error) { return v.fetchBatch(ctx, id) })
}

// fetchBatch reads, checks, decodes and caches batch object id.
func (v *Vault) fetchBatch(ctx context.Context, id string) (*batchObject, error) {
	data, _, err := v.bucket.Get(ctx, manifest.BatchKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: batch object %s", ErrMissingSegment, id)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read batch object %s: %w", id, err)
	}
	var decoded manifest.Batch
	err = v.withModel(ctx, func() error {
		decoded, err = v.manifests.DecodeBatch(data)
		return err
	})
	if err != nil {
		return nil, decodeError("batch object "+id, err)
	}
	if len(decoded.Manifests) == 0 {
		return nil, fmt.Errorf("%w: batch object %s holds no manifest", ErrCorrupt, id)
	}
	b := &batchObject{manifests: make(map[string]*manifest.Manifest, len(decoded.Manifests)),
		deadline: time.UnixMilli(decoded.Deadline), size: int64(len(data))}
	for _, m := range decoded.Manifests {
		m.Batch = id
		b.manifests[m.ID] = m
	}
	v.batches.Add(id, b)
	return b, nil
}

// readManifestKey reads and decodes a manifest of the layout before batches, stored under key
// (Migrate reads them), and returns its size.
func (v *Vault) readManifestKey(ctx context.Context, key string) (*manifest.Manifest, int64, error) {
	data, _, err := v.bucket.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("vault: read manifest %s: %w", key, err)
	}
	var m *manifest.Manifest
	err = v.withModel(ctx, func() error {
		m, err = v.manifests.Decode(data)
		return err
	})
	if err != nil {
		return nil, 0, decodeError("manifest "+key, err)
	}
	if manifest.Key(m.ID) != key {
		return nil, 0, fmt.Errorf("%w: manifest %s names conversation %q", ErrCorrupt, key, m.ID)
	}
	return m, int64(len(data)), nil
}

// assemble rebuilds the conversation of m.
func (v *Vault) assemble(ctx context.Context, m *manifest.Manifest) (*conversation.Conversation, error) {
	tok, err := tokenizer.Get(m.Tokenizer)
	if err != nil {
		// The manifest decoded and validated: a tokenizer this build lacks is a newer one.
		return nil, fmt.Errorf("%w: manifest of %q: %w", ErrNewerVersion, m.ID, err)
	}
	streams, err := v.streams(ctx, m)
	if err != nil {
		return nil, err
	}
	c := &conversation.Conversation{
		ID: m.ID, Application: m.Application, Model: m.Model, Tokenizer: m.Tokenizer,
		Metadata: m.Metadata, Messages: make([]conversation.Message, len(m.Messages)),
	}
	if m.CreatedAt != "" {
		if c.CreatedAt, err = time.Parse(time.RFC3339Nano, m.CreatedAt); err != nil {
			return nil, fmt.Errorf("%w: manifest of %q: created_at: %w", ErrCorrupt, m.ID, err)
		}
	}
	for i, mm := range m.Messages {
		msg := conversation.Message{Role: mm.Role, Name: mm.Name, ToolCallID: mm.ToolCallID, ContentNull: mm.ContentNull}
		if mm.AsTokens {
			msg.Tokens = append([]int{}, streams[i]...)
		} else if msg.Content, err = tok.Decode(streams[i]); err != nil {
			return nil, fmt.Errorf("%w: message %d of %q: %w", ErrCorrupt, i, m.ID, err)
		}
		for _, tc := range mm.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, conversation.ToolCall{ID: tc.ID, Type: tc.Type, Name: tc.Name, Arguments: tc.Arguments})
		}
		c.Messages[i] = msg
	}
	return c, nil
}

// streams reads the tokens of m's messages, one slice per message (sharing one array).
func (v *Vault) streams(ctx context.Context, m *manifest.Manifest) ([][]int, error) {
	inline := m.Inline
	segs := m.Segments()
	decoded := make(map[string][]int, len(segs))
	var mu sync.Mutex
	err := forEach(ctx, len(segs), v.concurrency, func(ctx context.Context, i int) error {
		tokens, err := v.readSegment(ctx, m.Tokenizer, segs[i])
		if err != nil {
			return fmt.Errorf("conversation %q: %w", m.ID, err)
		}
		mu.Lock()
		decoded[segs[i]] = tokens
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	stream := make([]int, 0, m.Totals.Tokens)
	for _, ch := range m.Chunks {
		var part []int
		if ch.Segment == "" {
			if len(inline) < ch.Tokens {
				return nil, fmt.Errorf("%w: inline tokens of %q are fewer than its chunks", ErrCorrupt, m.ID)
			}
			part, inline = inline[:ch.Tokens], inline[ch.Tokens:]
		} else if seg := decoded[ch.Segment]; ch.Offset+ch.Tokens <= len(seg) {
			part = seg[ch.Offset : ch.Offset+ch.Tokens]
		}
		if len(part) != ch.Tokens {
			return nil, fmt.Errorf("%w: chunk of %q: segment %s has no %d tokens at offset %d", ErrCorrupt, m.ID, ch.Segment, ch.Tokens, ch.Offset)
		}
		stream = append(stream, part...)
	}
	if len(inline) != 0 {
		return nil, fmt.Errorf("%w: inline tokens of %q: %d left over", ErrCorrupt, m.ID, len(inline))
	}
	streams := make([][]int, len(m.Messages))
	for i, mm := range m.Messages {
		if len(stream) < mm.Tokens {
			return nil, fmt.Errorf("%w: the messages of %q have more tokens than its chunks", ErrCorrupt, m.ID)
		}
		streams[i], stream = stream[:mm.Tokens:mm.Tokens], stream[mm.Tokens:]
	}
	return streams, nil
}

// decodedSegment is a segment's tokens as read, decoded and verified once, for the cache.
type decodedSegment struct {
	tokenizer string
	tokens    []int
}

// readSegment returns the tokens of a segment, from the cache or the bucket; a read from the
// bucket is verified against the frame checksum and the segment id before it is cached. The
// tokens are shared with the cache: callers must not modify them. Concurrent reads of a segment
// that is not cached share one GET: the first fetches it, the others wait for it to be cached.
func (v *Vault) readSegment(ctx context.Context, tokenizerName, id string) ([]int, error) {
	cached := func() ([]int, bool) {
		s, ok := v.cache.Get(id)
		return s.tokens, ok && s.tokenizer == tokenizerName
	}
	return sharedRead(ctx, v, id, cached, func() ([]int, error) { return v.fetchSegment(ctx, tokenizerName, id) })
}

// sharedRead returns what cached finds for id, or what read returns (read caches it).
// Concurrent calls for one id share one read: the first reads, the others wait for it and look
// in the cache again, and read themselves only when its read failed or was too large to cache.
func sharedRead[V any](ctx context.Context, v *Vault, id string, cached func() (V, bool), read func() (V, error)) (V, error) {
	if x, ok := cached(); ok {
		return x, nil
	}
	done, leader := v.startFlight(id)
	if leader {
		defer v.endFlight(id, done)
		// A flight that ended between the first look and this one cached the value.
		if x, ok := cached(); ok {
			return x, nil
		}
	} else {
		select {
		case <-done:
		case <-ctx.Done():
			var zero V
			return zero, context.Cause(ctx)
		}
		if x, ok := cached(); ok {
			return x, nil
		}
	}
	return read()
}

// fetchSegment reads segment id from the bucket, verifies and decodes it, and caches its tokens.
func (v *Vault) fetchSegment(ctx context.Context, tokenizerName, id string) ([]int, error) {
	frame, _, err := v.bucket.Get(ctx, segment.Key(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrMissingSegment, id)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read segment %s: %w", id, err)
	}
	tokens, err := v.decodeFrame(ctx, tokenizerName, id, frame)
	if err == nil {
		v.cache.Add(id, decodedSegment{tokenizerName, tokens})
	}
	return tokens, err
}

// startFlight registers a read of segment (or batch object) id, or finds the one in progress: leader reports
// whether the caller is to read it, and done is closed when that read is over.
func (v *Vault) startFlight(id string) (done chan struct{}, leader bool) {
	v.flightsMu.Lock()
	defer v.flightsMu.Unlock()
	if done, ok := v.flights[id]; ok {
		return done, false
	}
	done = make(chan struct{})
	v.flights[id] = done
	return done, true
}

// endFlight ends the read startFlight registered.
func (v *Vault) endFlight(id string, done chan struct{}) {
	v.flightsMu.Lock()
	delete(v.flights, id)
	v.flightsMu.Unlock()
	close(done)
}

// decodeFrame decodes a segment frame and checks it against id, loading its model when needed.
func (v *Vault) decodeFrame(ctx context.Context, tokenizerName, id string, frame []byte) ([]int, error) {
	var tokens []int
	err := v.withModel(ctx, func() error {
		var err error
		tokens, err = v.decodeSegment(tokenizerName, id, frame)
		return err
	})
	return tokens, err
}

// decodeSegment decodes a segment frame and checks that its tokens hash to id.
func (v *Vault) decodeSegment(tokenizerName, id string, frame []byte) ([]int, error) {
	tokens, err := v.codec.Decode(frame)
	if err != nil {
		return nil, decodeError("segment "+id, err)
	}
	if got := segment.ID(tokenizerName, tokens); got != id {
		return nil, fmt.Errorf("%w: segment %s decodes to tokens with id %s", ErrCorrupt, id, got)
	}
	return tokens, nil
}

// decodeError says what an error from decoding stored data (what names it) means: ErrNewerVersion
// for data a newer stowken wrote, ErrCorrupt for bytes that do not decode (or a compression
// model that does not), and neither for anything else, such as a compression model that could
// not be read (a transient error, to retry) or not loaded yet (*codec.UnknownDictError, which
// withModel handles).
func decodeError(what string, err error) error {
	switch {
	case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNewerVersion):
		return fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, manifest.ErrNewerVersion), errors.Is(err, codec.ErrUnsupported):
		return fmt.Errorf("%w: %s: %w", ErrNewerVersion, what, err)
	case errors.Is(err, manifest.ErrInvalid), errors.Is(err, codec.ErrCorrupt):
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, what, err)
	}
	return fmt.Errorf("vault: %s: %w", what, err)
}
