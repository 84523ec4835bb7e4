package vault

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/objstore"
)

// Models are compression priors trained on the store's own data (codec.Model, trained by
// codec.Sample): for one tokenizer, a rank table of its most frequent tokens, a raw zstd
// dictionary of (rank-coded) token data, and one of manifests. One model serves the whole
// store: the priors that matter (which tokens are frequent, the manifests' structure,
// recurring phrasing) are shared across applications, and a model per application would cost
// its dictionaries many times over.
//
// A vault builds models as it writes. The first conversations of a tokenizer are written
// without one. Once the vault has seen generationBytes[0] of the tokenizer's token data (varint
// encoded), it builds generation 1 from a random sample of what it saw; later generations are
// built at the later thresholds, from a sample over everything seen by then, so the model grows
// out of the first applications' data to represent the store. Each is stored once as an
// immutable object (models/<id, 8 hex digits>, the id derived from the content), and data is
// written with the newest from then on. Frames and manifests name the model they were written
// with, so any reader loads it on demand. Models are never deleted: they are small, and any
// frame may name them.
//
// Several processes sharing a store each build their own generations from what they see;
// on opening, a vault activates per tokenizer the stored model of the highest generation
// (the smallest id among equals), so processes converge on one.

// generationBytes are the amounts of token data (varint bytes) seen at which generations 1,
// 2, ... are built.
var generationBytes = []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20}

// models tracks the active models and the samples for the generations still to be built.
type models struct {
	mu      sync.Mutex
	active  map[string]*codec.Model // by tokenizer: the model new data is written with
	samples map[string]*sample      // by tokenizer, until its last generation is built
}

// sample is what a vault has seen of a tokenizer's data, kept while it still has generations
// to build.
type sample struct {
	*codec.Sample
	building int // the generation being built, 0 for none
}

func newModels() *models {
	return &models{active: map[string]*codec.Model{}, samples: map[string]*sample{}}
}

// better reports whether a should be written with rather than b.
func better(a, b *codec.Model) bool {
	return b == nil || a.Generation > b.Generation || a.Generation == b.Generation && a.ID < b.ID
}

// loadModels lists the store's models and activates, per tokenizer, the best (see better).
func (v *Vault) loadModels(ctx context.Context) error {
	return v.bucket.List(ctx, codec.ModelPrefix, func(a objstore.Attrs) error {
		id, ok := codec.ParseModelKey(a.Key)
		if !ok {
			return nil // not a model
		}
		m, err := v.loadModel(ctx, id)
		if err != nil {
			return err
		}
		v.activate(m)
		return nil
	})
}

// activate makes m the tokenizer's active model if it is better than the current one.
func (v *Vault) activate(m *codec.Model) {
	v.models.mu.Lock()
	defer v.models.mu.Unlock()
	if better(m, v.models.active[m.Tokenizer]) {
		v.models.active[m.Tokenizer] = m
	}
}

// loadModel reads a model and adds it to the codec and the manifest encoder.
func (v *Vault) loadModel(ctx context.Context, id uint32) (*codec.Model, error) {
	data, _, err := v.bucket.Get(ctx, codec.ModelKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		// Models are never deleted: data naming one that is not there is damaged.
		return nil, fmt.Errorf("%w: model %08x is named by stored data but missing", ErrCorrupt, id)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: load model %08x: %w", id, err)
	}
	m, err := codec.DecodeModel(id, data)
	if err != nil {
		return nil, decodeError(fmt.Sprintf("model %08x", id), err)
	}
	return m, v.addModel(m)
}

func (v *Vault) addModel(m *codec.Model) error {
	if err := v.codec.AddModel(m); err != nil {
		return err
	}
	return v.manifests.AddDict(m.ID, m.ManifestDict)
}

// activeModel returns the id of the model to write the tokenizer's data with (0: none yet),
// and whether the vault still samples the tokenizer's data to build a later generation.
func (v *Vault) activeModel(tokenizer string) (id uint32, sampling bool) {
	v.models.mu.Lock()
	defer v.models.mu.Unlock()
	if m := v.models.active[tokenizer]; m != nil {
		id = m.ID
		sampling = m.Generation < len(generationBytes)
	} else {
		sampling = true
	}
	return id, sampling
}

// withModel runs fn, and when fn fails because a frame names a model not loaded yet, loads it
// from the store and runs fn again.
func (v *Vault) withModel(ctx context.Context, fn func() error) error {
	err := fn()
	var unknown *codec.UnknownDictError
	if !errors.As(err, &unknown) {
		return err
	}
	if _, lerr := v.loadModel(ctx, unknown.Dict); lerr != nil {
		return lerr
	}
	return fn()
}

// observe samples what a Store wrote: its token runs and its manifest's uncompressed payload.
// When the data seen reaches the next generation's threshold, it builds that model, stores and
// activates it, and returns the bytes it stored. Failures only mean data keeps being written
// with the model before.
func (v *Vault) observe(ctx context.Context, tokenizer string, runs [][]int, manifestPayload []byte) int64 {
	v.models.mu.Lock()
	gen := 0
	if m := v.models.active[tokenizer]; m != nil {
		gen = m.Generation
	}
	s := v.models.samples[tokenizer]
	if gen >= len(generationBytes) {
		delete(v.models.samples, tokenizer)
		v.models.mu.Unlock()
		return 0
	}
	if s == nil {
		s = &sample{Sample: codec.NewSample(tokenizer)}
		v.models.samples[tokenizer] = s
	}
	s.Add(runs, manifestPayload)
	if s.Seen() < generationBytes[gen] || s.building > gen {
		v.models.mu.Unlock()
		return 0
	}
	s.building = gen + 1
	m := s.Train(tokenizer, gen+1)
	v.models.mu.Unlock()

	content, err := m.Encode()
	if err != nil {
		v.log.Warn("could not encode a compression model", "tokenizer", tokenizer, "err", err)
		return 0
	}
	m.ID = codec.ModelID(content)
	if _, err := v.bucket.Put(ctx, codec.ModelKey(m.ID), content, objstore.PutOptions{IfNoneMatch: true}); err != nil && !errors.Is(err, objstore.ErrExists) {
		v.log.Warn("could not store a compression model; writing with the one before", "tokenizer", tokenizer, "err", err)
		return 0
	}
	if err := v.addModel(m); err != nil {
		v.log.Warn("could not load a compression model", "tokenizer", tokenizer, "err", err)
		return int64(len(content))
	}
	v.activate(m)
	v.log.Info("built compression model", "tokenizer", tokenizer, "model", fmt.Sprintf("%08x", m.ID), "generation", m.Generation,
		"token_dict_bytes", len(m.TokenDict), "manifest_dict_bytes", len(m.ManifestDict), "ranked_tokens", len(m.Ranks), "bytes", len(content))
	return int64(len(content))
}
