package vault

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/objstore"
)

// BenchmarkStoreBatchSketches stores 1,000 conversations of a corpus with one StoreBatch into
// a fresh in-memory store, without and with sketches, and reports conversations stored per
// second and the catalog bytes per conversation: what sketches cost at store time.
//
//	go test -run '^$' -bench StoreBatchSketches -benchtime 5x ./vault/
func BenchmarkStoreBatchSketches(b *testing.B) {
	for _, name := range []string{"api-replay.jsonl.gz", "chat/hh-rlhf.jsonl.gz"} {
		convs, _ := readCorpus(b, corpus.Path(b, name), 1)
		convs = convs[:min(len(convs), 1000)]
		for _, sketches := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/Sketches=%v", name, sketches), func(b *testing.B) {
				ctx := context.Background()
				var catalogBytes int64
				for range b.N {
					b.StopTimer()
					v, bucket, _ := newMemVault(b, Options{Sketches: sketches})
					b.StartTimer()
					if _, errs := v.StoreBatch(ctx, convs); errors.Join(errs...) != nil {
						b.Fatal(errors.Join(errs...))
					}
					b.StopTimer()
					catalogBytes = 0
					err := bucket.List(ctx, catalog.FilePrefix, func(a objstore.Attrs) error { catalogBytes += a.Size; return nil })
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(len(convs)*b.N)/b.Elapsed().Seconds(), "conversations/s")
				b.ReportMetric(float64(catalogBytes)/float64(len(convs)), "catalog_bytes/conversation")
			})
		}
	}
}
