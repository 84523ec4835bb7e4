// Package neardup finds near-duplicate conversations (issue 16), as training-data deduplication
// does: a conversation's token ids are cut into shingles (every window of Shingle consecutive
// ids), two conversations are near-duplicates when the Jaccard similarity of their shingle sets
// is at least Threshold, and that similarity is estimated from MinHash signatures (Signature,
// NewSignature, Similarity). An Index finds the pairs without comparing all pairs: LSH banding
// makes candidates of signatures that agree on a whole band, each candidate is verified by its
// estimated similarity, and the groups are the connected components of the verified pairs
// (Index.Groups). Evaluate measures all of it against exact Jaccard similarity (Exact), pair by
// pair; NearDuplicate makes near-duplicates with known edits to evaluate on.
//
// The package knows nothing of storage or of conversations: it takes token ids. Signatures are
// meant to be computed at store time and kept per batch; their binary form (AppendBinary,
// ParseSignature) is versioned, and the hashing behind them is fixed by that version.
//
// # Parameters
//
// DefaultParams: shingles of 5 tokens, 128 hashes in 16 bands of 8 rows, threshold 0.8 (its
// doc comment has the arithmetic of the banding). All are configurable (Params); Shingle and
// Hashes are fixed once signatures are stored, the threshold is given to each Groups call.
//
// # Cost
//
// Space: 516 bytes per conversation with the defaults (4 bytes per hash and a 4-byte header;
// MinHash values are random, compression does not shrink them). An Index holds 512 bytes per
// signature plus its key, and Groups needs about 45 bytes more per signature while it runs.
//
// Time, on one core of the 2-core development machine (go test -bench . ./neardup/):
// NewSignature hashes about 15 million tokens per second (65 µs for 1,000 tokens), one
// 64-bit shingle hash per token and 128 multiply-adds per distinct consecutive shingle.
// Groups handles about 1.4 million signatures per second (70 ms for 100,000): per band a radix
// sort of 16-byte entries, then a verification per candidate. Exactly equal signatures and huge
// buckets are bounded (see Index.Groups): no input makes it quadratic.
//
// # Precision and recall
//
// Measured pair by pair against exact Jaccard similarity at 0.8 with the defaults, by
//
//	go test ./neardup/ -run 'Generated|Corpus' -v
//
// which logs, for each set, precision and recall of the pairs put in the same group, the
// precision of the verified pairs (those whose signatures matched) and the number of
// comparisons made:
//
//   - Generated near-duplicates (TestGenerated): 200 random sequences of 300-2,000 tokens with 3
//     copies each of 1-5 single-token edits, among 400 unrelated ones: precision 0.997, recall
//     1.000 (1,196 true pairs; the 4 false ones are copies joined through their base).
//   - Generated, by number of edits per copy of a 1,000-token sequence (TestGeneratedEdits): 10
//     edits (copies 0.91 similar to the base): precision and recall 1.000; 15 edits (0.87):
//     recall 0.995; 20 edits (0.84): recall 0.835. Verified pairs stay 0.995-1.000 precise, but
//     from 15 edits on the two copies of a base (0.77 similar) share its group: group pair
//     precision 0.67-0.71.
//   - sample.jsonl (300 conversations): its single near-duplicate pair is found, nothing else.
//   - hh-rlhf, first 2,000 conversations (chosen and rejected replies): precision 0.843, recall
//     0.852 over 101 true pairs, half of them between 0.80 and 0.85; recall of the pairs at 0.85
//     or more 0.981. Misses and false pairs are all close to the threshold (lowest found 0.757,
//     highest missed 0.854): the estimate's noise, sqrt(J(1-J)/128) = 0.035 at 0.8.
//   - api-replay, first 2,000 requests (growing prefixes of the same conversations): recall
//     0.984 over 9,175 true pairs (0.995 at 0.85 or more), verified pairs 0.910 precise, but
//     group pair precision 0.343: a conversation's requests chain into one group whose first and
//     last request are far apart, and conversations that share a long system prompt are
//     near-duplicates of each other. Without system messages: precision 0.670, recall 0.944.
//
// In every set Groups compared fewer than 1 pair in 500 of all pairs.
//
// So detection is as good as the estimate allows: pairs clearly above the threshold are found
// (recall 0.98-1.00), and errors sit within a few hundredths of it. Groups, being transitive,
// can hold pairs well below the threshold when near-duplicates form chains: group members are
// each a near-duplicate of another member, not necessarily of every member.
package neardup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

