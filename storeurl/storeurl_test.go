package storeurl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowken/stowken/vault"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, store, refs string
		wantKind          Kind
		wantDir           string
		wantErr           string // substring; "" means success
	}{
		{name: "dir", store: "./stowken-data", wantKind: Local, wantDir: "./stowken-data"},
		{name: "abs dir", store: "/var/lib/stowken", wantKind: Local, wantDir: "/var/lib/stowken"},
		{name: "file abs", store: "file:///var/lib/stowken", wantKind: Local, wantDir: "/var/lib/stowken"},
		{name: "file localhost", store: "file://localhost/srv/x", wantKind: Local, wantDir: "/srv/x"},
		{name: "file relative", store: "file://data/store", wantKind: Local, wantDir: "data/store"},
		{name: "s3", store: "s3://bucket/prefix?path_style=true", refs: "dynamodb://table", wantKind: S3},
		{name: "s3 upper-case scheme", store: "S3://bucket", refs: "DynamoDB://table", wantKind: S3},
		{name: "empty store", store: "", wantErr: "no store given"},
		{name: "unknown scheme", store: "gs://bucket/x", wantErr: `unsupported scheme "gs"`},
		{name: "http scheme", store: "http://example.com/x", wantErr: `unsupported scheme "http"`},
		{name: "s3 without refs", store: "s3://bucket/prefix", wantErr: "needs a reference table"},
		{name: "s3 with file refs", store: "s3://bucket/prefix", refs: "/tmp/refs.db", wantErr: "dynamodb://TABLE"},
		{name: "s3 with s3 refs", store: "s3://bucket/prefix", refs: "s3://other", wantErr: "dynamodb://TABLE"},
		{name: "local with refs", store: "./data", refs: "dynamodb://table", wantErr: "only for s3:// stores"},
		{name: "file with refs", store: "file:///data", refs: "dynamodb://table", wantErr: "only for s3:// stores"},
		{name: "file with query", store: "file:///data?x=1", wantErr: "no user, query or fragment"},
		{name: "file without dir", store: "file://", wantErr: "names no directory"},
		{name: "file single slash", store: "file:/var/lib/stowken", wantKind: Local, wantDir: "/var/lib/stowken"},
		{name: "file opaque", store: "file:data", wantErr: "want file:///ABSOLUTE/DIR"},
		{name: "s3 single slash", store: "s3:/bucket/prefix", refs: "dynamodb://table", wantErr: "an S3 store is s3://BUCKET/PREFIX"},
		{name: "colon in a directory name", store: "data:2024", wantErr: `unsupported scheme "data"`},
		{name: "colon in a relative path", store: "./data:2024", wantKind: Local, wantDir: "./data:2024"},
		{name: "windows drive", store: `C:\stowken`, wantKind: Local, wantDir: `C:\stowken`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := Parse(tt.store, tt.refs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q, %q) error = %v, want one containing %q", tt.store, tt.refs, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.store, tt.refs, err)
			}
			if loc.Kind != tt.wantKind || loc.Dir != tt.wantDir {
				t.Errorf("Parse(%q, %q) = kind %v dir %q, want kind %v dir %q", tt.store, tt.refs, loc.Kind, loc.Dir, tt.wantKind, tt.wantDir)
			}
			if loc.Kind == S3 && (loc.Bucket == nil || loc.Table == nil) {
				t.Errorf("Parse(%q, %q): S3 location without bucket or table URL", tt.store, tt.refs)
			}
		})
	}
}

// TestOpenErrors checks that Open and Init reject bad locations before any request is sent:
// the dispatch errors of Parse, and the URL errors of the S3 and DynamoDB backends.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, store, refs, wantErr string
	}{
		{"empty", "", "", "no store given"},
		{"unknown scheme", "ftp://host/dir", "", "unsupported scheme"},
		{"s3 without refs", "s3://bucket/prefix", "", "needs a reference table"},
		{"s3 with non-dynamodb refs", "s3://bucket", "bolt:///tmp/refs.db", "dynamodb://TABLE"},
		{"local with refs", t.TempDir(), "dynamodb://table", "only for s3:// stores"},
		{"bad bucket name", "s3://b/prefix", "dynamodb://table", "bucket name"},
		{"unknown s3 parameter", "s3://bucket/prefix?colour=blue", "dynamodb://table", "unknown parameter"},
		{"bad table name", "s3://bucket/prefix", "dynamodb://t", "table name"},
		{"unknown dynamodb parameter", "s3://bucket/prefix", "dynamodb://table?colour=blue", "unknown parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Open(ctx, tt.store, tt.refs, vault.Options{})
			if err == nil {
				v.Close()
				t.Fatalf("Open(%q, %q) succeeded, want an error containing %q", tt.store, tt.refs, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open(%q, %q) error = %v, want one containing %q", tt.store, tt.refs, err, tt.wantErr)
			}
			err = Init(ctx, tt.store, tt.refs)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Init(%q, %q) error = %v, want one containing %q", tt.store, tt.refs, err, tt.wantErr)
			}
		})
	}
}

func TestLocal(t *testing.T) {
	ctx := context.Background()
	for _, form := range []string{"dir", "file"} {
		t.Run(form, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "store")
			store := dir
			if form == "file" {
				store = "file://" + dir
			}
			if err := Init(ctx, store, ""); err != nil {
				t.Fatalf("Init: %v", err)
			}
			if err := Init(ctx, store, ""); err != nil {
				t.Fatalf("second Init: %v", err)
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				t.Fatalf("Init did not create %s: %v", dir, err)
			}
			v, err := Open(ctx, store, "", vault.Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer v.Close()
			st, err := v.Stats(ctx, vault.StatsOptions{})
			if err != nil {
				t.Fatalf("Stats: %v", err)
			}
			if st.Conversations != 0 {
				t.Errorf("new store has %d conversations", st.Conversations)
			}
			if _, err := os.Stat(filepath.Join(dir, "refs.db")); err != nil {
				t.Errorf("local store has no reference file: %v", err)
			}
		})
	}
}

// TestOpenS3Backends opens the backends of an S3 store: that loads the SDK configuration but
// contacts no server, so it succeeds without one.
func TestOpenS3Backends(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	loc, err := Parse("s3://bucket/prefix?path_style=true&endpoint=http://127.0.0.1:1", "dynamodb://table?endpoint=http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	b, tbl, err := openS3(context.Background(), loc, vault.Options{})
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
