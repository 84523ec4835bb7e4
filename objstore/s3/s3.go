// Package s3 is an objstore.Bucket on Amazon S3 and S3-compatible servers such as MinIO, built
// on aws-sdk-go-v2.
//
// A bucket is named by a URL, s3://bucket/prefix, whose optional prefix is prepended to every
// key. Region, endpoint and credentials come from the SDK's standard chain (AWS_REGION,
// AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, shared config files, instance roles, ...), with
// query parameters to override them:
//
//	s3://bucket/prefix?path_style=true&endpoint=http://127.0.0.1:9000&region=us-east-1
//
// The region defaults to us-east-1 when the chain gives none.
//
// # Conditional writes
//
// PutOptions.IfNoneMatch sends "If-None-Match: *" and PutOptions.IfMatch sends "If-Match", which
// S3 honours on PutObject since 2024, as do current MinIO releases. Servers that ignore them
// exist; the conformance suite in objstore/objstoretest probes for that and fails loudly, and
// at run time a vault refuses to write to a bucket that fails objstore.CheckConditionalWrites.
// A 412 answer to "If-None-Match: *" is ErrExists, to "If-Match" ErrPrecondition.
// "409 ConditionalRequestConflict" (another conditional write to the key is still in flight)
// is retried like a throttling error; when the retries run out it is an error that is none of
// the sentinels. It is never ErrExists: the write in flight may still fail, and a caller that
// took the object for stored could publish a reference to an object that never appears.
//
// A request that was applied but whose response was lost is retried by the SDK, and the retry
// fails its own precondition: such a Put reports ErrExists (or ErrPrecondition) although it was
// this call that wrote the object. Callers that must know can compare the stored content, or
// set PutOptions.SingleAttempt: that Put is sent once (no SDK retry; Go's HTTP client replays
// no PUT), so it is applied at most once and its ErrExists means the key existed before.
//
// # ETags and times
//
// Attrs.ETag is the S3 ETag without its surrounding quotes. For objects written by this package
// it is usually the MD5 of the content (not with SSE-KMS encryption), so rewriting identical
// content keeps the ETag. Put cannot learn
// the object's Last-Modified time without another request, so the ModTime it returns is the
// server's Date header of the response (Get, Stat and List report Last-Modified). Both have
// one-second resolution.
//
// # Errors, retries and timeouts
//
// Every SDK error is translated once, by one function, into the objstore sentinels and wrapped
// with the operation and the object's s3:// location; the SDK error stays in the chain for
// errors.As. The SDK's standard retryer retries throttling (SlowDown, 503), 5xx responses and
// network errors with exponential backoff and full jitter, up to Options.MaxAttempts attempts,
// and each attempt is bounded by Options.RequestTimeout.
//
// # Key restrictions
//
// S3 limits a full object key (URL prefix included) to 1024 bytes, so with a prefix the longest
// accepted key is shorter than objstore.MaxKeyLen; longer keys fail with ErrInvalidKey.
//
// docs/design.md ("Layout") describes the objects a store keeps.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stowken/stowken/objstore"
)

// Defaults for the zero values of Options.
const (
	// DefaultRequestTimeout bounds one HTTP attempt.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxAttempts is the number of attempts per request, the first included.
	DefaultMaxAttempts = 8
	// DefaultMaxBackoff caps the delay between two attempts.
	DefaultMaxBackoff = 20 * time.Second
	// DefaultRegion is used when neither the URL nor the SDK's chain names a region.
	DefaultRegion = "us-east-1"
)

// maxDeleteBatch is the most keys one DeleteObjects request may carry.
const maxDeleteBatch = 1000

// Options tune a Bucket. The zero value is ready to use.
type Options struct {
	// RequestTimeout bounds each HTTP attempt: connecting, sending the request and reading the
	// whole response, body included. An attempt that times out before the response arrives is
	// retried; a Get whose body stalls after that fails. Zero means DefaultRequestTimeout. The
	// context passed to each method bounds the whole call, retries included.
	RequestTimeout time.Duration
	// MaxAttempts is the number of attempts per request, the first included. Zero means
	// DefaultMaxAttempts; 1 disables retries.
	MaxAttempts int
	// MaxBackoff caps the delay between attempts. Zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Logger receives the SDK's log messages. Nil discards them.
	Logger *slog.Logger
	// ConfigOptions are passed to config.LoadDefaultConfig after the bucket's own, so they can
	// supply credentials (config.WithCredentialsProvider) or override anything else.
	ConfigOptions []func(*config.LoadOptions) error
}

