package embed

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantized is a vector in int8 form: component i is approximately Scale * Values[i]. Quantize
// maps the largest component (in absolute value) to ±127, so the error of a component is at
// most Scale/2, and the error of a unit vector of d dimensions at most sqrt(d)*Scale/2 in
// length (in practice about sqrt(d/12)*Scale).
//
// Its binary form (AppendBinary) is the scale as a little-endian IEEE float32 followed by the
// values, one byte each: 4 + d bytes, 260 for 256 dimensions. The length of the vector is that
// of the bytes, so a stored vector needs its length kept beside it (a catalog column of bytes).
type Quantized struct {
	Scale  float32
	Values []int8
}

// Quantize returns the int8 form of v. Components that are not finite count as zero; the zero
// vector gives Scale 0 and zero values.
func Quantize(v []float32) Quantized {
	var maxAbs float32
	for _, x := range v {
		if a := abs32(x); a > maxAbs && !math.IsInf(float64(a), 0) {
			maxAbs = a
		}
	}
	q := Quantized{Values: make([]int8, len(v))}
	if maxAbs == 0 {
		return q
	}
	q.Scale = maxAbs / 127
	inv := 127 / float64(maxAbs)
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			continue
		}
		r := math.Round(float64(x) * inv)
		r = max(-127, min(127, r))
		q.Values[i] = int8(r)
	}
	return q
}

// Vector returns the float32 vector that q stands for: Scale * Values[i].
func (q Quantized) Vector() []float32 {
	v := make([]float32, len(q.Values))
	for i, x := range q.Values {
		v[i] = q.Scale * float32(x)
	}
	return v
}

// AppendBinary appends the binary form of q to b (see Quantized); it implements
// encoding.BinaryAppender and never fails for a Quantized made by Quantize or ParseQuantized.
// It fails for a vector without values, a Scale that is negative or not finite, or values
// that Quantize would not write, so that whatever it writes ParseQuantized reads.
func (q Quantized) AppendBinary(b []byte) ([]byte, error) {
	if err := q.check(); err != nil {
		return b, fmt.Errorf("embed: cannot encode: %w", err)
	}
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(q.Scale))
	for _, x := range q.Values {
		b = append(b, byte(x))
	}
	return b, nil
}

// ParseQuantized reads the binary form of one vector, the whole of data (see Quantized). Bytes
// that AppendBinary cannot have written give an error wrapping ErrCorrupt: fewer than 5 bytes, a
// negative or non-finite scale, a value of -128, or values that do not reach ±127 (or are not
// all zero for a zero scale). The result does not share memory with data.
func ParseQuantized(data []byte) (Quantized, error) {
	if len(data) < 5 {
		return Quantized{}, fmt.Errorf("%w: %d bytes, want at least 5", ErrCorrupt, len(data))
	}
	q := Quantized{
		Scale:  math.Float32frombits(binary.LittleEndian.Uint32(data)),
		Values: make([]int8, len(data)-4),
	}
	for i, c := range data[4:] {
		q.Values[i] = int8(c)
	}
	if err := q.check(); err != nil {
		return Quantized{}, err
	}
	return q, nil
}

// check verifies the invariants of Quantize's output; its errors wrap ErrCorrupt.
func (q Quantized) check() error {
	if len(q.Values) == 0 {
		return fmt.Errorf("%w: no values", ErrCorrupt)
	}
	s := float64(q.Scale)
	if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
		return fmt.Errorf("%w: scale %v", ErrCorrupt, q.Scale)
	}
	peak := 0
	for i, x := range q.Values {
		if x == -128 {
			return fmt.Errorf("%w: value %d is -128", ErrCorrupt, i)
		}
		peak = max(peak, int(x), -int(x))
	}
	switch {
	case s == 0 && peak != 0:
		return fmt.Errorf("%w: scale 0 with non-zero values", ErrCorrupt)
	case s > 0 && peak != 127:
		return fmt.Errorf("%w: largest value %d, want 127", ErrCorrupt, peak)
	}
	return nil
}

// Dot returns the dot product of the vectors a and b stand for: for unit vectors, their
// cosine similarity, to within the quantization error (measured: at most 0.005 between
// conversation vectors of the sample corpus). Vectors of different lengths, which come from
// different embedders, have no similarity: Dot returns 0. The integer sum is exact.
func Dot(a, b Quantized) float32 {
	if len(a.Values) != len(b.Values) {
		return 0
	}
	var s int64
	bv := b.Values[:len(a.Values)]
	for i, x := range a.Values {
		s += int64(x) * int64(bv[i])
	}
	return float32(float64(a.Scale) * float64(b.Scale) * float64(s))
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
