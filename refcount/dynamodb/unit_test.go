package dynamodb

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowken/stowken/refcount"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want target
		err  string // substring of the error; "" → success
	}{
		{in: "dynamodb://stowken-refs", want: target{table: "stowken-refs"}},
		{in: "dynamodb://My_Table.v2/", want: target{table: "My_Table.v2"}},
		{in: "dynamodb://t1x?region=eu-west-1", want: target{table: "t1x", region: "eu-west-1"}},
		{in: "dynamodb://t1x?endpoint=http://127.0.0.1:18000&region=us-west-2",
			want: target{table: "t1x", region: "us-west-2", endpoint: "http://127.0.0.1:18000"}},
		{in: "dynamodb://t1x?endpoint=" + url.QueryEscape("https://dynamodb.example.com/"),
			want: target{table: "t1x", endpoint: "https://dynamodb.example.com/"}},
		{in: "s3://bucket", err: "scheme must be dynamodb"},
		{in: "dynamodb://", err: "table name"},
		{in: "dynamodb://ab", err: "table name"},
		{in: "dynamodb://" + strings.Repeat("a", 256), err: "table name"},
		{in: "dynamodb://table:8000", err: "table name"},
		{in: "dynamodb://table/extra", err: "want dynamodb://TABLE"},
		{in: "dynamodb://user@table", err: "want dynamodb://TABLE"},
		{in: "dynamodb:table", err: "want dynamodb://TABLE"},
		{in: "dynamodb://table#frag", err: "want dynamodb://TABLE"},
		{in: "dynamodb://table?regoin=x", err: `unknown parameter "regoin"`},
		{in: "dynamodb://table?region=", err: "parameter region"},
		{in: "dynamodb://table?region=a&region=b", err: "parameter region"},
		{in: "dynamodb://table?endpoint=127.0.0.1:18000", err: "must be an http or https URL"},
		{in: "dynamodb://table?endpoint=ftp://x", err: "must be an http or https URL"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := url.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseURL(u)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseURL(%s) = %+v, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseURL(%s) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := parseURL(nil); err == nil {
		t.Fatal("parseURL(nil) succeeded")
	}
}

func TestOpenRegion(t *testing.T) {
	// Open contacts nothing, so it runs without a server.
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_PROFILE", "")
	u, _ := url.Parse("dynamodb://some-table")
	st, err := Open(t.Context(), u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := st.client.Options().Region; r != DefaultRegion {
		t.Fatalf("default region %q, want %q", r, DefaultRegion)
	}
	if st.Table() != "some-table" {
		t.Fatalf("Table() = %q", st.Table())
	}
	if got := st.client.Options().Retryer.MaxAttempts(); got != DefaultMaxAttempts {
		t.Fatalf("MaxAttempts %d, want %d", got, DefaultMaxAttempts)
	}

	t.Setenv("AWS_REGION", "ap-south-1")
	st, err = Open(t.Context(), u, Options{MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r := st.client.Options().Region; r != "ap-south-1" {
		t.Fatalf("region from AWS_REGION: %q", r)
	}
	if got := st.client.Options().Retryer.MaxAttempts(); got != 3 {
		t.Fatalf("MaxAttempts %d, want 3", got)
	}

	u, _ = url.Parse("dynamodb://some-table?region=eu-north-1&endpoint=http://127.0.0.1:1")
	st, err = Open(t.Context(), u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := st.client.Options().Region; r != "eu-north-1" {
		t.Fatalf("region from the URL: %q", r)
	}
	if e := aws.ToString(st.client.Options().BaseEndpoint); e != "http://127.0.0.1:1" {
		t.Fatalf("endpoint from the URL: %q", e)
	}
}

func TestShardIsStable(t *testing.T) {
	// The shard function is part of the stored format: these values must never change.
	golden := map[string]int{
		"":                 5,  // FNV-1a 32 of "" is 0x811c9dc5
		"a":                12, // 0xe40c292c
		"owner-1":          14, // 0x40feeefe
		"conversation/123": 5,  // 0x44ec2685
		"4f1c2e9a":         8,  // 0xadc1dfa8
	}
	for k, want := range golden {
		if got := shard(k); got != want {
			t.Errorf("shard(%q) = %d, want %d", k, got, want)
		}
		if got := fnv1a32(k) % RefShards; int(got) != want {
			t.Errorf("independent FNV-1a of %q mod %d = %d, want %d", k, RefShards, got, want)
		}
	}
}

// fnv1a32 is an independent FNV-1a (32 bit) implementation.
func fnv1a32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func TestRefShardsMatchesCounting(t *testing.T) {
	// refcount.Counter models HasRefs as refcount.RefShards reads.
	if RefShards != refcount.RefShards {
		t.Fatalf("dynamodb.RefShards = %d, refcount.RefShards = %d", RefShards, refcount.RefShards)
	}
}

func TestShardSpread(t *testing.T) {
	// A popular segment's owners must land on every shard, roughly evenly.
	counts := make([]int, RefShards)
	const n = 16000
	for i := range n {
		s := shard(fmt.Sprintf("conversation-%d", i))
		if s < 0 || s >= RefShards {
			t.Fatalf("shard out of range: %d", s)
		}
		counts[s]++
	}
	for i, c := range counts {
		if c < n/RefShards*8/10 || c > n/RefShards*12/10 {
			t.Fatalf("shard %d holds %d of %d keys: %v", i, c, n, counts)
		}
	}
}

func TestKeys(t *testing.T) {
	str := func(it item, name string) string {
		v, err := getS(it, name, true)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if hk := headKey("abc"); str(hk, attrPK) != "seg#abc" || str(hk, attrSK) != "head" || len(hk) != 2 {
		t.Errorf("headKey = %v", hk)
	}
	if rk := refKey("abc", "owner-1"); str(rk, attrPK) != "ref#abc#14" || str(rk, attrSK) != "owner-1" || len(rk) != 2 {
		t.Errorf("refKey = %v", rk)
	}
	if ck := candidateKey("4f1c2e9a"); str(ck, attrPK) != "gc#8" || str(ck, attrSK) != "4f1c2e9a" || len(ck) != 2 {
		t.Errorf("candidateKey = %v", ck)
	}
	for _, tc := range []struct{ pk, seg string }{
		{refPK("abc", 3), "abc"},
		{refPK("a#b", 15), "a#b"}, // segments may contain '#': the shard is after the last one
	} {
		seg, ok := segmentOfRefPK(tc.pk)
		if !ok || seg != tc.seg {
			t.Errorf("segmentOfRefPK(%q) = %q, %v; want %q", tc.pk, seg, ok, tc.seg)
		}
	}
	for _, bad := range []string{"seg#abc", "ref#abc", "ref#abc#x", "ref##3"} {
		if seg, ok := segmentOfRefPK(bad); ok {
			t.Errorf("segmentOfRefPK(%q) = %q, accepted", bad, seg)
		}
	}
	if got := refPK("abc", 3); got != "ref#abc#3" {
		t.Errorf("refPK = %q", got)
	}
	if got := candidatePK(11); got != "gc#11" {
		t.Errorf("candidatePK = %q", got)
	}
}

func TestSchemaMatchesCreateTable(t *testing.T) {
	sc := TableSchema()
	if sc.PartitionKey != (Attribute{"pk", "S"}) || sc.SortKey != (Attribute{"sk", "S"}) || sc.BillingMode != "PAY_PER_REQUEST" {
		t.Fatalf("TableSchema() = %+v", sc)
	}
	in := sc.createTableInput("t")
	if aws.ToString(in.TableName) != "t" || string(in.BillingMode) != sc.BillingMode ||
		len(in.KeySchema) != 2 || len(in.AttributeDefinitions) != 2 ||
		len(in.GlobalSecondaryIndexes) != 0 || len(in.LocalSecondaryIndexes) != 0 {
		t.Fatalf("createTableInput = %+v", in)
	}
}

func TestJitter(t *testing.T) {
	for round := 1; round < 40; round++ {
		for range 100 {
			d := jitter(round)
			if d <= 0 || d > batchMaxDelay+time.Millisecond {
				t.Fatalf("jitter(%d) = %v", round, d)
			}
		}
	}
}
