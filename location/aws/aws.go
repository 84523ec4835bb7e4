// Package aws is the backend of S3 stores for package location: segments and manifests in an
// S3 bucket under a prefix (objstore/s3), the catalog as Parquet files beside them
// (catalog/parquet), references in a DynamoDB table (refcount/dynamodb). Its locations are s3://BUCKET/PREFIX (?path_style=true
// for MinIO; region= and endpoint= override the SDK's configuration) with refs
// dynamodb://TABLE. Several stores may share one table: each keeps its items under the
// Namespace of its bucket and prefix. AWS settings come from the SDK's standard chain
// (AWS_REGION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, credentials).
//
// docs/design.md ("Packages", "Layout") describes the parts and what they store.
package aws

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/internal/ddbtable"
	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/objstore/s3"
	"github.com/stowken/stowken/refcount/dynamodb"
	"github.com/stowken/stowken/vault"
)

// Backend opens S3 stores; register it with location.NewRegistry.
type Backend struct{}

// Schemes returns "s3".
func (Backend) Schemes() []string { return []string{"s3"} }

// Usage returns the form of an S3 location.
func (Backend) Usage() string { return "s3://BUCKET/PREFIX with refs dynamodb://TABLE" }

// Parse checks the bucket URL store and the table URL refs, without sending a request.
func (Backend) Parse(store, refs string) (location.Opener, error) {
	if !strings.HasPrefix(strings.ToLower(store), "s3://") {
		return nil, fmt.Errorf("location: store %q: an S3 store is s3://BUCKET/PREFIX", store)
	}
	b, err := url.Parse(store)
	if err != nil {
		return nil, fmt.Errorf("location: store %q: %w", store, err)
	}
	if refs == "" {
		return nil, fmt.Errorf("location: the s3 store %q needs a reference table: give refs as dynamodb://TABLE (--refs or STOWKEN_REFS)", store)
	}
	if !strings.HasPrefix(strings.ToLower(refs), "dynamodb://") {
		return nil, fmt.Errorf("location: refs %q: an s3 store needs refs of the form dynamodb://TABLE", refs)
	}
	t, err := url.Parse(refs)
	if err != nil {
		return nil, fmt.Errorf("location: refs %q: %w", refs, err)
	}
	if err := s3.CheckURL(b); err != nil {
		return nil, fmt.Errorf("location: store %q: %w", store, err)
	}
	if err := ddbtable.CheckURL(t); err != nil {
		return nil, fmt.Errorf("location: refs %q: %w", refs, err)
	}
	return &Location{Bucket: b, Table: t}, nil
}

// Location is the location of an S3 store: the bucket URL (s3://BUCKET/PREFIX) and the table URL
// (dynamodb://TABLE).
type Location struct {
	Bucket, Table *url.URL
}

// String returns the bucket URL without its query and credentials.
func (s *Location) String() string {
	u := *s.Bucket
	u.RawQuery = ""
	return u.Redacted()
}

// Open returns opts with the bucket, the catalog in it, and the references in the table under
// the store's Namespace. It sends no request; create is not needed (Init creates the bucket
// and the table).
func (s *Location) Open(ctx context.Context, opts vault.Options, create bool) (vault.Options, error) {
	b, t, err := s.open(ctx, opts.Logger)
	if err != nil {
		return opts, err
	}
	opts.Bucket, opts.Refs, opts.Catalog = b, dynamodb.New(t), catparquet.New(b, catparquet.Options{Now: opts.Now})
	return opts, nil
}

// Init creates the bucket (EnsureBucket) and the DynamoDB table (EnsureTable, which waits
// until the table is active), leaving whatever exists as it is.
func (s *Location) Init(ctx context.Context) error {
	b, t, err := s.open(ctx, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.EnsureBucket(ctx); err != nil {
		return fmt.Errorf("location: init %s: %w", s.Bucket.Redacted(), err)
	}
	if err := t.EnsureTable(ctx); err != nil {
		return fmt.Errorf("location: init %s: %w", s.Table.Redacted(), err)
	}
	return nil
}

// Fresh returns a store of its own under a new random sub-prefix ("bench-<time>-<random>") of
// the store's prefix, in the same bucket and table: its references and catalog are kept under
// its own namespace, so nothing another store holds is seen or touched.
func (s *Location) Fresh() (location.Opener, error) {
	r := make([]byte, 4)
	rand.Read(r)
	sub := "bench-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(r)
	u := *s.Bucket
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + sub
	return &Location{Bucket: &u, Table: s.Table}, nil
}

// open opens the bucket (logging to logger, when set), and the table in the store's Namespace.
func (s *Location) open(ctx context.Context, logger *slog.Logger) (*s3.Bucket, *ddbtable.Table, error) {
	b, err := s3.Open(ctx, s.Bucket, s3.Options{Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("location: %w", err)
	}
	t, err := ddbtable.Open(ctx, s.Table, ddbtable.Options{Namespace: Namespace(s.Bucket)})
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("location: %w", err), b.Close())
	}
	return b, t, nil
}

// Namespace is the prefix under which an S3 store keeps its segments (and its catalog) in the
// reference table: 16 hex digits of the SHA-256 of "bucket/prefix", and ":". Stores that share
// a table (two prefixes, one table) thereby never mistake each other's items for their own.
func Namespace(bucket *url.URL) string {
	sum := sha256.Sum256([]byte(bucket.Host + "/" + strings.Trim(bucket.Path, "/")))
	return hex.EncodeToString(sum[:8]) + ":"
}
