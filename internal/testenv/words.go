package testenv

import (
	"fmt"
	"strings"
)

// Words returns n pseudo-random words ("w1234"), deterministic for seed: text whose pieces
// tests can predict, about three tokens a word.
func Words(seed, n int) string {
	var sb strings.Builder
	x := uint64(seed)*0x9e3779b97f4a7c15 + 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		fmt.Fprintf(&sb, "w%d ", x%5000)
	}
	return sb.String()
}
