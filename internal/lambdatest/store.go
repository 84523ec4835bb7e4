package lambdatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stowken/stowken/internal/testenv"
	"github.com/stowken/stowken/location"
	locaws "github.com/stowken/stowken/location/aws"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/s3"
	"github.com/stowken/stowken/vault"
)

// Store is a store of its own on the test servers (MinIO and dynalite, which
// scripts/with-servers.sh starts): a fresh prefix of a shared bucket and a fresh table.
type Store struct {
	// Store and Refs are the store's URLs with the servers' endpoints in them (as the CLI and
	// the handlers take them); Bucket is the store's bucket, opened.
	Store, Refs string
	Bucket      *s3.Bucket
	// S3Endpoint and DynamoDBEndpoint are the servers'.
	S3Endpoint, DynamoDBEndpoint string
}

var backends = location.NewRegistry(locaws.Backend{})

// NewStore creates a store under a random prefix of bucket and a random table on the test
// servers, and deletes both when the test ends (keeps them, and says where, when it failed).
// Without the servers it skips the test, or fails it under CI=true.
func NewStore(t *testing.T, bucket string) Store {
	t.Helper()
	e := testenv.Endpoints(t, "run them with scripts/with-servers.sh go test ./lambda/...", testenv.S3Endpoint, testenv.DynamoDBEndpoint)
	s3ep, ddbep := e[0], e[1]
	// The SDK's chain needs credentials and a region; MinIO's defaults, when the environment has none.
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		t.Setenv("AWS_ACCESS_KEY_ID", "minioadmin")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "minioadmin")
	}
	if os.Getenv("AWS_REGION") == "" {
		t.Setenv("AWS_REGION", "us-east-1")
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := hex.EncodeToString(b)
	table := "stowken-lambda-" + name
	ts := Store{
		Store: (&url.URL{Scheme: "s3", Host: bucket, Path: "/lambda-" + name,
			RawQuery: url.Values{"path_style": {"true"}, "endpoint": {s3ep}}.Encode()}).String(),
		Refs: (&url.URL{Scheme: "dynamodb", Host: table,
			RawQuery: url.Values{"endpoint": {ddbep}}.Encode()}).String(),
		S3Endpoint: s3ep, DynamoDBEndpoint: ddbep,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := backends.Init(ctx, ts.Store, ts.Refs); err != nil {
		t.Fatalf("init %s, %s: %v", ts.Store, ts.Refs, err)
	}
	u, _ := url.Parse(ts.Store)
	var err error
	if ts.Bucket, err = s3.Open(ctx, u, s3.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("store %s, refs %s", ts.Store, ts.Refs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kept for inspection: %s, %s", ts.Store, ts.Refs)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var keys []string
		ts.Bucket.List(ctx, "", func(a objstore.Attrs) error { keys = append(keys, a.Key); return nil })
		if len(keys) > 0 {
			if err := ts.Bucket.Delete(ctx, keys...); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
		cfg, err := config.LoadDefaultConfig(ctx, config.WithDefaultRegion("us-east-1"))
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		client := ddb.NewFromConfig(cfg, func(o *ddb.Options) { o.BaseEndpoint = aws.String(ddbep) })
		if _, err := client.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			t.Logf("cleanup: table %s: %v", table, err)
		}
	})
	return ts
}

// Open opens a fresh vault on the store, closed when the test ends.
func (ts Store) Open(t *testing.T, opts vault.Options) *vault.Vault {
	t.Helper()
	v, err := backends.Open(context.Background(), ts.Store, ts.Refs, opts, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// Keys returns the keys under prefix in the store.
func (ts Store) Keys(t *testing.T, prefix string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := ts.Bucket.List(context.Background(), prefix, func(a objstore.Attrs) error {
		out[a.Key] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FunctionEnv is the environment a function deployed for the store sees (for StartRIE): the
// store's URLs without the endpoints (as the Terraform module sets STOWKEN_STORE and
// STOWKEN_REFS), the endpoints, region and credentials in the SDK's variables, and extra.
func (ts Store) FunctionEnv(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{
		"STOWKEN_STORE":             withoutEndpoint(t, ts.Store),
		"STOWKEN_REFS":              withoutEndpoint(t, ts.Refs),
		"AWS_ENDPOINT_URL_S3":       ts.S3Endpoint,
		"AWS_ENDPOINT_URL_DYNAMODB": ts.DynamoDBEndpoint,
		"AWS_REGION":                os.Getenv("AWS_REGION"),
		"AWS_ACCESS_KEY_ID":         os.Getenv("AWS_ACCESS_KEY_ID"),
		"AWS_SECRET_ACCESS_KEY":     os.Getenv("AWS_SECRET_ACCESS_KEY"),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// withoutEndpoint returns the URL raw without its endpoint parameter.
func withoutEndpoint(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("endpoint")
	u.RawQuery = q.Encode()
	return u.String()
}