// Bucket is an objstore.Bucket on one S3 bucket and key prefix. Open it with Open.
type Bucket struct {
	client *s3.Client
	loc    location
	region string
}

var _ objstore.Bucket = (*Bucket)(nil)

// location is what an s3:// URL says.
type location struct {
	bucket    string
	prefix    string // "" or ending in "/"
	pathStyle bool
	region    string // override; "" means the SDK's chain
	endpoint  string // override; "" means the SDK's chain
}

// CheckURL reports whether u is a bucket URL Open accepts, without opening anything.
func CheckURL(u *url.URL) error {
	_, err := parseURL(u)
	return err
}

// parseURL parses s3://bucket[/prefix][?path_style=BOOL&region=REGION&endpoint=URL].
func parseURL(u *url.URL) (location, error) {
	var loc location
	switch {
	case u == nil:
		return loc, errors.New("s3: nil URL")
	case u.Scheme != "s3":
		return loc, fmt.Errorf("s3: URL %q: scheme is not s3", u.Redacted())
	case u.Opaque != "":
		return loc, fmt.Errorf("s3: URL %q: want s3://bucket/prefix", u.Redacted())
	case u.User != nil:
		return loc, fmt.Errorf("s3: URL %q: credentials in the URL are not supported; use the SDK's credential chain", u.Redacted())
	case u.Fragment != "":
		return loc, fmt.Errorf("s3: URL %q: unexpected fragment", u.Redacted())
	}
	loc.bucket = u.Host
	if err := validBucketName(loc.bucket); err != nil {
		return loc, fmt.Errorf("s3: URL %q: %w", u.Redacted(), err)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if err := objstore.ValidateKey(p); err != nil {
			return loc, fmt.Errorf("s3: URL %q: bad prefix: %w", u.Redacted(), err)
		}
		loc.prefix = p + "/"
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return loc, fmt.Errorf("s3: URL %q: %w", u.Redacted(), err)
	}
	for name, vals := range q {
		if len(vals) != 1 || vals[0] == "" {
			return loc, fmt.Errorf("s3: URL %q: parameter %q wants exactly one non-empty value", u.Redacted(), name)
		}
		v := vals[0]
		switch name {
		case "path_style":
			if loc.pathStyle, err = strconv.ParseBool(v); err != nil {
				return loc, fmt.Errorf("s3: URL %q: path_style: %w", u.Redacted(), err)
			}
		case "region":
			loc.region = v
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return loc, fmt.Errorf("s3: URL %q: endpoint %q is not an http(s) URL", u.Redacted(), v)
			}
			loc.endpoint = v
		default:
			return loc, fmt.Errorf("s3: URL %q: unknown parameter %q (want path_style, region or endpoint)", u.Redacted(), name)
		}
	}
	return loc, nil
}

// validBucketName applies the character rules S3 and MinIO share, so that a typo fails here
// rather than as a confusing request error.
func validBucketName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("bucket name %q contains %q", name, r)
		}
	}
	return nil
}

