package neardup

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// maxLeaders bounds, within one bucket, the members that the others are compared with (see
// Index.Groups).
const maxLeaders = 16

// Index finds groups of near-duplicates among signatures by LSH banding. Its memory is linear
// in the number of signatures: the signatures' values (4*Hashes bytes each), the keys (twice:
// in order and in a set), and during Groups about 45 bytes per signature (two 16-byte entries
// for sorting, a union-find parent, a flag, a group number).
//
// An Index is not safe for concurrent use: Add must not run concurrently with anything else;
// Groups may run concurrently with Groups.
type Index struct {
	p    Params
	keys []string
	seen map[string]struct{}
	mins []uint32 // Hashes values per signature, in the order of keys
}

// NewIndex returns an empty index for signatures computed with p (Shingle and Hashes must be
// theirs); p.Bands sets the banding. Invalid p gives an error wrapping ErrInvalidParams.
func NewIndex(p Params) (*Index, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Index{p: p, seen: make(map[string]struct{})}, nil
}

// Params returns the parameters the index was made with.
func (x *Index) Params() Params { return x.p }

// Len returns the number of signatures held (empty signatures are not held).
func (x *Index) Len() int { return len(x.keys) }

// Add adds the signature s of the conversation named key. Each key may be added once (an error
// wrapping ErrDuplicateKey otherwise). A signature of other Shingle or Hashes than the index's
// gives an error wrapping ErrMismatch. The empty signature (of an empty conversation) is
// accepted and ignored: it belongs to no group.
func (x *Index) Add(key string, s Signature) error {
	if _, ok := x.seen[key]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateKey, key)
	}
	if s.Empty() {
		x.seen[key] = struct{}{}
		return nil
	}
	if s.shingle != x.p.Shingle || len(s.mins) != x.p.Hashes {
		return fmt.Errorf("%w: signature of %d-token shingles and %d hashes, index of %d and %d",
			ErrMismatch, s.shingle, len(s.mins), x.p.Shingle, x.p.Hashes)
	}
	if len(x.keys) >= math.MaxInt32 {
		return errors.New("neardup: index full")
	}
	x.seen[key] = struct{}{}
	x.keys = append(x.keys, key)
	x.mins = append(x.mins, s.mins...)
	return nil
}

// Groups returns the groups of near-duplicates: the connected components of the pairs whose
// estimated Jaccard similarity (Similarity) is at least threshold, among the candidate pairs
// that share a band. Each group holds two or more keys, sorted; groups come largest first,
// then by first key. A threshold outside (0, 1] gives an error wrapping ErrInvalidParams.
//
// Being connected components, groups are transitive: a chain of conversations, each a
// near-duplicate of the next (as the growing prefixes of one conversation are), is one group
// even where its ends are less similar than threshold.
//
// Banding finds pairs of similarity J with probability 1-(1-J^r)^b (see DefaultParams), so a
// threshold well below the S-curve's midpoint (1/b)^(1/r), 0.707 with the defaults, loses
// pairs: the banding is fixed when signatures are computed, the threshold is not.
//
// Work is bounded whatever the corpus. Signatures that are exactly equal are joined first and
// only one of them is banded, so 10,000 identical conversations (say, the same system prompt
// alone) cost a sort and one comparison each with the first. Within a band's bucket, members are not compared pairwise: each is compared only with
// the bucket's leaders, the members that matched no earlier leader, at most maxLeaders (16)
// of them, and not with a leader already in its group. A bucket of k members thus costs at most
// 16k comparisons. A near-duplicate pair that shares a bucket but is not found through its
// leaders is usually found in another band, where it shares a smaller bucket. The result is
// deterministic for the same signatures added in the same order.
func (x *Index) Groups(threshold float64) ([][]string, error) {
	if err := validThreshold(threshold); err != nil {
		return nil, err
	}
	comps, _ := x.groups(threshold, false)
	out := make([][]string, len(comps))
	for g, members := range comps {
		keys := make([]string, len(members))
		for j, i := range members {
			keys[j] = x.keys[i]
		}
		slices.Sort(keys)
		out[g] = keys
	}
	slices.SortFunc(out, func(a, b []string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return cmp.Compare(a[0], b[0])
	})
	return out, nil
}

// groupStats describes the work of one groups call.
type groupStats struct {
	comparisons int        // signature comparisons (verifications of candidates)
	edges       [][2]int32 // pairs joined because their signatures matched (when asked for)
}

// entry is a signature's hash (of one band, or of all its values) and its index.
type entry struct {
	h uint64
	i int32
}

