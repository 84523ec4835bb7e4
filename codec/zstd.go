package codec

import (
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Zstd is a zstd compressor and decompressor pair, optionally with a raw-content dictionary.
// It is safe for concurrent use.
type Zstd struct {
	dict uint32
	enc  *zstd.Encoder
	dec  *zstd.Decoder
}

// NewZstd returns a Zstd; dict 0 means no dictionary, otherwise content is the raw dictionary
// and dict its id, written into every zstd frame header. With checksum, every frame carries
// zstd's content checksum (XXH64), verified on decompression.
//
// The level is SpeedBetterCompression: SpeedBestCompression re-indexes a dictionary for every
// frame, about 250 times slower on the small frames stowken writes, for a percent or two.
//
// Memory: every Zstd holds its own encoders and decoders (about 9 MB at two cores), and a
// vault has one per compression model, so both are bounded: a 256 KiB window (stowken's frames
// are at most a few hundred KiB; matches further back are rare) and at most four concurrent
// encoders and decoders.
func NewZstd(dict uint32, content []byte, checksum bool) (*Zstd, error) {
	workers := min(runtime.GOMAXPROCS(0), 4)
	eopts := []zstd.EOption{
		zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
		zstd.WithEncoderCRC(checksum),
		zstd.WithSingleSegment(true),
		zstd.WithLowerEncoderMem(true),
		zstd.WithWindowSize(1 << 18),
		zstd.WithEncoderConcurrency(workers),
	}
	dopts := []zstd.DOption{zstd.WithDecoderConcurrency(workers), zstd.WithDecoderMaxMemory(1 << 30)}
	if dict != 0 {
		eopts = append(eopts, zstd.WithEncoderDictRaw(dict, content))
		dopts = append(dopts, zstd.WithDecoderDictRaw(dict, content))
	}
	enc, err := zstd.NewWriter(nil, eopts...)
	if err != nil {
		return nil, fmt.Errorf("codec: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, dopts...)
	if err != nil {
		return nil, fmt.Errorf("codec: zstd decoder: %w", err)
	}
	return &Zstd{dict: dict, enc: enc, dec: dec}, nil
}

// Dict is the dictionary id, 0 for none.
func (z *Zstd) Dict() uint32 { return z.dict }

// Compress returns src compressed as one zstd frame.
func (z *Zstd) Compress(src []byte) []byte {
	return z.enc.EncodeAll(src, make([]byte, 0, len(src)/2+16))
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