// Open returns the bucket that u names (see the package documentation). It loads the SDK's
// configuration but sends no request; call EnsureBucket to create the bucket.
func Open(ctx context.Context, u *url.URL, opts Options) (*Bucket, error) {
	loc, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	timeout := orDefault(opts.RequestTimeout, DefaultRequestTimeout)
	maxAttempts := orDefault(opts.MaxAttempts, DefaultMaxAttempts)
	maxBackoff := orDefault(opts.MaxBackoff, DefaultMaxBackoff)
	var logger logging.Logger = logging.Nop{}
	if opts.Logger != nil {
		logger = slogAdapter{opts.Logger}
	}
	loadOpts := []func(*config.LoadOptions) error{
		config.WithDefaultRegion(DefaultRegion),
		config.WithLogger(logger),
		// http.Client.Timeout bounds one attempt including the body: net/http cancels that
		// attempt's request context when it expires, and the retryer treats it as retryable.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(timeout)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = maxBackoff
				// Another conditional write to the key is in flight: S3 asks the loser to retry.
				o.Retryables = append(o.Retryables, retry.RetryableErrorCode{
					Codes: map[string]struct{}{"ConditionalRequestConflict": {}}})
			})
		}),
	}
	if loc.region != "" {
		loadOpts = append(loadOpts, config.WithRegion(loc.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(loadOpts, opts.ConfigOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("s3: open %s: load AWS configuration: %w", u.Redacted(), err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = loc.pathStyle
		if loc.endpoint != "" {
			o.BaseEndpoint = aws.String(loc.endpoint)
		}
		// Objects without a checksum (written by other tools) are read without validation;
		// that is not worth a warning on every Get.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &Bucket{client: client, loc: loc, region: cfg.Region}, nil
}

// orDefault returns v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// slogAdapter sends the SDK's log messages to a slog.Logger.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelInfo
	switch c {
	case logging.Warn:
		level = slog.LevelWarn
	case logging.Debug:
		level = slog.LevelDebug
	}
	a.l.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "aws-sdk")
}

// EnsureBucket creates the bucket if it does not exist, in the configured region. It succeeds
// without creating anything if the bucket exists and is accessible with the configured
// credentials, so it is safe to call repeatedly and needs no CreateBucket permission then.
func (b *Bucket) EnsureBucket(ctx context.Context) error {
	head := &s3.HeadBucketInput{Bucket: aws.String(b.loc.bucket)}
	if _, err := b.client.HeadBucket(ctx, head); err == nil {
		return nil
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(b.loc.bucket)}
	if b.region != DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(b.region),
		}
	}
	_, err := b.client.CreateBucket(ctx, in)
	if err == nil {
		return nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "BucketAlreadyOwnedByYou":
			return nil
		case "BucketAlreadyExists":
			// Ours only if we can reach it (someone may have created it since our HeadBucket).
			if _, herr := b.client.HeadBucket(ctx, head); herr == nil {
				return nil
			}
			return fmt.Errorf("s3: create bucket %q: it exists and belongs to someone else: %w", b.loc.bucket, err)
		}
	}
	return fmt.Errorf("s3: create bucket %q: %w", b.loc.bucket, err)
}

// Close releases nothing: the SDK client needs no closing. The Bucket must not be used after.
func (b *Bucket) Close() error { return nil }

// condition says which precondition a request carried, for translating its errors.
type condition int

const (
	condNone condition = iota
	condIfNoneMatch
	condIfMatch
)

// translate maps an SDK error to the objstore sentinel it means, or nil if it means none. It
// is the only place that maps S3 error codes and HTTP statuses to sentinels.
func translate(err error, cond condition) error {
	var (
		code   string
		status int
	)
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	// Codes first; the status only when the body carried no code (HEAD responses have none).
	precondition := code == "PreconditionFailed" || (code == "" && status == http.StatusPreconditionFailed)
	notFound := code == "NoSuchKey" || code == "NotFound" || (code == "" && status == http.StatusNotFound)

	switch cond {
	case condIfNoneMatch:
		if precondition {
			return objstore.ErrExists
		}
	case condIfMatch:
		// S3 answers If-Match on a missing key with 404 NoSuchKey.
		if precondition || notFound {
			return objstore.ErrPrecondition
		}
	}
	if notFound {
		return objstore.ErrNotFound
	}
	return nil
}

// fail wraps err, translated, with the operation and the object's location.
func (b *Bucket) fail(op, key string, err error, cond condition) error {
	where := "s3://" + b.loc.bucket + "/" + b.loc.prefix + key
	if sentinel := translate(err, cond); sentinel != nil {
		return fmt.Errorf("s3: %s %s: %w: %w", op, where, sentinel, err)
	}
	return fmt.Errorf("s3: %s %s: %w", op, where, err)
}

