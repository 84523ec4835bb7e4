package cluster

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
)

func randomUnit(rnd *rand.Rand, d int) []float32 {
	v := make([]float32, d)
	for i := range v {
		v[i] = float32(rnd.NormFloat64())
	}
	return normalize(v)
}

func normalize(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(n))
	}
	return v
}

// blobs returns k groups of m unit vectors of d dimensions each: a random direction plus
// Gaussian noise of total length about noise, and the group of each vector.
func blobs(rnd *rand.Rand, k, m, d int, noise float64) ([][]float32, []int) {
	var vecs [][]float32
	var group []int
	for g := range k {
		center := randomUnit(rnd, d)
		for range m {
			v := make([]float32, d)
			for i := range v {
				v[i] = center[i] + float32(rnd.NormFloat64()*noise/math.Sqrt(float64(d)))
			}
			vecs = append(vecs, normalize(v))
			group = append(group, g)
		}
	}
	return vecs, group
}

// samePartition reports whether two labelings group the items alike, up to the names of groups.
func samePartition(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	ab, ba := map[int]int{}, map[int]int{}
	for i := range a {
		if x, ok := ab[a[i]]; ok && x != b[i] {
			return false
		}
		if y, ok := ba[b[i]]; ok && y != a[i] {
			return false
		}
		ab[a[i]], ba[b[i]] = b[i], a[i]
	}
	return true
}

func mustKMeans(t testing.TB, vecs [][]float32, p Params) Result {
	t.Helper()
	r, err := KMeans(vecs, p)
	if err != nil {
		t.Fatalf("KMeans: %v", err)
	}
	checkResult(t, vecs, r)
	return r
}

// checkResult verifies the invariants of a Result: unit centroids, distances to the own
// centroid, clusters numbered by size.
func checkResult(t testing.TB, vecs [][]float32, r Result) {
	t.Helper()
	if len(r.Assign) != len(vecs) || len(r.Distances) != len(vecs) {
		t.Fatalf("%d assignments, %d distances for %d vectors", len(r.Assign), len(r.Distances), len(vecs))
	}
	for k, c := range r.Centroids {
		var n float64
		for _, x := range c {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("centroid %d: squared norm %v", k, n)
		}
	}
	for i, v := range vecs {
		var cos, n float64
		for j, x := range v {
			cos += float64(x) * float64(r.Centroids[r.Assign[i]][j])
			n += float64(x) * float64(x)
		}
		if want := 1 - cos/math.Sqrt(n); math.Abs(want-float64(r.Distances[i])) > 1e-5 {
			t.Fatalf("vector %d: distance %v, want %v", i, r.Distances[i], want)
		}
	}
	sizes := r.Sizes()
	for k := 1; k < len(sizes); k++ {
		if sizes[k] > sizes[k-1] || sizes[k] == 0 {
			t.Errorf("sizes %v not by size, or an empty cluster", sizes)
		}
	}
}

func TestDefaultParams(t *testing.T) {
	if p := DefaultParams(); p != (Params{K: 8, MaxIter: 100, Seed: 0xC0FFEE}) {
		t.Errorf("DefaultParams = %+v", p)
	}
}

// TestBlobs: well-separated groups (cosine to their centre about 0.995) are recovered exactly,
// for every k and seed tried; groups with more noise (cosine about 0.96) are recovered in
// nearly all cases: the seeding is random, and k-means++ can put two seeds in one group.
func TestBlobs(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, noise := range []float64{0.1, 0.3} {
		var runs, exact int
		for _, k := range []int{1, 2, 5, 8, 12} {
			vecs, group := blobs(rnd, k, 60, 64, noise)
			for seed := range uint64(20) {
				p := DefaultParams()
				p.K, p.Seed = k, seed
				r := mustKMeans(t, vecs, p)
				runs++
				if samePartition(r.Assign, group) && len(r.Centroids) == k {
					exact++
				} else if noise < 0.2 {
					t.Errorf("noise %.1f k %d seed %d: groups not recovered (%d clusters, sizes %v)", noise, k, seed, len(r.Centroids), r.Sizes())
				}
				if noise < 0.2 && r.Iterations > 2 {
					t.Errorf("noise %.1f k %d seed %d: %d iterations", noise, k, seed, r.Iterations)
				}
			}
		}
		t.Logf("groups of 60 vectors of 64 dimensions, noise %.1f: recovered exactly in %d of %d runs (k 1, 2, 5, 8, 12; 20 seeds)", noise, exact, runs)
		if exact*100 < runs*95 {
			t.Errorf("noise %.1f: recovered in %d of %d runs", noise, exact, runs)
		}
	}
}

