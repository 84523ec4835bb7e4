package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/objstore"
)

// Models are compression priors trained on the store's own data: for one application and
// tokenizer, a raw zstd dictionary of token data and one of manifests. Applications are the
// natural unit: each has its own system prompts, tool schemas, metadata and style. The first
// conversations of an application are written without a model; once a vault has seen
// modelSampleBytes of an application's token data it builds a model from a random sample of
// what it saw, stores it once as an immutable object, and writes with it from then on. Frames and manifests name the model
// they were written with, so a model is loaded on demand by any reader. Models are never
// deleted: they are small, and any frame may name them. Object key: models/<id, 8 hex digits>.
const (
	modelsPrefix = "models/"
	// modelSampleBytes of token data (varint encoded) seen before a model is built.
	modelSampleBytes = 64 << 10
	// Dictionary sizes: token data and manifests.
	tokenDictBytes    = 32 << 10
	manifestDictBytes = 8 << 10
)

var modelMagic = [4]byte{'S', 'T', 'K', 'M'}

// scope is what a model is for.
type scope struct{ tokenizer, application string }

// model is a trained prior.
type model struct {
	id uint32
	scope
	tokens    []byte // raw dictionary for token frames
	manifests []byte // raw dictionary for manifests
}

// encode returns the model object: magic, version 1, tokenizer, application, the two
// dictionaries (each uvarint length-prefixed) and a CRC-32C. The id is derived from the content.
func (m *model) encode() []byte {
	b := append([]byte{}, modelMagic[:]...)
	b = append(b, 1)
	for _, part := range [][]byte{[]byte(m.tokenizer), []byte(m.application), m.tokens, m.manifests} {
		b = binary.AppendUvarint(b, uint64(len(part)))
		b = append(b, part...)
	}
	return binary.LittleEndian.AppendUint32(b, codec.Checksum(b))
}

// modelID derives a model's id from its content: a 32-bit value in zstd's unreserved
// dictionary id range [32768, 2^31).
func modelID(content []byte) uint32 {
	h := sha256.Sum256(content)
	return 32768 + binary.LittleEndian.Uint32(h[:4])%(1<<31-32768)
}

func decodeModel(id uint32, data []byte) (*model, error) {
	if len(data) < 9 || !bytes.Equal(data[:4], modelMagic[:]) || data[4] != 1 {
		return nil, fmt.Errorf("%w: model %08x: bad header", ErrCorrupt, id)
	}
	body := data[:len(data)-4]
	if codec.Checksum(body) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("%w: model %08x: checksum mismatch", ErrCorrupt, id)
	}
	rest := body[5:]
	var parts [4][]byte
	for i := range parts {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, fmt.Errorf("%w: model %08x: truncated", ErrCorrupt, id)
		}
		parts[i], rest = rest[k:k+int(n)], rest[k+int(n):]
	}
	if len(rest) != 0 || modelID(body) != id {
		return nil, fmt.Errorf("%w: model %08x: content does not match its id", ErrCorrupt, id)
	}
	return &model{id: id, scope: scope{string(parts[0]), string(parts[1])}, tokens: parts[2], manifests: parts[3]}, nil
}

func modelKey(id uint32) string { return fmt.Sprintf("%s%08x", modelsPrefix, id) }

// models tracks the loaded models and the samples for the ones still to be built.
type models struct {
	mu      sync.Mutex
	active  map[scope]uint32  // the model new data is written with
	samples map[scope]*sample // what this vault has seen, until a model exists
}

type sample struct {
	tokens    [][]byte
	tokenSize int
	manifests [][]byte
}

func newModels() *models {
	return &models{active: map[scope]uint32{}, samples: map[scope]*sample{}}
}

