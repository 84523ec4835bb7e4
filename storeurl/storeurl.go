// Package storeurl turns the store and reference-store locations that the CLI and scripts use
// (DESIGN.md §6) into an open vault.
//
// A store is one of
//
//	DIR                      the embedded local store in directory DIR
//	file:///abs/dir          the same, as a URL (file://rel/dir is the relative path rel/dir)
//	s3://bucket/prefix       segments and manifests in S3 (?path_style=true for MinIO;
//	                         region= and endpoint= override the SDK's configuration)
//
// and refs, the reference store, is empty for a local store (whose references live in a file
// inside its directory) and dynamodb://table for an S3 store. Several S3 stores may share one
// table: each keeps its references under a namespace derived from its bucket and prefix. AWS settings come from the SDK's
// standard chain (AWS_REGION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, credentials).
package storeurl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	catddb "github.com/stowken/stowken/catalog/dynamodb"
	"github.com/stowken/stowken/objstore/s3"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/refcount/dynamodb"
	"github.com/stowken/stowken/vault"
)

// Kind says which backend a store location names.
type Kind int

// Kinds of store.
const (
	// Local is the embedded local store: a directory.
	Local Kind = iota + 1
	// S3 is an S3 bucket with a DynamoDB reference table.
	S3
)

// Location is a parsed store location.
type Location struct {
	Kind Kind
	// Dir is the directory of a Local store.
	Dir string
	// Bucket and Table are the s3:// and dynamodb:// URLs of an S3 store.
	Bucket, Table *url.URL
}