var (
	// ErrInvalidParams is wrapped by the errors of Params.Validate, NewIndex, Index.Groups and
	// Evaluate for parameters out of range.
	ErrInvalidParams = errors.New("neardup: invalid parameters")
	// ErrCorrupt is wrapped by the errors of ParseSignature for bytes that are not a signature.
	ErrCorrupt = errors.New("neardup: corrupt signature")
	// ErrMismatch is wrapped by the error of Index.Add for a signature computed with other
	// parameters (shingle length or number of hashes) than the index's.
	ErrMismatch = errors.New("neardup: signature does not match the index parameters")
	// ErrDuplicateKey is wrapped by the error of Index.Add for a key added before.
	ErrDuplicateKey = errors.New("neardup: duplicate key")
)

// Limits on Params.
const (
	// MaxShingle is the longest shingle, in tokens.
	MaxShingle = 64
	// MaxHashes is the largest number of MinHash values in a signature.
	MaxHashes = 1024
)

// Params are the parameters of signatures and of the LSH index. Shingle and Hashes are fixed
// when signatures are computed (signatures of different Params cannot be compared); Bands is
// used by the index, Threshold by Index.Groups' callers and by Evaluate.
type Params struct {
	// Shingle is the number of consecutive token ids in a shingle (1..MaxShingle).
	Shingle int
	// Hashes is the number of MinHash values in a signature (1..MaxHashes).
	Hashes int
	// Bands is the number of LSH bands; it must divide Hashes. Each band holds Hashes/Bands
	// rows (signature values); two signatures are a candidate pair when all rows of at least
	// one band are equal.
	Bands int
	// Threshold is the Jaccard similarity (0 < Threshold <= 1) at or above which two
	// conversations are near-duplicates.
	Threshold float64
}

// DefaultParams returns the defaults: shingles of 5 tokens, 128 hashes in 16 bands of 8 rows,
// threshold 0.8.
//
// Shingles of 5 tokens and a Jaccard threshold of 0.8 are what training-data deduplication
// uses (about one English word per token, so a shingle is a short phrase).
//
// A pair of Jaccard similarity J becomes a candidate with probability 1-(1-J^r)^b for b bands of
// r rows. The S-curve's midpoint is near (1/b)^(1/r): with 16 bands of 8 rows it is
// (1/16)^(1/8) = 0.707, a bit below 0.8, so pairs at the threshold are nearly always candidates
// while pairs well below it rarely are (each candidate costs one verification):
//
//	J = 0.5: 1-(1-0.5^8)^16 = 1-0.9961^16 = 0.061
//	J = 0.7: 1-(1-0.7^8)^16 = 1-0.9424^16 = 0.613
//	J = 0.8: 1-(1-0.8^8)^16 = 1-0.8322^16 = 0.947
//	J = 0.85: 1-(1-0.85^8)^16 = 1-0.7275^16 = 0.994
//	J = 0.9: 1-(1-0.9^8)^16 = 1-0.5695^16 = 0.99988
//
// A candidate is then kept when its estimated Jaccard (the fraction of equal signature values)
// is at least the threshold; with 128 hashes the estimate's standard deviation is
// sqrt(J(1-J)/128): 0.035 at J = 0.8, 0.027 at J = 0.9. So what is lost near the threshold is
// lost mostly to the estimate, not to banding: a pair at exactly J = 0.8 is kept about half of
// the time, a pair at J = 0.9 nearly always. More hashes would sharpen the estimate at 4 bytes
// each per conversation; 128 keeps a signature at 516 bytes. 14 bands of 8 (112 hashes, 452
// bytes) would put the midpoint at 0.719 and make a pair at 0.8 a candidate with probability
// 1-0.8322^14 = 0.924 only; 32 bands of 4 would make candidates of nearly all pairs at J = 0.6
// (1-(1-0.6^4)^32 = 0.99), each a comparison for nothing.
func DefaultParams() Params {
	return Params{Shingle: 5, Hashes: 128, Bands: 16, Threshold: 0.8}
}

