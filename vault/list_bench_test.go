package vault

import (
	"context"
	"sync"
	"testing"

	"github.com/stowken/stowken/catalog"
	catmem "github.com/stowken/stowken/catalog/mem"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/objstore"
	objmem "github.com/stowken/stowken/objstore/mem"
	refmem "github.com/stowken/stowken/refcount/mem"
)

// The listing benchmarks run over one in-memory store holding the whole API replay corpus
// (20,000 requests), built once: listing a page of 100 from the catalog against reading every
// manifest, which is what listing costs without a catalog. Each reports the requests one
// operation makes (s3_gets/op, s3_lists/op), the cost that dominates on S3.
//
//	go test -run '^$' -bench 'ListPage|EveryManifest' -benchtime 20x ./vault/
var listBench struct {
	once sync.Once
	v    *Vault
}

func listBenchVault(b *testing.B) *Vault {
	listBench.once.Do(func() {
		// Not newMemVault: the store outlives the benchmark that builds it.
		v, err := New(context.Background(), Options{Bucket: objmem.New(), Refs: refmem.New(), Catalog: catmem.New()})
		if err != nil {
			b.Fatal(err)
		}
		convs, _ := readCorpus(b, corpus.Path(b, "api-replay.jsonl.gz"), 1)
		storeAll(b, v, convs)
		listBench.v = v
	})
	if listBench.v == nil {
		b.Fatal("the store could not be built")
	}
	return listBench.v
}

func reportRequests(b *testing.B, v *Vault, before cost.Usage) {
	r := v.Usage().Sub(before)
	b.ReportMetric(r.S3GetClass/float64(b.N), "s3_get_class/op")
	b.ReportMetric(r.S3PutClass/float64(b.N), "s3_put_class/op")
	b.ReportMetric(r.DDBRRU/float64(b.N), "ddb_rru/op")
}

// BenchmarkListPage lists the newest 100 conversations of one application from the catalog.
func BenchmarkListPage(b *testing.B) {
	v := listBenchVault(b)
	ctx := context.Background()
	before := v.Usage()
	b.ResetTimer()
	for range b.N {
		page, err := v.List(ctx, catalog.Query{Application: "tau-bench", Limit: 100})
		if err != nil || len(page.Entries) != 100 {
			b.Fatalf("%d entries, %v", len(page.Entries), err)
		}
	}
	reportRequests(b, v, before)
}

// BenchmarkReadEveryManifest reads and decodes every manifest, as listing did before the
// catalog (and as filtering by anything would without it).
func BenchmarkReadEveryManifest(b *testing.B) {
	v := listBenchVault(b)
	ctx := context.Background()
	before := v.Usage()
	b.ResetTimer()
	for range b.N {
		var keys []string
		err := v.bucket.List(ctx, manifest.Prefix, func(a objstore.Attrs) error {
			keys = append(keys, a.Key)
			return nil
		})
		if err == nil {
			err = forEach(ctx, len(keys), v.concurrency, func(ctx context.Context, i int) error {
				_, _, err := v.readManifestKey(ctx, keys[i])
				return err
			})
		}
		if err != nil || len(keys) != 20000 {
			b.Fatalf("%d manifests, %v", len(keys), err)
		}
	}
	reportRequests(b, v, before)
}
