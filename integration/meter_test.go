package integration

import (
	"context"
	"errors"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	objmem "github.com/stowken/stowken/objstore/mem"
	"github.com/stowken/stowken/objstore/s3"
	"github.com/stowken/stowken/refcount/dynamodb"
	refmem "github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/vault"
)

// TestMeterMatchesWire holds the vault's own count of what its requests cost (vault.Usage) to
// what crosses the wire, measured by metering proxies between the vault and MinIO and dynalite
// (wiremeter_test.go), for each operation: Store, StoreBatch, Retrieve, List, Stats, Delete, GC
// and Verify. S3 requests must match by class exactly; DynamoDB units within 2% (the vault
// takes dynalite's reported units, the meter sizes the items itself).
func TestMeterMatchesWire(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	s3m := startWireMeter(t, st.S3Endpoint, nil)
	ddbm := startWireMeter(t, st.DynamoEndpoint, nil) // the table has no index

	// The vault's backends, through the meters.
	bu := *st.BucketURL
	q := bu.Query()
	q.Set("endpoint", s3m.URL())
	bu.RawQuery = q.Encode()
	tu := *st.TableURL
	tu.RawQuery = url.Values{"endpoint": {ddbm.URL()}}.Encode()
	b, err := s3.Open(ctx, &bu, st.s3Options())
	if err != nil {
		t.Fatal(err)
	}
	r, err := dynamodb.Open(ctx, &tu, st.refsOptions())
	if err != nil {
		t.Fatal(err)
	}
	cat := catparquet.New(b, catparquet.Options{})
	now := time.Now()
	v, err := vault.New(ctx, vault.Options{Bucket: b, Refs: r, Catalog: cat, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.UsageModelled() {
		t.Fatal("a vault on DynamoDB says its usage is modelled")
	}

	convs, _ := readCorpus(t, "api-replay.jsonl.gz", 60)
	check := func(op string, fn func() error) {
		t.Helper()
		s3m.Reset()
		ddbm.Reset()
		before := v.Usage()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		got, w3, wd := v.Usage().Sub(before), s3m.Snapshot(), ddbm.Snapshot()
		t.Logf("%-10s vault: S3 %v PUT-class, %v GET-class, %v DELETE; DynamoDB %v WRU, %v RRU | wire: S3 %v, %v, %v; DynamoDB %v WRU, %v RRU %v",
			op, got.S3PutClass, got.S3GetClass, got.S3Delete, got.DDBWRU, got.DDBRRU, w3.S3PutClass, w3.S3GetClass, w3.S3Delete, wd.DDBWRU, wd.DDBRRU, wd.DDBOps)
		if got.S3PutClass != w3.S3PutClass || got.S3GetClass != w3.S3GetClass || got.S3Delete != w3.S3Delete {
			t.Errorf("%s: the vault counts S3 %v PUT-class, %v GET-class, %v DELETE; the wire %v, %v, %v",
				op, got.S3PutClass, got.S3GetClass, got.S3Delete, w3.S3PutClass, w3.S3GetClass, w3.S3Delete)
		}
		near := func(a, b float64) bool { return math.Abs(a-b) <= 0.02*math.Max(a, b) }
		if !near(got.DDBWRU, wd.DDBWRU) || !near(got.DDBRRU, wd.DDBRRU) {
			t.Errorf("%s: the vault counts DynamoDB %v WRU, %v RRU; the wire %v, %v", op, got.DDBWRU, got.DDBRRU, wd.DDBWRU, wd.DDBRRU)
		}
		if w3.S3PutClass+w3.S3GetClass+w3.S3Delete+wd.DDBWRU+wd.DDBRRU == 0 {
			t.Errorf("%s: nothing crossed the wire", op)
		}
	}

	storeAll := func(v *vault.Vault) error {
		for _, c := range convs[:20] {
			if _, err := v.Store(ctx, c); err != nil {
				return err
			}
		}
		_, errs := v.StoreBatch(ctx, convs[20:])
		return errors.Join(errs...)
	}
	check("Store+Batch", func() error { return storeAll(v) })
	stored := v.Usage()

	// The in-memory store models the same requests from the same items: storing the same
	// conversations there costs what it cost on the servers.
	memBucket := objmem.New()
	mem, err := vault.New(ctx, vault.Options{Bucket: memBucket, Refs: refmem.New(), Catalog: catparquet.New(memBucket, catparquet.Options{}), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if err := storeAll(mem); err != nil {
		t.Fatal(err)
	}
	if m := mem.Usage(); !mem.UsageModelled() || m.S3PutClass != stored.S3PutClass || m.S3GetClass != stored.S3GetClass ||
		math.Abs(m.DDBWRU-stored.DDBWRU) > 0.02*stored.DDBWRU || math.Abs(m.DDBRRU-stored.DDBRRU) > 0.02*stored.DDBRRU {
		t.Errorf("storing in memory is modelled as %+v (modelled %v); on the servers it cost %+v", m, mem.UsageModelled(), stored)
	}
	check("Store again", func() error { _, err := v.Store(ctx, convs[0]); return err }) // Existed: a refused PUT
	check("Retrieve", func() error {
		for _, c := range convs[:10] {
			if _, err := v.Retrieve(ctx, c.ID); err != nil {
				return err
			}
		}
		return nil
	})
	check("List", func() error { _, err := v.List(ctx, catalog.Query{Limit: 25}); return err })
	check("Stats", func() error { _, err := v.Stats(ctx, vault.StatsOptions{References: true}); return err })
	check("Delete", func() error {
		for _, c := range convs[:5] {
			if err := v.Delete(ctx, c.ID); err != nil {
				return err
			}
		}
		return nil
	})
	now = now.Add(time.Hour)
	check("GC", func() error { _, err := v.GC(ctx, vault.GCOptions{Grace: time.Minute}); return err })
	check("Verify", func() error { _, err := v.Verify(ctx, vault.VerifyOptions{}); return err })
}
