package neardup

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Report measures LSH with verification (Index.Groups) against exact Jaccard similarity over
// all pairs of a set of sequences. It is pair-level: a pair of sequences is true when the exact
// Jaccard similarity of their shingle sets is at least Threshold, found when Groups put both in
// the same group. Because groups are connected components, found pairs include pairs joined
// only through a chain of near-duplicates; Verified counts the pairs whose signatures were
// compared and matched, the edges of those chains.
type Report struct {
	Params Params
	// Docs is the number of sequences evaluated; Empty of them were empty (and pair with none).
	Docs, Empty int
	// TruePairs is the number of pairs of exact Jaccard similarity >= Threshold.
	TruePairs int
	// FoundPairs is the number of pairs in the same group; Correct of them are true pairs.
	FoundPairs, Correct int
	// Precision is Correct/FoundPairs (1 when nothing was found), Recall is Correct/TruePairs
	// (1 when there are no true pairs).
	Precision, Recall float64
	// Groups is the number of groups, Grouped the number of sequences in them.
	Groups, Grouped int
	// Verified is the number of pairs joined because their signatures matched (estimated
	// Jaccard >= Threshold); VerifiedCorrect of them are true pairs.
	Verified, VerifiedCorrect int
	// Comparisons is the number of signature comparisons Groups made, to compare with the
	// Docs*(Docs-1)/2 of all pairs.
	Comparisons int
	// LowestFound is the least exact Jaccard similarity of a found pair (1 when none was found):
	// how far below the threshold the worst false positive is. HighestMissed is the greatest
	// exact Jaccard similarity of a true pair not found (0 when none was missed).
	LowestFound, HighestMissed float64
	// FirmPairs is the number of true pairs at least FirmMargin above the threshold, where the
	// estimate (standard deviation 0.035 at J = 0.8 with 128 hashes) rarely falls below it;
	// FirmCorrect of them were found, FirmRecall = FirmCorrect/FirmPairs (1 when there are none).
	FirmPairs, FirmCorrect int
	FirmRecall             float64
}

// FirmMargin is how far above the threshold a true pair counts in Report.FirmPairs.
const FirmMargin = 0.05

// Evaluate computes the signatures of docs with p, groups them with an Index at p.Threshold
// and compares the found pairs with the exact ones (see Report). The exact pairs are computed
// without approximation, over all pairs, with prefix filtering (a pair of Jaccard similarity
// >= t shares one of the rarest |x|-ceil(t|x|)+1 shingles of each side) to skip most pairs that
// cannot qualify; it is meant for evaluation sets of up to some thousands of sequences. Invalid
// p gives an error wrapping ErrInvalidParams.
func Evaluate(docs [][]int, p Params) (Report, error) {
	if err := p.Validate(); err != nil {
		return Report{}, err
	}
	r := Report{Params: p, Docs: len(docs), LowestFound: 1}
	x, err := NewIndex(p)
	if err != nil {
		return Report{}, err
	}
	var docOf []int32 // index position -> doc
	for d, tokens := range docs {
		if len(tokens) == 0 {
			r.Empty++
			continue
		}
		if err := x.Add(strconv.Itoa(d), NewSignature(tokens, p)); err != nil {
			return Report{}, err // cannot happen: keys are distinct, signatures of p
		}
		docOf = append(docOf, int32(d))
	}
	comps, st := x.groups(p.Threshold, true)
	r.Comparisons = st.comparisons
	r.Groups = len(comps)

	sets := exactSets(docs, p.Shingle)
	truth := truePairs(sets, p.Threshold)
	r.TruePairs = len(truth)

	compOf := make([]int32, len(docs)) // doc -> group number + 1, 0 when in none
	for g, members := range comps {
		for _, i := range members {
			compOf[docOf[i]] = int32(g) + 1
		}
	}
	for pair, j := range truth {
		firm := j >= p.Threshold+FirmMargin
		if firm {
			r.FirmPairs++
		}
		if c := compOf[pair[0]]; c != 0 && c == compOf[pair[1]] {
			if firm {
				r.FirmCorrect++
			}
		} else {
			r.HighestMissed = max(r.HighestMissed, j)
		}
	}
	for _, members := range comps {
		r.Grouped += len(members)
		for i, a := range members {
			for _, b := range members[i+1:] {
				da, db := docOf[a], docOf[b]
				r.FoundPairs++
				j, ok := truth[pairOf(da, db)]
				if ok {
					r.Correct++
				} else {
					j = jaccard(sets[da], sets[db])
				}
				r.LowestFound = min(r.LowestFound, j)
			}
		}
	}
	for _, e := range st.edges {
		r.Verified++
		if _, ok := truth[pairOf(docOf[e[0]], docOf[e[1]])]; ok {
			r.VerifiedCorrect++
		}
	}
	r.Precision, r.Recall = 1, 1
	if r.FoundPairs > 0 {
		r.Precision = float64(r.Correct) / float64(r.FoundPairs)
	}
	if r.TruePairs > 0 {
		r.Recall = float64(r.Correct) / float64(r.TruePairs)
	}
	r.FirmRecall = 1
	if r.FirmPairs > 0 {
		r.FirmRecall = float64(r.FirmCorrect) / float64(r.FirmPairs)
	}
	return r, nil
}