// sortEntries sorts ents by h, keeping the order of equal ones (an LSD radix sort, stable, in
// 8 passes of one byte), using tmp (of the same length) as scratch.
func sortEntries(ents, tmp []entry) {
	if len(ents) < 2 {
		return
	}
	var count [256]int
	src, dst := ents, tmp[:len(ents)]
	for shift := uint(0); shift < 64; shift += 8 {
		clear(count[:])
		for _, e := range src {
			count[byte(e.h>>shift)]++
		}
		if count[byte(src[0].h>>shift)] == len(src) {
			continue // one value of this byte: the order stays
		}
		pos := 0
		for d, c := range count {
			count[d] = pos
			pos += c
		}
		for _, e := range src {
			d := byte(e.h >> shift)
			dst[count[d]] = e
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &ents[0] {
		copy(ents, src)
	}
}

// groups returns the components of two or more signatures (indices, ascending within each, in
// order of their smallest index) and what it took; threshold is valid.
func (x *Index) groups(threshold float64, wantEdges bool) ([][]int32, groupStats) {
	var st groupStats
	n, h := len(x.keys), x.p.Hashes
	rows := x.p.Rows()
	need := needMatches(threshold, h)
	sig := func(i int32) []uint32 { return x.mins[int(i)*h : int(i+1)*h] }
	uf := make(unionFind, n)
	for i := range uf {
		uf[i] = int32(i)
	}
	join := func(a, b int32) {
		if uf.union(a, b) && wantEdges {
			st.edges = append(st.edges, [2]int32{a, b})
		}
	}

	// Exactly equal signatures: join them, band only the first.
	ents, tmp := make([]entry, 0, n), make([]entry, n)
	for i := range int32(n) {
		ents = append(ents, entry{hashValues(0, sig(i)), i})
	}
	sortEntries(ents, tmp)
	copies := make([]bool, n) // equal to an earlier signature, joined with it, not banded
	for _, run := range runs(ents) {
		first := run[0].i
		for _, e := range run[1:] {
			// Unequal signatures here are a 64-bit collision: band them like any other.
			if slices.Equal(sig(first), sig(e.i)) {
				join(first, e.i)
				copies[e.i] = true
			}
		}
	}

	leaders := make([]int32, 0, maxLeaders)
	for band := range x.p.Bands {
		ents = ents[:0]
		for i := range int32(n) {
			if !copies[i] {
				ents = append(ents, entry{hashValues(uint64(band)+1, sig(i)[band*rows:(band+1)*rows]), i})
			}
		}
		sortEntries(ents, tmp)
		for _, run := range runs(ents) {
			leaders = leaders[:0]
			for _, e := range run {
				m := e.i
				placed := false
				for _, l := range leaders {
					if uf.find(m) == uf.find(l) {
						placed = true
						continue
					}
					st.comparisons++
					if similar(sig(m), sig(l), need) {
						join(l, m)
						placed = true
					}
				}
				if !placed && len(leaders) < maxLeaders {
					leaders = append(leaders, m)
				}
			}
		}
	}

	// Components of two or more, in order of their smallest member.
	comp := make([]int32, n) // root -> component number + 1
	var comps [][]int32
	for i := range int32(n) {
		r := uf.find(i) // r <= i: a root is its component's smallest member
		if r == i {
			continue
		}
		if comp[r] == 0 {
			comps = append(comps, []int32{r})
			comp[r] = int32(len(comps))
		}
		comps[comp[r]-1] = append(comps[comp[r]-1], i)
	}
	return comps, st
}

// runs returns the runs of entries with equal h, of two or more entries.
func runs(ents []entry) [][]entry {
	var out [][]entry
	for start := 0; start < len(ents); {
		end := start + 1
		for end < len(ents) && ents[end].h == ents[start].h {
			end++
		}
		if end-start > 1 {
			out = append(out, ents[start:end])
		}
		start = end
	}
	return out
}

// needMatches returns the least number m of equal values among h for which m/h >= threshold,
// computed as Similarity computes it.
func needMatches(threshold float64, h int) int {
	m := int(math.Ceil(threshold * float64(h)))
	for m > 0 && float64(m-1)/float64(h) >= threshold {
		m--
	}
	for m <= h && float64(m)/float64(h) < threshold {
		m++
	}
	return m
}

// similar reports whether a and b (of equal length) agree in at least need positions, giving
// up as soon as they cannot.
func similar(a, b []uint32, need int) bool {
	allowed := len(a) - need
	b = b[:len(a)]
	for i, v := range a {
		if b[i] != v {
			allowed--
			if allowed < 0 {
				return false
			}
		}
	}
	return true
}

// hashValues hashes a run of signature values with a seed (the band number, 0 for a whole
// signature).
func hashValues(seed uint64, v []uint32) uint64 {
	h := seed*k2 ^ shingleSeed
	for _, x := range v {
		h = (h ^ uint64(x)) * k1
		h ^= h >> 32
	}
	return avalanche(h)
}

// unionFind is a disjoint-set forest: parent pointers, a root is its own parent. A union makes
// the smaller root the parent, so a component's root is its smallest member.
type unionFind []int32

func (u unionFind) find(i int32) int32 {
	for u[i] != i {
		u[i] = u[u[i]] // path halving
		i = u[i]
	}
	return i
}

// union joins the sets of a and b and reports whether they were apart.
func (u unionFind) union(a, b int32) bool {
	ra, rb := u.find(a), u.find(b)
	switch {
	case ra == rb:
		return false
	case ra < rb:
		u[rb] = ra
	default:
		u[ra] = rb
	}
	return true
}