// Rows returns the number of signature values per band, Hashes/Bands.
func (p Params) Rows() int {
	if p.Bands <= 0 {
		return 0
	}
	return p.Hashes / p.Bands
}

// Validate reports whether p is usable: an error wrapping ErrInvalidParams names the first
// field out of range.
func (p Params) Validate() error {
	switch {
	case p.Shingle < 1 || p.Shingle > MaxShingle:
		return fmt.Errorf("%w: shingle %d tokens, want 1..%d", ErrInvalidParams, p.Shingle, MaxShingle)
	case p.Hashes < 1 || p.Hashes > MaxHashes:
		return fmt.Errorf("%w: %d hashes, want 1..%d", ErrInvalidParams, p.Hashes, MaxHashes)
	case p.Bands < 1 || p.Bands > p.Hashes || p.Hashes%p.Bands != 0:
		return fmt.Errorf("%w: %d bands, want a divisor of the %d hashes", ErrInvalidParams, p.Bands, p.Hashes)
	}
	return validThreshold(p.Threshold)
}

func validThreshold(t float64) error {
	if !(t > 0 && t <= 1) { // also refuses NaN
		return fmt.Errorf("%w: threshold %v, want 0 < threshold <= 1", ErrInvalidParams, t)
	}
	return nil
}

// Signature is the MinHash signature of a token-id sequence: for each of Hashes hash
// functions, the smallest hash value over the sequence's shingles. Two signatures agree at a
// position with probability equal to the Jaccard similarity of the two shingle sets, so the
// fraction of equal positions (Similarity) estimates it.
//
// The shingles of a sequence are all its windows of Shingle consecutive token ids; a sequence
// shorter than Shingle (but not empty) is a single shingle of all its ids, so it is similar
// only to the same short sequence. The empty sequence has no shingles: its signature is the
// empty signature (Empty reports true), which matches nothing, not even another empty
// signature, and which Index.Add ignores.
//
// The zero Signature is the empty signature. A Signature is immutable and safe to share.
type Signature struct {
	shingle int
	mins    []uint32
}

// Empty reports whether s is the empty signature, of an empty sequence (or of invalid Params).
func (s Signature) Empty() bool { return len(s.mins) == 0 }

// Hashes returns the number of values in s: Params.Hashes, or 0 for the empty signature.
func (s Signature) Hashes() int { return len(s.mins) }

// Shingle returns the shingle length s was computed with (0 for the zero Signature and for
// the signature of invalid Params).
func (s Signature) Shingle() int { return s.shingle }

// Equal reports whether s and o are the same signature.
func (s Signature) Equal(o Signature) bool {
	if s.shingle != o.shingle || len(s.mins) != len(o.mins) {
		return false
	}
	for i, v := range s.mins {
		if o.mins[i] != v {
			return false
		}
	}
	return true
}

// Hashing. Both functions are part of the stored format (signatures are kept per batch), so
// they and their constants must never change; a new scheme needs a new signatureVersion.
//
// A shingle is hashed to 64 bits by a multiply-xorshift chain over its ids (each step
// h = ((h ^ id) * k1) ^ >>32 is a bijection of h, so distinct shingles collide only by chance)
// and a final avalanche (the finaliser of SplitMix64). Hash function i is then the cheap
// permutation x -> a_i*x + b_i (mod 2^64) of that one 64-bit value, with odd a_i; its minimum
// over the shingles is kept as its top 32 bits (the top bits of a multiply-add are its
// well-mixed ones). Keeping 32 bits halves the signature; two different minima agree in their
// top 32 bits with probability about 2^-32, which biases the estimate by nothing measurable.
// The a_i and b_i are the outputs of SplitMix64 seeded with coefficientSeed, so the first k
// hash functions are the same whatever Hashes is.
const (
	signatureVersion = 1
	coefficientSeed  = 0x6e656172_64757031 // "neardup1"
	shingleSeed      = 0x9e3779b97f4a7c15
	k1               = 0xbf58476d1ce4e5b9
	k2               = 0x94d049bb133111eb
)

