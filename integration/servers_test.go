package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/conversation"
	"github.com/stowken/stowken/internal/corpus"
	"github.com/stowken/stowken/internal/testenv"
	locaws "github.com/stowken/stowken/location/aws"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/s3"
	"github.com/stowken/stowken/refcount/dynamodb"
	"github.com/stowken/stowken/segment"
	"github.com/stowken/stowken/vault"
)

// testBucket is the one bucket every test shares; each test has its own key prefix in it.
const testBucket = "stowken-it"

// servers returns the endpoints of the S3 and DynamoDB servers (see testenv.Endpoints).
func servers(t testing.TB) (s3Endpoint, dynamoEndpoint string) {
	t.Helper()
	e := testenv.Endpoints(t, "run them with scripts/with-servers.sh go test ./integration/", testenv.S3Endpoint, testenv.DynamoDBEndpoint)
	return e[0], e[1]
}

// randomName returns 12 random lower-case hex digits.
func randomName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// store is one test's private piece of the servers: a key prefix in the shared bucket (or a
// bucket of its own) and a table of its own, removed afterwards when the test passes.
type store struct {
	S3Endpoint, DynamoEndpoint string
	BucketName, Prefix, Table  string
	// BucketURL and TableURL carry the endpoints as query parameters (for s3.Open and
	// dynamodb.Open); StoreURL and RefsURL do not (for the CLI, which takes the endpoints
	// from AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_DYNAMODB).
	BucketURL, TableURL *url.URL
	StoreURL, RefsURL   string
	// Bucket and Refs are the raw backends, not counted by any vault: what the tests use to
	// look at the store from outside.
	Bucket    *s3.Bucket
	Refs      *dynamodb.Store
	creds     aws.CredentialsProvider
	ownBucket bool
}

// storeOptions vary newStoreWith.
type storeOptions struct {
	// OwnBucket gives the test a bucket of its own, stowken-it-<random>, instead of a prefix
	// in the shared bucket.
	OwnBucket bool
	// NoCreate leaves creating the bucket and the table to the test (stowken init).
	NoCreate bool
}

// newStore creates a fresh prefix of the shared bucket and a fresh table for t, and logs
// where they are.
func newStore(t *testing.T) *store {
	t.Helper()
	return newStoreWith(t, storeOptions{})
}

func newStoreWith(t *testing.T, o storeOptions) *store {
	t.Helper()
	s3ep, ddbep := servers(t)
	name := randomName()
	st := &store{
		S3Endpoint: s3ep, DynamoEndpoint: ddbep,
		BucketName: testBucket, Prefix: "it-" + name, Table: "stowken-it-" + name,
		creds: testenv.Credentials(), ownBucket: o.OwnBucket,
	}
	if o.OwnBucket {
		st.BucketName = "stowken-it-" + name
	}
	st.BucketURL = &url.URL{Scheme: "s3", Host: st.BucketName, Path: "/" + st.Prefix,
		RawQuery: url.Values{"path_style": {"true"}, "endpoint": {s3ep}}.Encode()}
	st.TableURL = &url.URL{Scheme: "dynamodb", Host: st.Table, RawQuery: url.Values{"endpoint": {ddbep}}.Encode()}
	st.StoreURL = fmt.Sprintf("s3://%s/%s?path_style=true", st.BucketName, st.Prefix)
	st.RefsURL = "dynamodb://" + st.Table

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	st.Bucket, err = s3.Open(ctx, st.BucketURL, st.s3Options())
	if err != nil {
		t.Fatal(err)
	}
	st.Refs, err = dynamodb.Open(ctx, st.TableURL, st.refsOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.cleanup(t) })
	if !o.NoCreate {
		if err := st.Bucket.EnsureBucket(ctx); err != nil {
			t.Fatalf("EnsureBucket %s at %s: %v", st.BucketName, s3ep, err)
		}
		if err := st.Refs.Table().EnsureTable(ctx); err != nil {
			t.Fatalf("EnsureTable %s at %s: %v", st.Table, ddbep, err)
		}
	}
	t.Logf("servers: S3 %s (bucket %s, prefix %s/), DynamoDB %s (table %s)", s3ep, st.BucketName, st.Prefix, ddbep, st.Table)
	return st
}

func (st *store) s3Options() s3.Options {
	var o s3.Options
	if st.creds != nil {
		o.ConfigOptions = append(o.ConfigOptions, config.WithCredentialsProvider(st.creds))
	}
	return o
}

// awsConfig returns an SDK configuration for requests the backends do not offer.
func (st *store) awsConfig(ctx context.Context) (aws.Config, error) {
	load := []func(*config.LoadOptions) error{config.WithDefaultRegion("us-east-1")}
	if st.creds != nil {
		load = append(load, config.WithCredentialsProvider(st.creds))
	}
	return config.LoadDefaultConfig(ctx, load...)
}

