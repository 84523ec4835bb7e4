package codec

import (
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Zstd is a zstd compressor and decompressor pair, optionally with a raw-content dictionary.
// It is safe for concurrent use.
type Zstd struct {
	dict  uint32
	enc   *zstd.Encoder
	small *zstd.Encoder // inputs under smallInput bytes, when set
	large *zstd.Encoder // inputs of largeInput bytes or more, when set
	dec   *zstd.Decoder
}

// Level is how a Zstd trades speed for size.
type Level int

// The levels. With a dictionary, klauspost's encoder restores its match tables from the
// dictionary's before every frame, in proportion to the table shards the previous frame
// touched: on a frame of a few KiB that restore, not the compression, takes most of the time,
// and it grows with the level's tables (4 MiB for SpeedBetterCompression's long table).
const (
	// LevelTokens is for token frames, where encode speed is measured against a per-message
	// zstd baseline: zstd's default level (3); its fastest below smallInput bytes, where the
	// table restore dominates; and SpeedBetterCompression from largeInput bytes (StoreBatch's
	// packs, written once per 128K tokens, where the restore is small against the frame and the
	// bytes are most of the bucket: 1% fewer segment bytes on the chat corpus). On the
	// api-replay corpus's segments (2,379 frames, most under 16 KiB), SpeedBetterCompression on
	// every frame ran at 5.6 M tokens/s on one core against 15 to 17 with these, for about 2%
	// fewer bytes.
	LevelTokens Level = iota
	// LevelDocuments is for manifests and model objects, written once per conversation or per
	// model, where bytes matter more than speed: SpeedBetterCompression. (SpeedBestCompression
	// re-indexes a dictionary for every frame, about 250 times slower on small frames, for a
	// percent or two.)
	LevelDocuments
)

// smallInput is the input size under which LevelTokens uses zstd's fastest level, and
// largeInput the one from which it uses SpeedBetterCompression.
const (
	smallInput = 4 << 10
	largeInput = 64 << 10
)

// NewZstd returns a Zstd compressing at level; dict 0 means no dictionary, otherwise content
// is the raw dictionary and dict its id, written into every zstd frame header. With checksum,
// every frame carries zstd's content checksum (XXH64), verified on decompression.
//
// Memory: every Zstd holds its own encoders and decoders (about 9 MB at two cores), and a
// vault has one per compression model, so both are bounded: a 256 KiB window (stowken's frames
// are at most a few hundred KiB; matches further back are rare) and at most four concurrent
// encoders and decoders.
func NewZstd(level Level, dict uint32, content []byte, checksum bool) (*Zstd, error) {
	workers := min(runtime.GOMAXPROCS(0), 4)
	encoder := func(l zstd.EncoderLevel) (*zstd.Encoder, error) {
		opts := []zstd.EOption{
			zstd.WithEncoderLevel(l),
			zstd.WithEncoderCRC(checksum),
			zstd.WithSingleSegment(true),
			zstd.WithLowerEncoderMem(true),
			zstd.WithWindowSize(1 << 18),
			zstd.WithEncoderConcurrency(workers),
		}
		if dict != 0 {
			opts = append(opts, zstd.WithEncoderDictRaw(dict, content))
		}
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			return nil, fmt.Errorf("codec: zstd encoder: %w", err)
		}
		return enc, nil
	}
	z := &Zstd{dict: dict}
	var err error
	switch level {
	case LevelTokens:
		if z.enc, err = encoder(zstd.SpeedDefault); err == nil {
			z.small, err = encoder(zstd.SpeedFastest)
		}
		if err == nil {
			z.large, err = encoder(zstd.SpeedBetterCompression)
		}
	case LevelDocuments:
		z.enc, err = encoder(zstd.SpeedBetterCompression)
	default:
		err = fmt.Errorf("codec: unknown zstd level %d", level)
	}
	if err != nil {
		return nil, err
	}
	dopts := []zstd.DOption{zstd.WithDecoderConcurrency(workers), zstd.WithDecoderMaxMemory(1 << 30)}
	if dict != 0 {
		dopts = append(dopts, zstd.WithDecoderDictRaw(dict, content))
	}
	if z.dec, err = zstd.NewReader(nil, dopts...); err != nil {
		return nil, fmt.Errorf("codec: zstd decoder: %w", err)
	}
	return z, nil
}

// Dict is the dictionary id, 0 for none.
func (z *Zstd) Dict() uint32 { return z.dict }

// Compress returns src compressed as one zstd frame.
func (z *Zstd) Compress(src []byte) []byte {
	enc := z.enc
	switch {
	case z.small != nil && len(src) < smallInput:
		enc = z.small
	case z.large != nil && len(src) >= largeInput:
		enc = z.large
	}
	return enc.EncodeAll(src, make([]byte, 0, len(src)/2+16))
}

// Decompress decompresses one zstd frame of at most limit bytes of content; anything else,
// a frame declaring or producing more than limit bytes included, is ErrCorrupt.
func (z *Zstd) Decompress(src []byte, limit int) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return nil, fmt.Errorf("%w: zstd header: %v", ErrCorrupt, err)
	}
	if h.HasFCS && h.FrameContentSize > uint64(limit) {
		return nil, fmt.Errorf("%w: zstd frame declares %d bytes, more than %d", ErrCorrupt, h.FrameContentSize, limit)
	}
	out, err := z.dec.DecodeAll(src, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w: zstd frame holds %d bytes, more than %d", ErrCorrupt, len(out), limit)
	}
	return out, nil
}

// FrameDict returns the dictionary id in a zstd frame header (0 for none).
func FrameDict(src []byte) (uint32, error) {
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return 0, fmt.Errorf("%w: zstd header: %v", ErrCorrupt, err)
	}
	return h.DictionaryID, nil
}
