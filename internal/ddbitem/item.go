package ddbitem

import (
	"github.com/stowken/stowken/cost"
)

// Item is a DynamoDB item: attribute name to value.
type Item map[string]Value

// Value is a DynamoDB attribute value: S, N, B, Bool, Null, M, L, SS, NS or BS.
type Value interface {
	size() int
}

// The attribute value types, one per DynamoDB type.
type (
	// S is a string.
	S string
	// N is a number, in decimal.
	N string
	// B is binary.
	B []byte
	// Bool is a boolean.
	Bool bool
	// Null is the null value.
	Null struct{}
	// M is a map.
	M map[string]Value
	// L is a list.
	L []Value
	// SS, NS and BS are string, number and binary sets.
	SS []string
	NS []string
	BS [][]byte
)

func (v S) size() int  { return len(v) }
func (v N) size() int  { return cost.NumberSize(string(v)) }
func (v B) size() int  { return len(v) }
func (Bool) size() int { return 1 }
func (Null) size() int { return 1 }
func (v SS) size() int { return sumLen(v) }
func (v BS) size() int { return sumLen(v) }
func (v NS) size() int {
	n := 0
	for _, s := range v {
		n += cost.NumberSize(s)
	}
	return n
}

func (v M) size() int {
	n := cost.DocumentOverheadBytes
	for name, e := range v {
		n += cost.ElementOverheadBytes + len(name) + e.size()
	}
	return n
}

func (v L) size() int {
	n := cost.DocumentOverheadBytes
	for _, e := range v {
		n += cost.ElementOverheadBytes + e.size()
	}
	return n
}

// sumLen is the total length of a string or binary set's elements.
func sumLen[T string | []byte](xs []T) int {
	n := 0
	for _, x := range xs {
		n += len(x)
	}
	return n
}

// Size is the size of it as DynamoDB counts it (see the package documentation).
func Size(it Item) int {
	n := 0
	for name, v := range it {
		n += len(name) + v.size()
	}
	return n
}

// WriteUnits is what writing it costs in write request units (cost.WriteUnits of its size).
func WriteUnits(it Item) float64 {
	return cost.WriteUnits(Size(it))
}

// StoredBytes is what keeping it is billed for: its size and cost.ItemOverheadBytes
// (cost.StoredBytes).
func StoredBytes(it Item) int {
	return cost.StoredBytes(Size(it), 0)
}
