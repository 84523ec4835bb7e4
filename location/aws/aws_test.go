package aws

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

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
	b, tbl, err := loc.(*Location).open(context.Background(), vault.Options{})
	if err != nil {
		t.Fatalf("openS3: %v", err)
	}
	if tbl.Table() != "table" {
		t.Errorf("table %q, want %q", tbl.Table(), "table")
	}
	if err := errors.Join(b.Close(), tbl.Close()); err != nil {
		t.Errorf("Close: %v", err)
	}
}