// checkKey validates key and returns the full object key.
func (b *Bucket) checkKey(key string) (string, error) {
	if err := objstore.ValidateKey(key); err != nil {
		return "", err
	}
	if full := b.loc.prefix + key; len(full) > objstore.MaxKeyLen {
		return "", fmt.Errorf("%w: %q is %d bytes with the bucket prefix %q; S3 allows %d",
			objstore.ErrInvalidKey, key, len(full), b.loc.prefix, objstore.MaxKeyLen)
	}
	return b.loc.prefix + key, nil
}

// etag strips the quotes S3 puts around ETags.
func etag(s *string) string {
	return strings.Trim(aws.ToString(s), `"`)
}

// quoteETag restores the quotes for an If-Match header.
func quoteETag(s string) string {
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `W/"`) {
		return s
	}
	return `"` + s + `"`
}

// Put writes data under key, honouring opts. The upload carries a CRC32C checksum that the
// server verifies.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) (objstore.Attrs, error) {
	full, err := b.checkKey(key)
	if err != nil {
		return objstore.Attrs{}, fmt.Errorf("s3: put: %w", err)
	}
	if opts.IfNoneMatch && opts.IfMatch != "" {
		return objstore.Attrs{}, fmt.Errorf("s3: put %q: IfNoneMatch and IfMatch are mutually exclusive", key)
	}
	in := &s3.PutObjectInput{
		Bucket:            aws.String(b.loc.bucket),
		Key:               aws.String(full),
		Body:              bytes.NewReader(data),
		ContentLength:     aws.Int64(int64(len(data))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	cond := condNone
	switch {
	case opts.IfNoneMatch:
		in.IfNoneMatch = aws.String("*")
		cond = condIfNoneMatch
	case opts.IfMatch != "":
		in.IfMatch = aws.String(quoteETag(opts.IfMatch))
		cond = condIfMatch
	}
	var optFns []func(*s3.Options)
	if opts.SingleAttempt {
		optFns = append(optFns, func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
	}
	out, err := b.client.PutObject(ctx, in, optFns...)
	if err != nil {
		return objstore.Attrs{}, b.fail("put", key, err, cond)
	}
	return objstore.Attrs{
		Key:     key,
		Size:    int64(len(data)),
		ETag:    etag(out.ETag),
		ModTime: responseDate(out.ResultMetadata),
	}, nil
}

// responseDate returns the Date header of the response, or the local time if there is none.
func responseDate(md middleware.Metadata) time.Time {
	if resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			return t
		}
	}
	return time.Now().Truncate(time.Second)
}

// Get returns the object's content and attributes, or ErrNotFound. The SDK validates the
// content against the checksum stored with the object, if it has one.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, objstore.Attrs, error) {
	full, err := b.checkKey(key)
	if err != nil {
		return nil, objstore.Attrs{}, fmt.Errorf("s3: get: %w", err)
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:       aws.String(b.loc.bucket),
		Key:          aws.String(full),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, objstore.Attrs{}, b.fail("get", key, err, condNone)
	}
	defer func() { _ = out.Body.Close() }()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 {
		buf.Grow(int(n))
	}
	if _, err := buf.ReadFrom(out.Body); err != nil {
		return nil, objstore.Attrs{}, b.fail("get", key, fmt.Errorf("read body: %w", err), condNone)
	}
	data := buf.Bytes()
	if out.ContentLength != nil && *out.ContentLength != int64(len(data)) {
		return nil, objstore.Attrs{}, b.fail("get", key,
			fmt.Errorf("read %d bytes, Content-Length %d: %w", len(data), *out.ContentLength, io.ErrUnexpectedEOF), condNone)
	}
	return data, objstore.Attrs{
		Key:     key,
		Size:    int64(len(data)),
		ETag:    etag(out.ETag),
		ModTime: aws.ToTime(out.LastModified),
	}, nil
}

// Stat returns the object's attributes (a HEAD request), or ErrNotFound.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	full, err := b.checkKey(key)
	if err != nil {
		return objstore.Attrs{}, fmt.Errorf("s3: stat: %w", err)
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(b.loc.bucket),
		Key:    aws.String(full),
	})
	if err != nil {
		return objstore.Attrs{}, b.fail("stat", key, err, condNone)
	}
	return objstore.Attrs{
		Key:     key,
		Size:    aws.ToInt64(out.ContentLength),
		ETag:    etag(out.ETag),
		ModTime: aws.ToTime(out.LastModified),
	}, nil
}

