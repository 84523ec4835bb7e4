// Package location turns the store locations that the CLI, the Lambda functions and scripts use
// into an open vault, through a registry of backends: a scheme maps to the backend that parses
// and opens it, and a location of any other scheme is an error that lists the registered ones.
// The registry links no backend itself; each program registers those it supports, so that a
// program links only the backends it can open (the GC Lambda registers location/aws and links
// no local store). docs/design.md ("Packages") shows how they fit.
//
// A location is a store and a refs string, as given to --store and --refs:
//
//	DIR                      the embedded local store in directory DIR (location/local)
//	file:///abs/dir          the same, as a URL (file://rel/dir is the relative path rel/dir)
//	s3://bucket/prefix       segments and manifests in S3, references and catalog in the
//	                         DynamoDB table that refs names: dynamodb://table (location/aws)
//
// A plain path has the empty scheme. A scheme has at least two characters, so that a Windows
// drive letter ("C:") is a path; a directory whose name looks like a scheme ("data:2024") is
// given as "./data:2024".
package location

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/vault"
)

// ErrUnknownScheme is wrapped by the error Parse returns for a location whose scheme no
// registered backend opens.
var ErrUnknownScheme = errors.New("unsupported scheme")

// ErrNoStore is wrapped by the error Open returns when it is not to create the store and no
// store exists at the location.
var ErrNoStore = errors.New("location: no store there")

// Backend parses and opens the locations of its schemes. Each backend package (location/local,
// location/aws) provides one.
type Backend interface {
	// Schemes are the lower-case URL schemes the backend opens; "" stands for a plain path.
	Schemes() []string
	// Usage is the form of the backend's locations, for error messages ("s3://BUCKET/PREFIX").
	Usage() string
	// Parse checks store and refs, without opening anything.
	Parse(store, refs string) (Opener, error)
}

// Opener is a parsed location of one backend.
type Opener interface {
	// Open returns opts with the store's Bucket, Refs and Catalog. With create false, a store
	// that does not exist yet is an error wrapping ErrNoStore where the backend can tell
	// without a request (a local directory); with create true, it is created if needed. With
	// opts.ReadOnly the backends refuse writes. opts.Logger, when set, also receives the
	// backends' logs.
	Open(ctx context.Context, opts vault.Options, create bool) (vault.Options, error)
	// Init creates what the store needs, leaving whatever exists as it is, so it can be run
	// any number of times.
	Init(ctx context.Context) error
	// Fresh returns the location of a new, empty store for a benchmark: the location itself if
	// it is empty, or a new part of it (an S3 store's random sub-prefix). A location holding
	// data that cannot be set apart is an error.
	Fresh() (Opener, error)
	// String is the location as it can be shown: credentials and query parameters removed.
	String() string
}

// Registry maps schemes to backends. The zero value has none; use NewRegistry.
type Registry struct {
	backends map[string]Backend
}

// NewRegistry returns a registry of backends. Two backends of one scheme panic: that is a
// programming error.
func NewRegistry(backends ...Backend) *Registry {
	r := &Registry{backends: map[string]Backend{}}
	for _, b := range backends {
		for _, s := range b.Schemes() {
			if _, dup := r.backends[s]; dup {
				panic(fmt.Sprintf("location: scheme %q registered twice", s))
			}
			r.backends[s] = b
		}
	}
	return r
}

// schemeRE matches a URL scheme and its colon (see the package documentation).
var schemeRE = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]+):`)

// Scheme returns the lower-case scheme of store, or "" for a plain path.
func Scheme(store string) string {
	if m := schemeRE.FindStringSubmatch(store); m != nil {
		return strings.ToLower(m[1])
	}
	return ""
}

// Parse checks store and refs with the backend of store's scheme, without opening anything.
func (r *Registry) Parse(store, refs string) (Opener, error) {
	if store == "" {
		return nil, fmt.Errorf("location: no store given (%s)", r.usage())
	}
	scheme := Scheme(store)
	b, ok := r.backends[scheme]
	if !ok {
		what := fmt.Sprintf("%q", scheme)
		if scheme == "" {
			what = `"" (a directory: the local store)`
		}
		return nil, fmt.Errorf("location: store %q: %w %s: this program opens %s (a directory whose name has a colon is given as ./NAME)", store, ErrUnknownScheme, what, r.usage())
	}
	return b.Parse(store, refs)
}

// usage lists the forms of the registered backends' locations.
func (r *Registry) usage() string {
	var forms []string
	for _, b := range r.backends {
		if !slices.Contains(forms, b.Usage()) {
			forms = append(forms, b.Usage())
		}
	}
	slices.Sort(forms)
	return strings.Join(forms, " or ")
}

// Open opens the vault that store and refs name. With create false, a store that does not
// exist is an error wrapping ErrNoStore where that can be told without a request (see
// Opener.Open); an S3 store sends no request until it is used (Init creates the bucket and
// the table).
func (r *Registry) Open(ctx context.Context, store, refs string, opts vault.Options, create bool) (*vault.Vault, error) {
	v, _, err := r.OpenStore(ctx, store, refs, opts, create)
	return v, err
}

// OpenStore is Open, and returns the bucket the vault was opened on too, for what a program
// keeps beside the store's own objects (the ingest inbox, package ingest). The bucket is the
// vault's: closing the vault closes it.
func (r *Registry) OpenStore(ctx context.Context, store, refs string, opts vault.Options, create bool) (*vault.Vault, objstore.Bucket, error) {
	loc, err := r.Parse(store, refs)
	if err != nil {
		return nil, nil, err
	}
	return openVault(ctx, loc, opts, create)
}

// OpenVault opens the vault at loc (see Opener.Open).
func OpenVault(ctx context.Context, loc Opener, opts vault.Options, create bool) (*vault.Vault, error) {
	v, _, err := openVault(ctx, loc, opts, create)
	return v, err
}

// openVault opens the vault at loc, and returns its bucket.
func openVault(ctx context.Context, loc Opener, opts vault.Options, create bool) (*vault.Vault, objstore.Bucket, error) {
	opts, err := loc.Open(ctx, opts, create)
	if err != nil {
		return nil, nil, err
	}
	v, err := vault.New(ctx, opts)
	if err != nil {
		return nil, nil, errors.Join(err, opts.Bucket.Close(), opts.Catalog.Close(), opts.Refs.Close())
	}
	return v, opts.Bucket, nil
}

// Init creates what the store at store and refs needs (see Opener.Init).
func (r *Registry) Init(ctx context.Context, store, refs string) error {
	loc, err := r.Parse(store, refs)
	if err != nil {
		return err
	}
	return loc.Init(ctx)
}
