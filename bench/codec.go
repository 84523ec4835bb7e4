package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stowken/stowken/codec"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/segment"
)

// codecTiming is the time stowken's codec (codec.Encode and codec.Decode) takes on one
// goroutine for every stored segment and every manifest's inline run.
type codecTiming struct {
	Tokens           int64 // tokens encoded and decoded
	Segments, Inline int64 // token runs timed: distinct segments, non-empty inline runs
	Encode, Decode   time.Duration
}

func (c *codecTiming) add(o codecTiming) {
	c.Tokens += o.Tokens
	c.Segments += o.Segments
	c.Inline += o.Inline
	c.Encode += o.Encode
	c.Decode += o.Decode
}

// timeCodec times the codec over what bucket holds: each segment frame is decoded (timed)
// and its tokens encoded again with the frame's dictionary (timed); each manifest's inline run
// is encoded as a frame with the manifest's model (timed) and decoded (timed). Objects are
// fetched by `fetchers` goroutines first; the codec then runs on the calling goroutine only,
// while timing is held. The runs are timed one model at a time, each with a codec holding that
// model's dictionary only: a zstd encoder with a dictionary takes tens of MB, and a store may
// have a model per application.
func timeCodec(ctx context.Context, b objstore.Bucket, fetchers int, timing *sync.Mutex) (codecTiming, error) {
	var res codecTiming
	me, err := manifest.NewEncoder()
	if err != nil {
		return res, err
	}
	stored := map[uint32]*codec.Model{}
	models, err := listKeys(ctx, b, codec.ModelPrefix)
	if err != nil {
		return res, err
	}
	for _, key := range models {
		id, err := strconv.ParseUint(strings.TrimPrefix(key, codec.ModelPrefix), 16, 32)
		if err != nil || id == 0 {
			continue // not a model
		}
		data, _, err := b.Get(ctx, key)
		if err != nil {
			return res, fmt.Errorf("bench: read model %s: %w", key, err)
		}
		m, err := codec.DecodeModel(uint32(id), data)
		if err != nil {
			return res, fmt.Errorf("bench: model %s: %w", key, err)
		}
		stored[m.ID] = m
		if err := me.AddDict(m.ID, m.ManifestDict); err != nil {
			return res, err
		}
	}

	// The token runs by model: segment frames as stored, inline runs as varints.
	frames := map[uint32][][]byte{}
	inline := map[uint32][][]byte{}
	keys, err := listKeys(ctx, b, segment.Prefix)
	if err != nil {
		return res, err
	}
	err = fetchAll(ctx, b, keys, fetchers, func(key string, frame []byte) error {
		h, err := codec.ReadHeader(frame)
		if err != nil {
			return fmt.Errorf("bench: segment %s: %w", key, err)
		}
		frames[h.Dict] = append(frames[h.Dict], frame)
		return nil
	})
	if err != nil {
		return res, err
	}
	if keys, err = listKeys(ctx, b, manifest.BatchPrefix); err != nil {
		return res, err
	}
	err = fetchAll(ctx, b, keys, fetchers, func(key string, data []byte) error {
		batch, err := me.DecodeBatch(data)
		if err != nil {
			return fmt.Errorf("bench: batch object %s: %w", key, err)
		}
		dict, err := codec.FrameDict(data) // the batch's model, which names its token dictionary too
		if err != nil {
			return fmt.Errorf("bench: batch object %s: %w", key, err)
		}
		for _, m := range batch.Manifests {
			if len(m.Inline) > 0 {
				inline[dict] = append(inline[dict], codec.AppendVarints(nil, m.Inline))
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}

	ids := slices.Sorted(maps.Keys(frames))
	for id := range inline {
		if _, ok := frames[id]; !ok {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		c, err := codec.New()
		if err != nil {
			return res, err
		}
		if id != 0 {
			m, ok := stored[id]
			if !ok {
				return res, fmt.Errorf("bench: model %08x is named by stored data but not stored", id)
			}
			if err := c.AddModel(m); err != nil {
				return res, err
			}
		}
		for _, frame := range frames[id] {
			if err := timeSegment(c, id, frame, timing, &res); err != nil {
				return res, fmt.Errorf("bench: codec timing, segment: %w", err)
			}
		}
		var tokens []int
		for _, varints := range inline[id] {
			if tokens, err = appendTokens(tokens[:0], varints); err != nil {
				return res, err
			}
			if err := timeInline(c, id, tokens, timing, &res); err != nil {
				return res, fmt.Errorf("bench: codec timing, inline run: %w", err)
			}
		}
	}
	return res, nil
}

func timeSegment(c *codec.Codec, dict uint32, frame []byte, timing *sync.Mutex, res *codecTiming) error {
	timing.Lock()
	start := time.Now()
	tokens, err := c.Decode(frame)
	mid := time.Now()
	if err == nil {
		_, err = c.Encode(tokens, dict)
	}
	end := time.Now()
	timing.Unlock()
	if err != nil {
		return err
	}
	res.Decode += mid.Sub(start)
	res.Encode += end.Sub(mid)
	res.Tokens += int64(len(tokens))
	res.Segments++
	return nil
}

func timeInline(c *codec.Codec, dict uint32, tokens []int, timing *sync.Mutex, res *codecTiming) error {
	timing.Lock()
	start := time.Now()
	frame, err := c.Encode(tokens, dict)
	mid := time.Now()
	if err == nil {
		_, err = c.Decode(frame)
	}
	end := time.Now()
	timing.Unlock()
	if err != nil {
		return err
	}
	res.Encode += mid.Sub(start)
	res.Decode += end.Sub(mid)
	res.Tokens += int64(len(tokens))
	res.Inline++
	return nil
}

func listKeys(ctx context.Context, b objstore.Bucket, prefix string) ([]string, error) {
	var keys []string
	err := b.List(ctx, prefix, func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: list %s: %w", prefix, err)
	}
	return keys, nil
}

// fetchAll reads the objects with `workers` goroutines and calls fn for each, in no particular
// order, on the calling goroutine.
func fetchAll(ctx context.Context, b objstore.Bucket, keys []string, workers int, fn func(key string, data []byte) error) error {
	type object struct {
		key  string
		data []byte
	}
	g, ctx := errgroup.WithContext(ctx)
	next := make(chan string)
	out := make(chan object, workers)
	g.Go(func() error {
		defer close(next)
		for _, k := range keys {
			select {
			case next <- k:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	var fetchers errgroup.Group
	for range max(1, workers) {
		fetchers.Go(func() error {
			for k := range next {
				data, _, err := b.Get(ctx, k)
				if err != nil {
					return fmt.Errorf("bench: read %s: %w", k, err)
				}
				select {
				case out <- object{k, data}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(out)
		return fetchers.Wait()
	})
	var ferr error
	for o := range out {
		if ferr == nil {
			ferr = fn(o.key, o.data)
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ferr
}
