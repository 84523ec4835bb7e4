package aws

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/refcount/dynamodb"
	"github.com/stowken/stowken/vault"
)

// TestOpenS3Backends opens the backends of an S3 store: that loads the SDK configuration but
// contacts no server, so it succeeds without one.
func TestOpenS3Backends(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	loc, err := Backend{}.Parse("s3://bucket/prefix?path_style=true&endpoint=http://127.0.0.1:1", "dynamodb://table?endpoint=http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := loc.Open(context.Background(), vault.Options{}, false)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	refs := opts.Refs.(*dynamodb.Store)
	ns := Namespace(loc.(*Location).Bucket)
	if refs.Table().Name != "table" || refs.Table().Namespace != ns {
		t.Errorf("references on %+v: want table %q, in namespace %q", refs.Table(), "table", ns)
	}
	if _, ok := opts.Catalog.(*catparquet.Store); !ok {
		t.Errorf("catalog %T, want the Parquet files in the bucket", opts.Catalog)
	}
	if err := errors.Join(opts.Bucket.Close(), opts.Refs.Close(), opts.Catalog.Close()); err != nil {
		t.Errorf("Close: %v", err)
	}
}