// TestDeterminism: the same input gives the same result, bit for bit; the input in another
// order gives the same result permuted, even on data without clusters (where seeding decides
// everything).
func TestDeterminism(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	vecs := make([][]float32, 500)
	for i := range vecs {
		vecs[i] = randomUnit(rnd, 16)
	}
	p := DefaultParams()
	p.K = 7
	r1 := mustKMeans(t, vecs, p)
	r2 := mustKMeans(t, vecs, p)
	if !reflect.DeepEqual(r1, r2) {
		t.Fatal("two runs differ")
	}
	perm := rnd.Perm(len(vecs))
	shuffled := make([][]float32, len(vecs))
	for i, j := range perm {
		shuffled[i] = vecs[j]
	}
	r3 := mustKMeans(t, shuffled, p)
	if !reflect.DeepEqual(r3.Centroids, r1.Centroids) || r3.Iterations != r1.Iterations {
		t.Fatal("centroids differ for the input in another order")
	}
	for i, j := range perm {
		if r3.Assign[i] != r1.Assign[j] || r3.Distances[i] != r1.Distances[j] {
			t.Fatalf("vector %d: assignment differs for the input in another order", j)
		}
	}
	p.Seed++
	if r4 := mustKMeans(t, vecs, p); reflect.DeepEqual(r4.Assign, r1.Assign) {
		t.Error("another seed gives the same clustering of random data")
	}
	t.Logf("500 random vectors of 16 dimensions, k 7: %d iterations, sizes %v", r1.Iterations, r1.Sizes())
}

// TestReseed: an empty cluster is reseeded with the farthest vector, and the run still
// recovers the groups. The initial centroids are forced: two on group 0 and one opposite to all
// groups, which no vector chooses, so that the first update finds it empty.
func TestReseed(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	vecs, group := blobs(rnd, 3, 50, 32, 0.2)
	x, err := prepare(vecs, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	mean := func(groups ...int) []float32 {
		m := make([]float32, 32)
		for i, v := range vecs {
			if slices.Contains(groups, group[i]) {
				for j := range m {
					m[j] += v[j]
				}
			}
		}
		return normalize(m)
	}
	c0, c1 := mean(0), mean(0)
	c1[0] += 0.01
	c2 := mean(0, 1, 2)
	for j := range c2 {
		c2[j] = -c2[j]
	}
	r := x.run([][]float32{c0, normalize(c1), c2}, 100)
	checkResult(t, vecs, r)
	if r.Reseeds == 0 {
		t.Fatal("no cluster was reseeded")
	}
	if !samePartition(r.Assign, group) {
		t.Errorf("groups not recovered after %d reseeds: sizes %v", r.Reseeds, r.Sizes())
	}
	t.Logf("%d reseeds, %d iterations", r.Reseeds, r.Iterations)
}

// TestFewDistinct: more clusters asked than there are distinct points gives one cluster per
// point; duplicates and scaled copies are one point.
func TestFewDistinct(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 10))
	var vecs [][]float32
	var group []int
	for g := range 3 {
		v := randomUnit(rnd, 8)
		for j := range 4 {
			w := slices.Clone(v)
			for i := range w {
				w[i] *= float32(j + 1) // the same direction
			}
			vecs = append(vecs, w)
			group = append(group, g)
		}
	}
	for _, k := range []int{3, 4, 8, 100} {
		p := DefaultParams()
		p.K = k
		r := mustKMeans(t, vecs, p)
		if len(r.Centroids) != 3 || !samePartition(r.Assign, group) {
			t.Errorf("k %d: %d clusters, sizes %v", k, len(r.Centroids), r.Sizes())
		}
		for i, d := range r.Distances {
			if d > 1e-5 {
				t.Errorf("k %d: vector %d at distance %v", k, i, d)
			}
		}
	}
	r := mustKMeans(t, [][]float32{{1, 0}}, DefaultParams())
	if len(r.Centroids) != 1 || r.Assign[0] != 0 || r.Distances[0] != 0 {
		t.Errorf("one vector: %+v", r)
	}
}