func pairOf(a, b int32) [2]int32 {
	if a > b {
		a, b = b, a
	}
	return [2]int32{a, b}
}

// exactSets returns the shingle set of each doc (nil for an empty one) as ascending shingle
// numbers. Shingles are numbered exactly (a dictionary of their ids, no hashing), rarest across
// docs first, so that a set's first elements are its rarest shingles.
func exactSets(docs [][]int, shingle int) [][]int32 {
	dict := make(map[string]int32)
	var freq []int32
	sets := make([][]int32, len(docs))
	for d, tokens := range docs {
		if len(tokens) == 0 {
			continue
		}
		var set []int32
		forShingles(tokens, shingle, func(key []byte) {
			id, ok := dict[string(key)]
			if !ok {
				id = int32(len(freq))
				dict[string(key)] = id
				freq = append(freq, 0)
			}
			set = append(set, id)
		})
		slices.Sort(set)
		set = slices.Compact(set)
		for _, id := range set {
			freq[id]++
		}
		sets[d] = set
	}
	order := make([]int32, len(freq))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(freq[a], freq[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	rank := make([]int32, len(freq))
	for r, id := range order {
		rank[id] = int32(r)
	}
	for _, set := range sets {
		for i, id := range set {
			set[i] = rank[id]
		}
		slices.Sort(set)
	}
	return sets
}

// truePairs returns every pair of sets of Jaccard similarity >= t, with that similarity. Sets
// are visited by ascending size; each is compared with the earlier ones (no larger, and at
// least t times its size, since J <= |small|/|large|) that share one of its prefix elements.
func truePairs(sets [][]int32, t float64) map[[2]int32]float64 {
	var order []int32
	maxID := int32(-1)
	for d, s := range sets {
		if len(s) > 0 {
			order = append(order, int32(d))
			maxID = max(maxID, s[len(s)-1])
		}
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(len(sets[a]), len(sets[b])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	postings := make([][]int32, maxID+1)
	seen := make([]int32, len(sets)) // doc -> stamp of the last probe that met it
	truth := make(map[[2]int32]float64)
	var cands []int32
	for _, x := range order {
		sx := sets[x]
		prefix := prefixLen(len(sx), t)
		minLen := t*float64(len(sx)) - 1e-9
		cands = cands[:0]
		for _, id := range sx[:prefix] {
			for _, y := range postings[id] {
				if seen[y] != x+1 && float64(len(sets[y])) >= minLen {
					seen[y] = x + 1
					cands = append(cands, y)
				}
			}
		}
		for _, y := range cands {
			if j := jaccard(sx, sets[y]); j >= t {
				truth[pairOf(x, y)] = j
			}
		}
		for _, id := range sx[:prefix] {
			postings[id] = append(postings[id], x)
		}
	}
	return truth
}

// prefixLen returns how many of a set's n first elements any set of Jaccard similarity >= t
// with it must share one of: n - ceil(t*n) + 1, rounded up to be safe against floating point.
func prefixLen(n int, t float64) int {
	alpha := int(math.Ceil(t*float64(n) - 1e-9))
	return min(max(n-alpha+1, 1), n)
}

// jaccard returns the Jaccard similarity of two ascending sets, not both empty.
func jaccard(a, b []int32) float64 {
	inter := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			inter++
			i++
			j++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// editVocab is the range new token ids of NearDuplicate are drawn from: the ordinary tokens of
// cl100k_base.
const editVocab = 100256

// NearDuplicate returns a copy of tokens with edits single-token edits at positions drawn
// from rng: each a substitution (by another id), an insertion or a deletion, equally likely;
// new ids are drawn from [0, 100256), the ordinary ids of cl100k_base. It generates
// near-duplicates with known edits for evaluation: one edit changes at most Shingle shingles
// (a substitution, Shingle out and Shingle in). tokens is not modified; rng must not be nil.
func NearDuplicate(tokens []int, edits int, rng *rand.Rand) []int {
	out := slices.Clone(tokens)
	for range edits {
		op := rng.IntN(3)
		if len(out) == 0 {
			op = 1 // only an insertion is possible
		}
		switch op {
		case 0:
			i := rng.IntN(len(out))
			id := rng.IntN(editVocab - 1)
			if id >= out[i] && out[i] >= 0 && out[i] < editVocab {
				id++ // another id than the one replaced
			}
			out[i] = id
		case 1:
			out = slices.Insert(out, rng.IntN(len(out)+1), rng.IntN(editVocab))
		default:
			i := rng.IntN(len(out))
			out = slices.Delete(out, i, i+1)
		}
	}
	return out
}
