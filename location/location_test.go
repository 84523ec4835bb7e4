package location_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/location/aws"
	"github.com/stowken/stowken/location/local"
	"github.com/stowken/stowken/vault"
)

// all is the registry of the CLI: both backends.
var all = location.NewRegistry(local.Backend{}, aws.Backend{})

func TestParse(t *testing.T) {
	tests := []struct {
		name, store, refs string
		wantKind          string // "local" or "s3"
		wantDir           string
		wantErr           string // substring; "" means success
	}{
		{name: "dir", store: "./stowken-data", wantKind: "local", wantDir: "./stowken-data"},
		{name: "abs dir", store: "/var/lib/stowken", wantKind: "local", wantDir: "/var/lib/stowken"},
		{name: "file abs", store: "file:///var/lib/stowken", wantKind: "local", wantDir: "/var/lib/stowken"},
		{name: "file localhost", store: "file://localhost/srv/x", wantKind: "local", wantDir: "/srv/x"},
		{name: "file relative", store: "file://data/store", wantKind: "local", wantDir: "data/store"},
		{name: "s3", store: "s3://bucket/prefix?path_style=true", refs: "dynamodb://table", wantKind: "s3"},
		{name: "s3 upper-case scheme", store: "S3://bucket", refs: "DynamoDB://table", wantKind: "s3"},
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
		{name: "file single slash", store: "file:/var/lib/stowken", wantKind: "local", wantDir: "/var/lib/stowken"},
		{name: "file opaque", store: "file:data", wantErr: "want file:///ABSOLUTE/DIR"},
		{name: "s3 single slash", store: "s3:/bucket/prefix", refs: "dynamodb://table", wantErr: "an S3 store is s3://BUCKET/PREFIX"},
		{name: "colon in a directory name", store: "data:2024", wantErr: `unsupported scheme "data"`},
		{name: "colon in a relative path", store: "./data:2024", wantKind: "local", wantDir: "./data:2024"},
		{name: "windows drive", store: `C:\stowken`, wantKind: "local", wantDir: `C:\stowken`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := all.Parse(tt.store, tt.refs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q, %q) error = %v, want one containing %q", tt.store, tt.refs, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.store, tt.refs, err)
			}
			switch l := loc.(type) {
			case local.Dir:
				if tt.wantKind != "local" || string(l) != tt.wantDir {
					t.Errorf("Parse(%q, %q) = local store %q, want %s %q", tt.store, tt.refs, l, tt.wantKind, tt.wantDir)
				}
			case *aws.Location:
				if tt.wantKind != "s3" || l.Bucket == nil || l.Table == nil {
					t.Errorf("Parse(%q, %q) = S3 store %+v, want %s", tt.store, tt.refs, l, tt.wantKind)
				}
			default:
				t.Errorf("Parse(%q, %q) = %T", tt.store, tt.refs, loc)
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
			v, err := all.Open(ctx, tt.store, tt.refs, vault.Options{}, true)
			if err == nil {
				v.Close()
				t.Fatalf("Open(%q, %q) succeeded, want an error containing %q", tt.store, tt.refs, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open(%q, %q) error = %v, want one containing %q", tt.store, tt.refs, err, tt.wantErr)
			}
			err = all.Init(ctx, tt.store, tt.refs)
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
			if _, err := all.Open(ctx, store, "", vault.Options{}, false); !errors.Is(err, location.ErrNoStore) {
				t.Fatalf("Open without create of a missing store: %v, want ErrNoStore", err)
			}
			if err := all.Init(ctx, store, ""); err != nil {
				t.Fatalf("Init: %v", err)
			}
			if err := all.Init(ctx, store, ""); err != nil {
				t.Fatalf("second Init: %v", err)
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				t.Fatalf("Init did not create %s: %v", dir, err)
			}
			v, err := all.Open(ctx, store, "", vault.Options{}, false)
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

// TestRegistry: a registry opens only the schemes registered in it, and says which it opens.
func TestRegistry(t *testing.T) {
	s3only := location.NewRegistry(aws.Backend{})
	for _, store := range []string{"./data", "file:///data", "gs://bucket"} {
		_, err := s3only.Parse(store, "")
		if !errors.Is(err, location.ErrUnknownScheme) || !strings.Contains(err.Error(), "s3://BUCKET/PREFIX") {
			t.Errorf("Parse(%q) on an S3-only registry: %v, want ErrUnknownScheme naming s3://BUCKET/PREFIX", store, err)
		}
	}
	if _, err := s3only.Parse("s3://bucket/p", "dynamodb://table"); err != nil {
		t.Errorf("Parse of an s3 store: %v", err)
	}
	_, err := all.Parse("gs://bucket", "")
	if !errors.Is(err, location.ErrUnknownScheme) || !strings.Contains(err.Error(), "a directory (or file://DIR) or s3://BUCKET/PREFIX") {
		t.Errorf("unknown scheme: %v, want the forms of both backends", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("a scheme registered twice did not panic")
		}
	}()
	location.NewRegistry(aws.Backend{}, aws.Backend{})
}

// TestFresh: a benchmark gets an empty local directory or a new sub-prefix of an S3 store.
func TestFresh(t *testing.T) {
	dir := t.TempDir()
	loc, _ := all.Parse(dir, "")
	if f, err := loc.Fresh(); err != nil || f.String() != dir {
		t.Errorf("Fresh of an empty directory = %v, %v", f, err)
	}
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := loc.Fresh(); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Fresh of a directory with a file: %v, want not empty", err)
	}
	loc, _ = all.Parse("s3://bucket/p?path_style=true", "dynamodb://table")
	f, err := loc.Fresh()
	if err != nil || !strings.HasPrefix(f.String(), "s3://bucket/p/bench-") || strings.Contains(f.String(), "path_style") {
		t.Errorf("Fresh of an S3 store = %v, %v, want s3://bucket/p/bench-… without the query", f, err)
	}
	if aws.Namespace(f.(*aws.Location).Bucket) == aws.Namespace(loc.(*aws.Location).Bucket) {
		t.Error("the fresh S3 store shares the namespace of the store it was made from")
	}
}