// coefficients holds a_i and b_i for every hash function.
var coefA, coefB = func() (a, b []uint64) {
	a = make([]uint64, MaxHashes)
	b = make([]uint64, MaxHashes)
	state := uint64(coefficientSeed)
	for i := range a {
		a[i] = splitmix(&state) | 1
		b[i] = splitmix(&state)
	}
	return a, b
}()

func splitmix(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	return avalanche(*state)
}

// avalanche is the SplitMix64 finaliser: every input bit flips about half of the output bits.
func avalanche(z uint64) uint64 {
	z = (z ^ (z >> 30)) * k1
	z = (z ^ (z >> 27)) * k2
	return z ^ (z >> 31)
}

// shingleHash is the 64-bit hash of one shingle.
func shingleHash(w []int) uint64 {
	h := uint64(shingleSeed) ^ uint64(len(w))
	for _, id := range w {
		h = (h ^ uint64(id)) * k1
		h ^= h >> 32
	}
	return avalanche(h)
}

// NewSignature computes the MinHash signature of tokens with p's Shingle and Hashes (Bands and
// Threshold are not used). It is deterministic: the same tokens and Params give the same
// signature on every run and machine. Token ids are hashed as given (any int is accepted).
// The empty sequence, and Params that do not Validate, give the empty signature.
//
// The cost is one shingle hash per token and Hashes multiply-adds per distinct consecutive
// shingle.
func NewSignature(tokens []int, p Params) Signature {
	if p.Validate() != nil {
		return Signature{}
	}
	if len(tokens) == 0 {
		return Signature{shingle: p.Shingle}
	}
	// Shingle hashes are taken in chunks of up to chunk distinct consecutive ones (a repeated
	// shingle, as in a run of one token, changes no minimum), and each hash function's minimum
	// is updated over a chunk with the minimum in registers: memory stays bounded whatever the
	// length, and the inner loop is a multiply-add and a min per shingle.
	const chunk = 2048
	mins := make([]uint64, p.Hashes)
	for i := range mins {
		mins[i] = math.MaxUint64
	}
	xs := make([]uint64, 0, chunk)
	n := max(len(tokens)-p.Shingle+1, 1)
	var prev uint64
	for s := range n {
		x := shingleHash(tokens[s:min(s+p.Shingle, len(tokens))])
		if s > 0 && x == prev {
			continue
		}
		prev = x
		xs = append(xs, x)
		if len(xs) == chunk {
			minHashes(mins, xs)
			xs = xs[:0]
		}
	}
	minHashes(mins, xs)
	out := make([]uint32, len(mins))
	for i, m := range mins {
		out[i] = uint32(m >> 32)
	}
	return Signature{shingle: p.Shingle, mins: out}
}

// minHashes lowers each mins[i] to the least a_i*x+b_i over xs.
func minHashes(mins, xs []uint64) {
	for i := range mins {
		a, b := coefA[i], coefB[i]
		m0, m1, m2, m3 := mins[i], uint64(math.MaxUint64), uint64(math.MaxUint64), uint64(math.MaxUint64)
		j := 0
		for ; j+3 < len(xs); j += 4 {
			q := xs[j : j+4 : j+4]
			m0 = min(m0, a*q[0]+b)
			m1 = min(m1, a*q[1]+b)
			m2 = min(m2, a*q[2]+b)
			m3 = min(m3, a*q[3]+b)
		}
		for ; j < len(xs); j++ {
			m0 = min(m0, a*xs[j]+b)
		}
		mins[i] = min(m0, m1, m2, m3)
	}
}

// Similarity returns the estimated Jaccard similarity of the shingle sets behind a and b: the
// fraction of positions where their values are equal. It is 0 when either is empty or when
// they were computed with different Shingle or Hashes (they are not comparable).
func Similarity(a, b Signature) float64 {
	if len(a.mins) == 0 || len(a.mins) != len(b.mins) || a.shingle != b.shingle {
		return 0
	}
	eq := 0
	bm := b.mins[:len(a.mins)]
	for i, v := range a.mins {
		if bm[i] == v {
			eq++
		}
	}
	return float64(eq) / float64(len(a.mins))
}