// Delete removes the objects with the given keys with DeleteObjects requests of at most 1,000
// keys each. Missing keys are not an error; if any key is invalid nothing is deleted. If the
// server reports a failure for any key, Delete fails after trying every batch.
func (b *Bucket) Delete(ctx context.Context, keys ...string) error {
	seen := make(map[string]bool, len(keys))
	ids := make([]types.ObjectIdentifier, 0, len(keys))
	for _, key := range keys {
		full, err := b.checkKey(key)
		if err != nil {
			return fmt.Errorf("s3: delete: %w", err)
		}
		if !seen[full] {
			seen[full] = true
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(full)})
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: delete: %w", err)
	}
	var errs []error
	for start := 0; start < len(ids); start += maxDeleteBatch {
		batch := ids[start:min(start+maxDeleteBatch, len(ids))]
		out, err := b.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(b.loc.bucket),
			Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
		})
		if err != nil {
			first := strings.TrimPrefix(aws.ToString(batch[0].Key), b.loc.prefix)
			errs = append(errs, b.fail(fmt.Sprintf("delete %d keys from", len(batch)), first, err, condNone))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue // already gone: what we wanted
			}
			key := strings.TrimPrefix(aws.ToString(e.Key), b.loc.prefix)
			errs = append(errs, b.fail("delete", key, &smithy.GenericAPIError{
				Code: aws.ToString(e.Code), Message: aws.ToString(e.Message),
			}, condNone))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("s3: delete of %d keys: %d failed: %w", len(ids), len(errs), errors.Join(errs...))
	}
	return nil
}

// List calls fn for every object whose key starts with prefix, in lexical key order (S3 lists
// in UTF-8 byte order), using ListObjectsV2. Objects whose names are not valid keys, such as
// the "folder/" markers consoles create, are skipped.
//
// A prefix that no valid key can start with (one with an empty, "." or ".." element, or a
// forbidden character) lists nothing, without a request: S3 servers may reject such prefixes.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	return b.ListAfter(ctx, prefix, "", fn)
}

// ListAfter is List of the keys after after, sent as ListObjectsV2's StartAfter, so that the
// keys before it are not read.
func (b *Bucket) ListAfter(ctx context.Context, prefix, after string, fn func(objstore.Attrs) error) error {
	server, ok := serverPrefix(prefix)
	if !ok {
		return ctx.Err()
	}
	in := &s3.ListObjectsV2Input{
		Bucket: aws.String(b.loc.bucket),
		Prefix: aws.String(b.loc.prefix + server),
	}
	if after != "" && utf8.ValidString(after) {
		in.StartAfter = aws.String(b.loc.prefix + after)
	}
	p := s3.NewListObjectsV2Paginator(b.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return b.fail("list", prefix+"*", err, condNone)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), b.loc.prefix)
			if !ok || !strings.HasPrefix(key, prefix) || key <= after || objstore.ValidateKey(key) != nil {
				continue
			}
			if err := fn(objstore.Attrs{
				Key:     key,
				Size:    aws.ToInt64(o.Size),
				ETag:    etag(o.ETag),
				ModTime: aws.ToTime(o.LastModified),
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// serverPrefix returns the prefix to send for a List by prefix, and false if no valid key can
// start with prefix. A prefix that ends inside a multi-byte UTF-8 character is valid but cannot
// be sent (S3 wants UTF-8): the incomplete character is left to the client-side filter.
func serverPrefix(prefix string) (string, bool) {
	if len(prefix) > objstore.MaxKeyLen {
		return "", false
	}
	elems := strings.Split(prefix, "/")
	for _, elem := range elems[:len(elems)-1] {
		if elem == "" || elem == "." || elem == ".." {
			return "", false
		}
	}
	for i, r := range prefix {
		if r == utf8.RuneError {
			if rest := prefix[i:]; !utf8.FullRuneInString(rest) {
				return prefix[:i], true // an incomplete character at the end
			}
			return "", false
		}
		if unicode.IsControl(r) || r == '\\' {
			return "", false
		}
	}
	return prefix, true
}