// TestOutliersTypical: vectors planted away from every group are the outliers; the typical
// members of a cluster are its own, closest first.
func TestOutliersTypical(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 12))
	vecs, _ := blobs(rnd, 8, 200, 64, 0.3)
	var planted []int
	for range 5 {
		planted = append(planted, len(vecs))
		vecs = append(vecs, randomUnit(rnd, 64))
	}
	r := mustKMeans(t, vecs, DefaultParams())
	out := Outliers(r, 5)
	if got := slices.Sorted(slices.Values(out)); !slices.Equal(got, planted) {
		t.Errorf("Outliers = %v, want %v", out, planted)
	}
	for i := 1; i < len(out); i++ {
		if r.Distances[out[i]] > r.Distances[out[i-1]] {
			t.Errorf("outliers not farthest first")
		}
	}
	if got := Outliers(r, 1<<20); len(got) != len(vecs) {
		t.Errorf("Outliers(all) = %d indices", len(got))
	}
	for c := range r.Centroids {
		typ := Typical(r, c, 10)
		if len(typ) != 10 {
			t.Fatalf("cluster %d: %d typical", c, len(typ))
		}
		for i, v := range typ {
			if r.Assign[v] != c || i > 0 && r.Distances[v] < r.Distances[typ[i-1]] || slices.Contains(planted, v) {
				t.Errorf("cluster %d: typical %v", c, typ)
			}
		}
	}
	if Typical(r, -1, 3) != nil || Typical(r, len(r.Centroids), 3) != nil || Typical(r, 0, 0) != nil || Outliers(r, 0) != nil {
		t.Error("bad arguments give results")
	}
	// Ties: equal distances come in index order.
	tied := Result{Assign: []int{0, 0, 0, 0}, Distances: []float32{0.5, 0.1, 0.5, 0.1}, Centroids: [][]float32{{1}}}
	if got := Outliers(tied, 4); !slices.Equal(got, []int{0, 2, 1, 3}) {
		t.Errorf("Outliers of ties = %v", got)
	}
	if got := Typical(tied, 0, 4); !slices.Equal(got, []int{1, 3, 0, 2}) {
		t.Errorf("Typical of ties = %v", got)
	}
}

func TestInvalid(t *testing.T) {
	nan := float32(math.NaN())
	cases := map[string]struct {
		vecs [][]float32
		p    Params
	}{
		"no vectors":     {nil, DefaultParams()},
		"K 0":            {[][]float32{{1}}, Params{K: 0, MaxIter: 1}},
		"MaxIter 0":      {[][]float32{{1}}, Params{K: 1, MaxIter: 0}},
		"no dimension":   {[][]float32{{}}, DefaultParams()},
		"mixed":          {[][]float32{{1, 0}, {1, 0, 0}}, DefaultParams()},
		"zero vector":    {[][]float32{{1, 0}, {0, 0}}, DefaultParams()},
		"NaN":            {[][]float32{{1, nan}}, DefaultParams()},
		"infinite":       {[][]float32{{float32(math.Inf(-1)), 0}}, DefaultParams()},
		"negative K":     {[][]float32{{1}}, Params{K: -3, MaxIter: 5}},
		"huge":           {[][]float32{{1, 0}, {1e30, 1}}, DefaultParams()},
		"tiny":           {[][]float32{{1, 0}, {1e-30, 0}}, DefaultParams()},
		"mixed at first": {[][]float32{{1}, {1, 0}}, DefaultParams()},
	}
	for name, c := range cases {
		if _, err := KMeans(c.vecs, c.p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: KMeans = %v, want ErrInvalid", name, err)
		}
	}
}

var bench struct {
	once           sync.Once
	blobs, uniform [][]float32
}

func benchData() {
	bench.once.Do(func() {
		rnd := rand.New(rand.NewPCG(13, 14))
		bench.blobs, _ = blobs(rnd, 8, 100_000/8, 256, 1)
		bench.uniform = make([][]float32, 100_000)
		for i := range bench.uniform {
			bench.uniform[i] = randomUnit(rnd, 256)
		}
	})
}

// BenchmarkKMeans: 100,000 vectors of 256 dimensions, k 8; "blobs" are 8 groups with noise as
// long as their centre (cosine to the centre about 0.7), "uniform" has no groups.
func BenchmarkKMeans(b *testing.B) {
	for _, tc := range []struct {
		name string
		vecs func() [][]float32
	}{
		{"blobs", func() [][]float32 { return bench.blobs }},
		{"uniform", func() [][]float32 { return bench.uniform }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchData()
			vecs := tc.vecs()
			var r Result
			for b.Loop() {
				var err error
				if r, err = KMeans(vecs, DefaultParams()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r.Iterations), "iterations")
		})
	}
}