// Binary form, version 1:
//
//	byte     version (1)
//	uvarint  shingle length
//	uvarint  number of values (0 for the empty signature)
//	4 bytes  each value, little-endian
//
// With the default 128 hashes a signature takes 1+1+2+4*128 = 516 bytes, and that is what it
// adds per conversation (MinHash values are random: compression does not shrink them).

// EncodedLen returns the length of s's binary form: 4*Hashes + 4 bytes for 128..1024 hashes.
func (s Signature) EncodedLen() int {
	return 1 + uvarintLen(uint64(s.shingle)) + uvarintLen(uint64(len(s.mins))) + 4*len(s.mins)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// AppendBinary appends the binary form of s to b and returns the extended slice: a version
// byte, the shingle length and the number of values (uvarints), then each value as 4 bytes
// little-endian; 516 bytes with DefaultParams.
func (s Signature) AppendBinary(b []byte) []byte {
	b = append(b, signatureVersion)
	b = binary.AppendUvarint(b, uint64(s.shingle))
	b = binary.AppendUvarint(b, uint64(len(s.mins)))
	for _, v := range s.mins {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// ParseSignature reads a signature written by AppendBinary; b must hold exactly one signature.
// Bytes that are not one give an error wrapping ErrCorrupt. The signature does not keep b.
func ParseSignature(b []byte) (Signature, error) {
	if len(b) == 0 {
		return Signature{}, fmt.Errorf("%w: no bytes", ErrCorrupt)
	}
	if b[0] != signatureVersion {
		return Signature{}, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, b[0], signatureVersion)
	}
	rest := b[1:]
	shingle, n := binary.Uvarint(rest)
	if n <= 0 || n != uvarintLen(shingle) || shingle > MaxShingle {
		return Signature{}, fmt.Errorf("%w: bad shingle length", ErrCorrupt)
	}
	rest = rest[n:]
	hashes, n := binary.Uvarint(rest)
	if n <= 0 || n != uvarintLen(hashes) || hashes > MaxHashes || (hashes > 0 && shingle == 0) {
		return Signature{}, fmt.Errorf("%w: bad number of values", ErrCorrupt)
	}
	rest = rest[n:]
	if uint64(len(rest)) != 4*hashes {
		return Signature{}, fmt.Errorf("%w: %d bytes of values, want %d", ErrCorrupt, len(rest), 4*hashes)
	}
	s := Signature{shingle: int(shingle)}
	if hashes > 0 {
		s.mins = make([]uint32, hashes)
		for i := range s.mins {
			s.mins[i] = binary.LittleEndian.Uint32(rest[4*i:])
		}
	}
	return s, nil
}

// Exact returns the exact Jaccard similarity of the shingle sets of a and b (|A∩B| / |A∪B|),
// with the shingles of NewSignature: every window of shingle ids, or the whole sequence when
// it is shorter. It is 0 when either sequence is empty, matching Similarity of an empty
// signature. A shingle length below 1 is taken as 1. It builds a set of a's shingles, for
// evaluation and tests rather than for whole corpora (see Evaluate).
func Exact(a, b []int, shingle int) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	shingle = max(shingle, 1)
	setA := shingleSet(a, shingle)
	setB := shingleSet(b, shingle)
	inter := 0
	for k := range setB {
		if _, ok := setA[k]; ok {
			inter++
		}
	}
	return float64(inter) / float64(len(setA)+len(setB)-inter)
}

// shingleSet returns the distinct shingles of tokens, each as a string of 8 bytes per id (an
// injective key).
func shingleSet(tokens []int, shingle int) map[string]struct{} {
	set := make(map[string]struct{})
	forShingles(tokens, shingle, func(key []byte) {
		set[string(key)] = struct{}{}
	})
	return set
}

// forShingles calls fn with the key of every shingle of tokens (len(tokens) > 0), in order.
// fn must not keep key.
func forShingles(tokens []int, shingle int, fn func(key []byte)) {
	n := max(len(tokens)-shingle+1, 1)
	key := make([]byte, 0, 8*min(shingle, len(tokens)))
	for s := 0; s < n; s++ {
		key = key[:0]
		for _, id := range tokens[s:min(s+shingle, len(tokens))] {
			key = binary.LittleEndian.AppendUint64(key, uint64(id))
		}
		fn(key)
	}
}