// loadModels lists the store's models and activates, per scope, the one with the smallest id,
// so that every process sharing a store converges on the same model.
func (v *Vault) loadModels(ctx context.Context) error {
	return v.bucket.List(ctx, modelsPrefix, func(a objstore.Attrs) error {
		id, err := strconv.ParseUint(strings.TrimPrefix(a.Key, modelsPrefix), 16, 32)
		if err != nil {
			return nil // not a model
		}
		m, err := v.loadModel(ctx, uint32(id))
		if err != nil {
			return err
		}
		v.models.mu.Lock()
		if cur, ok := v.models.active[m.scope]; !ok || m.id < cur {
			v.models.active[m.scope] = m.id
		}
		v.models.mu.Unlock()
		return nil
	})
}

// loadModel reads a model and adds its dictionaries to the codec and the manifest encoder.
func (v *Vault) loadModel(ctx context.Context, id uint32) (*model, error) {
	data, _, err := v.bucket.Get(ctx, modelKey(id))
	if err != nil {
		return nil, fmt.Errorf("vault: load model %08x: %w", id, err)
	}
	m, err := decodeModel(id, data)
	if err != nil {
		return nil, err
	}
	return m, v.addModel(m)
}

func (v *Vault) addModel(m *model) error {
	if err := v.codec.AddDict(m.id, m.tokens); err != nil {
		return err
	}
	return v.manifests.AddDict(m.id, m.manifests)
}

// activeModel returns the model id to write new data of the scope with (0: none yet).
func (v *Vault) activeModel(sc scope) uint32 {
	v.models.mu.Lock()
	defer v.models.mu.Unlock()
	return v.models.active[sc]
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

// observe records what a Store wrote without a model; once enough is seen, it builds the
// scope's model and stores it, and returns the bytes it stored. Failures only mean data keeps
// being written without a model.
func (v *Vault) observe(ctx context.Context, sc scope, tokenData [][]byte, manifestJSON []byte) int64 {
	v.models.mu.Lock()
	if v.models.active[sc] != 0 {
		v.models.mu.Unlock()
		return 0
	}
	s := v.models.samples[sc]
	if s == nil {
		s = &sample{}
		v.models.samples[sc] = s
	}
	for _, d := range tokenData {
		s.tokens = append(s.tokens, d)
		s.tokenSize += len(d)
	}
	s.manifests = append(s.manifests, manifestJSON)
	if s.tokenSize < modelSampleBytes {
		v.models.mu.Unlock()
		return 0
	}
	delete(v.models.samples, sc)
	m := &model{scope: sc, tokens: pick(s.tokens, tokenDictBytes), manifests: pick(s.manifests, manifestDictBytes)}
	v.models.mu.Unlock()

	content := m.encode()
	m.id = modelID(content[:len(content)-4])
	if _, err := v.bucket.Put(ctx, modelKey(m.id), content, objstore.PutOptions{IfNoneMatch: true}); err != nil && !errors.Is(err, objstore.ErrExists) {
		v.log.Warn("could not store a compression model; writing without one", "tokenizer", sc.tokenizer, "application", sc.application, "err", err)
		return 0
	}
	if err := v.addModel(m); err != nil {
		v.log.Warn("could not load a compression model", "tokenizer", sc.tokenizer, "application", sc.application, "err", err)
		return int64(len(content))
	}
	v.models.mu.Lock()
	if v.models.active[sc] == 0 {
		v.models.active[sc] = m.id
	}
	v.models.mu.Unlock()
	v.log.Info("built compression model", "tokenizer", sc.tokenizer, "application", sc.application, "model", fmt.Sprintf("%08x", m.id),
		"token_dict_bytes", len(m.tokens), "manifest_dict_bytes", len(m.manifests))
	return int64(len(content))
}

// pick returns a random selection of the items, concatenated, of at most size bytes.
// A raw zstd dictionary is plain content: what it holds is what matches can refer to.
func pick(items [][]byte, size int) []byte {
	r := rand.New(rand.NewPCG(uint64(len(items)), 0x5eed))
	perm := r.Perm(len(items))
	var out []byte
	for _, i := range perm {
		if len(out)+len(items[i]) > size {
			continue
		}
		out = append(out, items[i]...)
	}
	return out
}
