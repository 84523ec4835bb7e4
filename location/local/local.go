// Package local is the backend of the embedded local store for package location: segment
// objects, manifests and the catalog's Parquet files under DIR/objects (objstore/fs,
// catalog/parquet), references in the single file DIR/refs.db (refcount/bolt). Its locations are a plain directory or
// a file:// URL (file:///abs/dir, file:/abs/dir, file://localhost/abs/dir; file://rel/dir is
// the relative path rel/dir).
//
// docs/design.md ("Packages", "Layout") describes the parts and what they store.
package local

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/location"
	"github.com/stowken/stowken/objstore/fs"
	"github.com/stowken/stowken/refcount/bolt"
	"github.com/stowken/stowken/vault"
)

// Backend opens local stores; register it with location.NewRegistry.
type Backend struct{}

// Schemes returns "" (a plain path) and "file".
func (Backend) Schemes() []string { return []string{"", "file"} }

// Usage returns the form of a local location.
func (Backend) Usage() string { return "a directory (or file://DIR)" }

// Parse returns the local store in the directory store names. refs must be empty: a local
// store keeps its references in its own directory.
func (Backend) Parse(store, refs string) (location.Opener, error) {
	dir := store
	if location.Scheme(store) == "file" {
		u, err := url.Parse(store)
		if err != nil {
			return nil, fmt.Errorf("location: store %q: %w", store, err)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
			return nil, fmt.Errorf("location: store %q: want file:///ABSOLUTE/DIR, file:/ABSOLUTE/DIR or file://RELATIVE/DIR, with no user, query or fragment", store)
		}
		dir = u.Path
		if u.Host != "" && u.Host != "localhost" {
			dir = u.Host + u.Path // file://rel/dir: a relative path
		}
		if dir == "" {
			return nil, fmt.Errorf("location: store %q names no directory", store)
		}
	}
	if refs != "" {
		return nil, fmt.Errorf("location: refs %q given for the local store %q: a local store keeps its references in its own directory; refs (dynamodb://TABLE) is only for s3:// stores", refs, store)
	}
	return Dir(dir), nil
}

// Dir is the local store in a directory.
type Dir string

// String returns the directory.
func (d Dir) String() string { return string(d) }

// Open returns opts with the backends of the store (see Options). With create false, a
// directory that does not exist is an error wrapping location.ErrNoStore (and fs.ErrNotExist),
// and so is, with opts.ReadOnly, a directory that holds no store (Options checks that).
func (d Dir) Open(ctx context.Context, opts vault.Options, create bool) (vault.Options, error) {
	if !create && !opts.ReadOnly {
		if _, err := os.Stat(string(d)); errors.Is(err, os.ErrNotExist) {
			return opts, fmt.Errorf("%w: %s: %w", location.ErrNoStore, d, err)
		}
	}
	return Options(string(d), opts)
}

// Init creates the directory and the store's files (an empty store, which read-only opens
// need); an existing store is left as it is.
func (d Dir) Init(ctx context.Context) error {
	opts, err := Options(string(d), vault.Options{})
	if err != nil {
		return fmt.Errorf("location: init: %w", err)
	}
	return errors.Join(opts.Bucket.Close(), opts.Catalog.Close(), opts.Refs.Close())
}

// Fresh returns d if the directory is absent or empty; a directory with anything in it is an
// error.
func (d Dir) Fresh() (location.Opener, error) {
	entries, err := os.ReadDir(string(d))
	switch {
	case err == nil && len(entries) > 0:
		return nil, fmt.Errorf("store %s is not empty: a benchmark needs a new or empty directory", d)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("store %s: %w", d, err)
	}
	return d, nil
}

// Open opens the local store in dir: read-write, creating it if needed, or with
// opts.ReadOnly read-only (see Options).
func Open(ctx context.Context, dir string, opts vault.Options) (*vault.Vault, error) {
	return location.OpenVault(ctx, Dir(dir), opts, true)
}

// Options returns opts with the backends of the local store in dir: segment objects and
// manifests and the catalog (Catalog) under dir/objects (Bucket), references (Refs) in the
// single file dir/refs.db. Closing the Bucket and the Refs (or the Vault made with them)
// closes the files.
//
// The store has one writer at a time. A read-write open creates the store if needed (opening
// an existing one writes nothing) and holds refs.db exclusively. With opts.ReadOnly, the store
// must exist (a directory without one is an error wrapping location.ErrNoStore and
// fs.ErrNotExist), nothing is created or written (the backends' writes fail with
// objstore.ErrReadOnly and refcount.ErrReadOnly), and refs.db is held
// with a shared lock: any number of read-only opens, in any processes, can hold the store
// together. An open that cannot take its lock fails after bolt.LockTimeout.
func Options(dir string, opts vault.Options) (vault.Options, error) {
	openBucket, openRefs := fs.Open, bolt.Open
	if opts.ReadOnly {
		if _, err := os.Stat(filepath.Join(dir, "refs.db")); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("%w: %w", location.ErrNoStore, err)
			}
			return opts, fmt.Errorf("open local store %s read-only: %w", dir, err)
		}
		openBucket, openRefs = fs.OpenReadOnly, bolt.OpenReadOnly
	}
	b, err := openBucket(filepath.Join(dir, "objects"))
	if err != nil {
		return opts, fmt.Errorf("open local store %s: %w", dir, err)
	}
	r, err := openRefs(filepath.Join(dir, "refs.db"))
	if err != nil {
		b.Close()
		return opts, fmt.Errorf("open local store %s: %w", dir, err)
	}
	opts.Bucket, opts.Refs, opts.Catalog = b, r, catparquet.New(b, catparquet.Options{Now: opts.Now})
	return opts, nil
}