// schemeRE matches a URL scheme and its colon. A scheme has at least two characters here, so
// that a Windows drive letter ("C:") is a path; a directory whose name looks like a scheme
// ("data:2024") is given as "./data:2024".
var schemeRE = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]+):`)

// Parse checks store and refs and says what they name, without opening anything.
func Parse(store, refs string) (Location, error) {
	if store == "" {
		return Location{}, errors.New("storeurl: no store given (a directory, file://DIR or s3://BUCKET/PREFIX)")
	}
	m := schemeRE.FindStringSubmatch(store)
	scheme := ""
	if m != nil {
		scheme = strings.ToLower(m[1])
	}
	switch scheme {
	case "":
		if refs != "" {
			return Location{}, fmt.Errorf("storeurl: refs %q given for the local store %q: a local store keeps its references in its own directory; refs (dynamodb://TABLE) is only for s3:// stores", refs, store)
		}
		return Location{Kind: Local, Dir: store}, nil
	case "file":
		u, err := url.Parse(store)
		if err != nil {
			return Location{}, fmt.Errorf("storeurl: store %q: %w", store, err)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
			return Location{}, fmt.Errorf("storeurl: store %q: want file:///ABSOLUTE/DIR, file:/ABSOLUTE/DIR or file://RELATIVE/DIR, with no user, query or fragment", store)
		}
		dir := u.Path
		if u.Host != "" && u.Host != "localhost" {
			dir = u.Host + u.Path // file://rel/dir: a relative path
		}
		if dir == "" {
			return Location{}, fmt.Errorf("storeurl: store %q names no directory", store)
		}
		if refs != "" {
			return Location{}, fmt.Errorf("storeurl: refs %q given for the local store %q: a local store keeps its references in its own directory; refs (dynamodb://TABLE) is only for s3:// stores", refs, store)
		}
		return Location{Kind: Local, Dir: dir}, nil
	case "s3":
		if !strings.HasPrefix(strings.ToLower(store), "s3://") {
			return Location{}, fmt.Errorf("storeurl: store %q: an S3 store is s3://BUCKET/PREFIX", store)
		}
		b, err := url.Parse(store)
		if err != nil {
			return Location{}, fmt.Errorf("storeurl: store %q: %w", store, err)
		}
		if refs == "" {
			return Location{}, fmt.Errorf("storeurl: the s3 store %q needs a reference table: give refs as dynamodb://TABLE (--refs or STOWKEN_REFS)", store)
		}
		if !strings.HasPrefix(strings.ToLower(refs), "dynamodb://") {
			return Location{}, fmt.Errorf("storeurl: refs %q: an s3 store needs refs of the form dynamodb://TABLE", refs)
		}
		t, err := url.Parse(refs)
		if err != nil {
			return Location{}, fmt.Errorf("storeurl: refs %q: %w", refs, err)
		}
		if err := s3.CheckURL(b); err != nil {
			return Location{}, fmt.Errorf("storeurl: store %q: %w", store, err)
		}
		if err := dynamodb.CheckURL(t); err != nil {
			return Location{}, fmt.Errorf("storeurl: refs %q: %w", refs, err)
		}
		return Location{Kind: S3, Bucket: b, Table: t}, nil
	default:
		return Location{}, fmt.Errorf("storeurl: store %q: unsupported scheme %q (want a directory, file://DIR or s3://BUCKET/PREFIX; a directory whose name has a colon is given as ./NAME)", store, scheme)
	}
}

// Open opens the vault that store and refs name (see the package documentation) with
// Backends. opts.Logger, when set, also receives the AWS SDK's logs. A local store is created
// if needed, unless opts.ReadOnly (see vault.LocalOptions); an S3 store sends no request until
// it is used (see Init to create the bucket and the table). With opts.ReadOnly the vault
// refuses writes on either kind of store.
func Open(ctx context.Context, store, refs string, opts vault.Options) (*vault.Vault, error) {
	loc, err := Parse(store, refs)
	if err != nil {
		return nil, err
	}
	if opts, err = Backends(ctx, loc, opts); err != nil {
		return nil, err
	}
	v, err := vault.New(ctx, opts)
	if err != nil {
		return nil, errors.Join(err, opts.Bucket.Close(), opts.Catalog.Close(), opts.Refs.Close())
	}
	return v, nil
}

// Backends returns opts with the backends of the store at loc: Bucket, Refs and Catalog. A
// local store's are those of vault.LocalOptions; an S3 store's are the bucket, and the
// references and the catalog in the DynamoDB table under the store's Namespace.
func Backends(ctx context.Context, loc Location, opts vault.Options) (vault.Options, error) {
	if loc.Kind == Local {
		return vault.LocalOptions(loc.Dir, opts)
	}
	b, t, err := openS3(ctx, loc, opts)
	if err != nil {
		return opts, err
	}
	cat, err := catddb.Open(ctx, loc.Table, catddb.Options{Namespace: Namespace(loc.Bucket)})
	if err != nil {
		return opts, errors.Join(fmt.Errorf("storeurl: %w", err), b.Close(), t.Close())
	}
	opts.Bucket, opts.Refs, opts.Catalog = b, refcount.Namespace(t, Namespace(loc.Bucket)), cat
	return opts, nil
}

// Namespace is the prefix under which an S3 store keeps its segments (and its catalog) in the
// reference table:
// 16 hex digits of the SHA-256 of "bucket/prefix", and ":". Stores that share a table (two
// prefixes, one table) thereby never mistake each other's heads for their own objects.
func Namespace(bucket *url.URL) string {
	sum := sha256.Sum256([]byte(bucket.Host + "/" + strings.Trim(bucket.Path, "/")))
	return hex.EncodeToString(sum[:8]) + ":"
}

func openS3(ctx context.Context, loc Location, opts vault.Options) (*s3.Bucket, *dynamodb.Store, error) {
	b, err := s3.Open(ctx, loc.Bucket, s3.Options{Logger: opts.Logger})
	if err != nil {
		return nil, nil, fmt.Errorf("storeurl: %w", err)
	}
	t, err := dynamodb.Open(ctx, loc.Table, dynamodb.Options{})
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("storeurl: %w", err), b.Close())
	}
	return b, t, nil
}

// Init creates what the store needs, leaving whatever exists as it is, so it can be run any
// number of times: for a local store its directory and files (an empty store, which read-only
// opens need), for an S3 store the bucket (EnsureBucket) and the DynamoDB table (EnsureTable,
// which waits until the table is active).
func Init(ctx context.Context, store, refs string) error {
	loc, err := Parse(store, refs)
	if err != nil {
		return err
	}
	if loc.Kind == Local {
		opts, err := vault.LocalOptions(loc.Dir, vault.Options{})
		if err != nil {
			return fmt.Errorf("storeurl: init: %w", err)
		}
		return errors.Join(opts.Bucket.Close(), opts.Catalog.Close(), opts.Refs.Close())
	}
	b, t, err := openS3(ctx, loc, vault.Options{})
	if err != nil {
		return err
	}
	defer b.Close()
	defer t.Close()
	if err := b.EnsureBucket(ctx); err != nil {
		return fmt.Errorf("storeurl: init %s: %w", loc.Bucket.Redacted(), err)
	}
	if err := t.EnsureTable(ctx); err != nil {
		return fmt.Errorf("storeurl: init %s: %w", loc.Table.Redacted(), err)
	}
	return nil
}