// cleanup removes the prefix's objects (and the bucket, when it is the test's own) and the
// table when the test passed; a failed test's data is kept for inspection.
func (st *store) cleanup(t *testing.T) {
	if t.Failed() {
		t.Logf("kept for inspection: s3://%s/%s/ at %s, table %s at %s", st.BucketName, st.Prefix, st.S3Endpoint, st.Table, st.DynamoEndpoint)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var keys []string
	err := st.Bucket.List(ctx, "", func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	})
	if err == nil && len(keys) > 0 {
		err = st.Bucket.Delete(ctx, keys...)
	}
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		t.Logf("cleanup: objects under s3://%s/%s/: %v", st.BucketName, st.Prefix, err)
	}
	cfg, err := st.awsConfig(ctx)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	if st.ownBucket {
		client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
			o.BaseEndpoint, o.UsePathStyle = aws.String(st.S3Endpoint), true
		})
		if _, err := client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(st.BucketName)}); err != nil {
			t.Logf("cleanup: bucket %s: %v", st.BucketName, err)
		}
	}
	client := ddb.NewFromConfig(cfg, func(o *ddb.Options) { o.BaseEndpoint = aws.String(st.DynamoEndpoint) })
	if _, err := client.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(st.Table)}); err != nil {
		t.Logf("cleanup: table %s: %v", st.Table, err)
	}
}

// auditTimeout is the StoreTimeout of the vaults that run Verify: Verify treats references and
// objects older than max(MinAge, StoreTimeout) as leaks, and the tests want to see every leak
// once the writers are done.
const auditTimeout = 250 * time.Millisecond

// open returns a vault over fresh connections to the test's bucket prefix and table, closed
// when the test ends. Each vault counts its own requests (vault.Requests).
// refsOptions are the reference store's options: in the namespace the CLI and the Lambda use
// for the store (location/aws), so that all of them see the same pointers and references.
func (st *store) refsOptions() dynamodb.Options {
	return dynamodb.Options{Credentials: st.creds, Namespace: locaws.Namespace(st.BucketURL)}
}

func (st *store) open(t *testing.T, opts vault.Options) *vault.Vault {
	t.Helper()
	ctx := context.Background()
	b, err := s3.Open(ctx, st.BucketURL, st.s3Options())
	if err != nil {
		t.Fatal(err)
	}
	r, err := dynamodb.Open(ctx, st.TableURL, st.refsOptions())
	if err != nil {
		t.Fatal(err)
	}
	cat := catparquet.New(b, catparquet.Options{})
	opts.Bucket, opts.Refs, opts.Catalog = b, r, cat
	v, err := vault.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// keys returns the ids (last key element) of the objects under prefix, listed by the raw bucket.
func (st *store) keys(t *testing.T, prefix string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := st.Bucket.List(context.Background(), prefix, func(a objstore.Attrs) error {
		out[a.Key[strings.LastIndexByte(a.Key, '/')+1:]] = true
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	return out
}

// segmentObjects returns the ids of the segment objects in the test's prefix.
func (st *store) segmentObjects(t *testing.T) map[string]bool { return st.keys(t, segment.Prefix) }

// readCorpus parses the first limit conversations of a corpus file (all when limit <= 0) and
// returns them with their input lines.
func readCorpus(t testing.TB, name string, limit int) (convs []*conversation.Conversation, lines [][]byte) {
	t.Helper()
	path := corpus.Path(t, name)
	errEnough := errors.New("enough")
	err := corpus.Lines(path, func(line []byte, n int) error {
		if limit > 0 && len(convs) == limit {
			return errEnough
		}
		c, err := conversation.Parse(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		convs = append(convs, c)
		lines = append(lines, slices.Clone(line))
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		t.Fatal(err)
	}
	if len(convs) == 0 {
		t.Fatalf("%s: no conversations", path)
	}
	return convs, lines
}

// sameJSON reports whether two JSON texts are equal as values.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// compareJSON checks a conversation's JSON output against the input line: it must be equal as
// parsed JSON; it reports whether it is also byte-identical.
func compareJSON(t *testing.T, id string, got, want []byte) (identical bool) {
	t.Helper()
	if string(got) == string(want) {
		return true
	}
	if !sameJSON(got, want) {
		t.Errorf("conversation %q came back different:\n  in: %.300s\n out: %.300s", id, want, got)
	}
	return false
}

// checkRetrieved compares a retrieved conversation with the input line (see compareJSON).
func checkRetrieved(t *testing.T, id string, got *conversation.Conversation, want []byte) (identical bool) {
	t.Helper()
	out, err := conversation.Marshal(got)
	if err != nil {
		t.Fatalf("marshal %q: %v", id, err)
	}
	return compareJSON(t, id, out, want)
}

// mustMarshal returns c's JSON form.
func mustMarshal(t testing.TB, c *conversation.Conversation) []byte {
	t.Helper()
	b, err := conversation.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// words returns n pseudo-random words, the same for the same seed: text that tokenizes to
// roughly 2 tokens a word and shares no long run with another seed's.
func words(seed, n int) string {
	var sb strings.Builder
	x := uint64(seed)*0x9e3779b97f4a7c15 + 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		fmt.Fprintf(&sb, "%s%d ", syllables[x%uint64(len(syllables))], x%997)
	}
	return sb.String()
}

var syllables = []string{"ka", "lo", "mira", "sen", "tav", "quor", "ello", "dun", "risk", "pem", "ba", "zu"}

// percentile returns the p-th percentile (0..100) of xs by the nearest-rank method.
func percentile[T int64 | float64](xs []T, p float64) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

// ids returns the conversations' ids.
func ids(convs []*conversation.Conversation) []string {
	out := make([]string, len(convs))
	for i, c := range convs {
		out[i] = c.ID
	}
	return out
}
