package s3

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stowken/stowken/internal/testenv"
	"github.com/stowken/stowken/objstore"
	"github.com/stowken/stowken/objstore/objstoretest"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", s, err)
	}
	return u
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    location
		wantErr string
	}{
		{in: "s3://bucket", want: location{bucket: "bucket"}},
		{in: "s3://bucket/", want: location{bucket: "bucket"}},
		{in: "s3://bucket/prefix", want: location{bucket: "bucket", prefix: "prefix/"}},
		{in: "s3://bucket/a/b/", want: location{bucket: "bucket", prefix: "a/b/"}},
		{in: "s3://my.bucket-1/p?path_style=true", want: location{bucket: "my.bucket-1", prefix: "p/", pathStyle: true}},
		{in: "s3://bucket?path_style=false&region=eu-west-1", want: location{bucket: "bucket", region: "eu-west-1"}},
		{
			in:   "s3://bucket/x?endpoint=http%3A%2F%2F127.0.0.1%3A9000&path_style=1",
			want: location{bucket: "bucket", prefix: "x/", pathStyle: true, endpoint: "http://127.0.0.1:9000"},
		},
		{in: "s3://bucket?endpoint=https://minio.example:9000/", want: location{bucket: "bucket", endpoint: "https://minio.example:9000/"}},

		{in: "file:///tmp/x", wantErr: "scheme"},
		{in: "S3x://bucket", wantErr: "scheme"},
		{in: "s3:bucket", wantErr: "want s3://bucket"},
		{in: "s3:///prefix", wantErr: "bucket name"},
		{in: "s3://ab", wantErr: "3 to 63"},
		{in: "s3://bucket:9000/p", wantErr: "contains"},
		{in: "s3://key:secret@bucket", wantErr: "credentials"},
		{in: "s3://bucket/a//b", wantErr: "bad prefix"},
		{in: "s3://bucket/a/../b", wantErr: "bad prefix"},
		{in: "s3://bucket/p#frag", wantErr: "fragment"},
		{in: "s3://bucket?path_style=maybe", wantErr: "path_style"},
		{in: "s3://bucket?path_style=true&path_style=false", wantErr: "exactly one"},
		{in: "s3://bucket?region=", wantErr: "exactly one"},
		{in: "s3://bucket?endpoint=127.0.0.1:9000", wantErr: "endpoint"},
		{in: "s3://bucket?endpoint=ftp://host", wantErr: "endpoint"},
		{in: "s3://bucket?pathstyle=true", wantErr: "unknown parameter"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseURL(mustURL(t, tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseURL(%q) = %+v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("parseURL(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
	if _, err := parseURL(nil); err == nil {
		t.Error("parseURL(nil) succeeded")
	}
}

// sdkError builds the error the SDK returns for an HTTP error response.
func sdkError(status int, code string) error {
	var inner error = &smithy.GenericAPIError{Code: code, Message: "test"}
	switch code {
	case "":
		inner = errors.New("no body")
	case "NoSuchKey":
		inner = &types.NoSuchKey{Message: aws.String("test")}
	case "NotFound":
		inner = &types.NotFound{Message: aws.String("test")}
	}
	return &smithy.OperationError{
		ServiceID:     "S3",
		OperationName: "Test",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      inner,
			},
			RequestID: "req",
		},
	}
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		name string
		err  error
		cond condition
		want error
	}{
		{"NoSuchKey", sdkError(404, "NoSuchKey"), condNone, objstore.ErrNotFound},
		{"HEAD 404 has no code", sdkError(404, "NotFound"), condNone, objstore.ErrNotFound},
		{"404 without a body", sdkError(404, ""), condNone, objstore.ErrNotFound},
		{"NoSuchBucket is not a missing object", sdkError(404, "NoSuchBucket"), condNone, nil},
		{"NoSuchBucket on If-Match", sdkError(404, "NoSuchBucket"), condIfMatch, nil},
		{"NoSuchBucket on If-None-Match", sdkError(404, "NoSuchBucket"), condIfNoneMatch, nil},
		{"If-None-Match 412", sdkError(412, "PreconditionFailed"), condIfNoneMatch, objstore.ErrExists},
		{"If-None-Match 412 without a body", sdkError(412, ""), condIfNoneMatch, objstore.ErrExists},
		{"If-None-Match 409", sdkError(409, "ConditionalRequestConflict"), condIfNoneMatch, nil},
		{"If-None-Match other 409", sdkError(409, "OperationAborted"), condIfNoneMatch, nil},
		{"If-Match 412", sdkError(412, "PreconditionFailed"), condIfMatch, objstore.ErrPrecondition},
		{"If-Match 409", sdkError(409, "ConditionalRequestConflict"), condIfMatch, nil},
		{"If-Match on a missing key", sdkError(404, "NoSuchKey"), condIfMatch, objstore.ErrPrecondition},
		{"412 without a condition", sdkError(412, "PreconditionFailed"), condNone, nil},
		{"403", sdkError(403, "AccessDenied"), condNone, nil},
		{"503 SlowDown", sdkError(503, "SlowDown"), condIfNoneMatch, nil},
		{"500", sdkError(500, "InternalError"), condIfMatch, nil},
		{"MinIO parent is an object", sdkError(400, "XMinioParentIsObject"), condIfNoneMatch, nil},
		{"network", &smithy.OperationError{Err: errors.New("connection refused")}, condNone, nil},
		{"cancelled", context.Canceled, condIfMatch, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := translate(tc.err, tc.cond); got != tc.want {
				t.Errorf("translate(%v, %d) = %v, want %v", tc.err, tc.cond, got, tc.want)
			}
		})
	}

	b := &Bucket{loc: location{bucket: "bkt", prefix: "pre/"}}
	err := b.fail("get", "k", sdkError(404, "NoSuchKey"), condNone)
	var apiErr smithy.APIError
	switch {
	case !errors.Is(err, objstore.ErrNotFound):
		t.Errorf("fail() = %v, not ErrNotFound", err)
	case !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NoSuchKey":
		t.Errorf("fail() = %v, lost the SDK error", err)
	case !strings.Contains(err.Error(), "s3://bkt/pre/k"):
		t.Errorf("fail() = %v, does not name the object", err)
	}
}

func TestQuoteETag(t *testing.T) {
	for in, want := range map[string]string{`abc`: `"abc"`, `"abc"`: `"abc"`, `W/"abc"`: `W/"abc"`} {
		if got := quoteETag(in); got != want {
			t.Errorf("quoteETag(%q) = %q, want %q", in, got, want)
		}
	}
	if got := etag(aws.String(`"abc"`)); got != "abc" {
		t.Errorf("etag = %q", got)
	}
}

// hermetic keeps the developer's AWS configuration out of a test.
func hermetic(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, v := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func staticCreds(id, secret string) func(*config.LoadOptions) error {
	return config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, ""))
}

// fakeBucket opens a bucket on a fake S3 server that h implements. prefix may end in
// "?param=value" for extra URL parameters.
func fakeBucket(t *testing.T, prefix string, opts Options, h http.HandlerFunc) *Bucket {
	t.Helper()
	hermetic(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts.ConfigOptions = append(opts.ConfigOptions, staticCreds("AKID", "SECRET"))
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 20 * time.Millisecond
	}
	prefix, extra, _ := strings.Cut(prefix, "?")
	if extra != "" {
		extra = "&" + extra
	}
	u := mustURL(t, "s3://bucket/"+prefix+"?path_style=true&endpoint="+url.QueryEscape(srv.URL)+extra)
	b, err := Open(t.Context(), u, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b
}

func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>test</Message><RequestId>r</RequestId></Error>`, code)
}

func TestOpenDefaults(t *testing.T) {
	hermetic(t)
	b, err := Open(t.Context(), mustURL(t, "s3://bucket/p"), Options{ConfigOptions: []func(*config.LoadOptions) error{staticCreds("a", "b")}})
	if err != nil {
		t.Fatal(err)
	}
	if b.region != DefaultRegion {
		t.Errorf("region = %q, want %q", b.region, DefaultRegion)
	}
	t.Setenv("AWS_REGION", "eu-central-1")
	if b, err = Open(t.Context(), mustURL(t, "s3://bucket/p"), Options{}); err != nil || b.region != "eu-central-1" {
		t.Errorf("with AWS_REGION: region = %q, %v", b.region, err)
	}
	if b, err = Open(t.Context(), mustURL(t, "s3://bucket/p?region=ap-south-1"), Options{}); err != nil || b.region != "ap-south-1" {
		t.Errorf("with region=: region = %q, %v", b.region, err)
	}
	if _, err := Open(t.Context(), mustURL(t, "s3://bucket/p?bogus=1"), Options{}); err == nil {
		t.Error("Open with an unknown parameter succeeded")
	}
}

// TestEndpointFromEnvironment checks that AWS_ENDPOINT_URL_S3 reaches the client.
func TestEndpointFromEnvironment(t *testing.T) {
	hermetic(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		writeError(w, http.StatusNotFound, "NoSuchKey")
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	b, err := Open(t.Context(), mustURL(t, "s3://bucket?path_style=true"), Options{
		ConfigOptions: []func(*config.LoadOptions) error{staticCreds("a", "b")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(t.Context(), "k"); !errors.Is(err, objstore.ErrNotFound) || hits.Load() != 1 {
		t.Fatalf("Get = %v after %d requests to AWS_ENDPOINT_URL_S3", err, hits.Load())
	}
}

// A create-if-absent that meets another upload in flight (409) is retried, and reports
// ErrExists only once the other upload has completed (412).
func TestConflictRetriedUntilResolved(t *testing.T) {
	var n atomic.Int32
	b := fakeBucket(t, "pre", Options{}, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1) == 1 {
			writeError(w, 409, "ConditionalRequestConflict")
			return
		}
		writeError(w, 412, "PreconditionFailed")
	})
	_, err := b.Put(context.Background(), "k", []byte("x"), objstore.PutOptions{IfNoneMatch: true})
	if !errors.Is(err, objstore.ErrExists) || n.Load() != 2 {
		t.Fatalf("Put = %v after %d requests, want ErrExists after 2", err, n.Load())
	}
}

func crc32cBase64(data []byte) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	return base64.StdEncoding.EncodeToString(b[:])
}

// TestRequests checks the requests the SDK sends and how their answers are translated, against
// a fake server.
func TestRequests(t *testing.T) {
	type response struct {
		status int
		code   string // error code, for an error response
	}
	tests := []struct {
		name       string
		call       func(*Bucket) error
		resp       response
		wantMethod string
		wantPath   string
		wantHeader map[string]string
		wantErr    error // a sentinel, or nil for success
		// wantRequests is the number of requests the call sends: 1 (the default) unless the
		// answer is one the retryer retries.
		wantRequests int
		wantOther    bool // an error that is none of the sentinels
	}{
		{
			name: "create-if-absent sends If-None-Match and a CRC32C",
			call: func(b *Bucket) error {
				_, err := b.Put(context.Background(), "k/1", []byte("data"), objstore.PutOptions{IfNoneMatch: true, ContentType: "text/plain"})
				return err
			},
			resp:       response{status: 412, code: "PreconditionFailed"},
			wantMethod: "PUT", wantPath: "/bucket/pre/k/1",
			wantHeader: map[string]string{"If-None-Match": "*", "X-Amz-Checksum-Crc32c": crc32cBase64([]byte("data")), "Content-Type": "text/plain"},
			wantErr:    objstore.ErrExists,
		},
		{
			name: "create-if-absent conflict",
			call: func(b *Bucket) error {
				_, err := b.Put(context.Background(), "k", nil, objstore.PutOptions{IfNoneMatch: true})
				return err
			},
			// Another upload of the key is in flight: retried, and never taken for "exists".
			resp:       response{status: 409, code: "ConditionalRequestConflict"},
			wantMethod: "PUT", wantPath: "/bucket/pre/k",
			wantOther: true, wantRequests: DefaultMaxAttempts,
		},
		{
			name: "If-Match is quoted",
			call: func(b *Bucket) error {
				_, err := b.Put(context.Background(), "k", []byte("x"), objstore.PutOptions{IfMatch: "abc"})
				return err
			},
			resp:       response{status: 412, code: "PreconditionFailed"},
			wantMethod: "PUT", wantPath: "/bucket/pre/k",
			wantHeader: map[string]string{"If-Match": `"abc"`},
			wantErr:    objstore.ErrPrecondition,
		},
		{
			name: "If-Match on a missing key",
			call: func(b *Bucket) error {
				_, err := b.Put(context.Background(), "k", []byte("x"), objstore.PutOptions{IfMatch: "abc"})
				return err
			},
			resp:       response{status: 404, code: "NoSuchKey"},
			wantMethod: "PUT", wantPath: "/bucket/pre/k",
			wantErr: objstore.ErrPrecondition,
		},
		{
			name: "unconditional put sends no condition",
			call: func(b *Bucket) error {
				_, err := b.Put(context.Background(), "k", []byte("x"), objstore.PutOptions{})
				return err
			},
			resp:       response{status: 200},
			wantMethod: "PUT", wantPath: "/bucket/pre/k",
			wantHeader: map[string]string{"If-Match": "", "If-None-Match": ""},
		},
		{
			name:       "get of a missing key",
			call:       func(b *Bucket) error { _, _, err := b.Get(context.Background(), "k"); return err },
			resp:       response{status: 404, code: "NoSuchKey"},
			wantMethod: "GET", wantPath: "/bucket/pre/k",
			wantHeader: map[string]string{"X-Amz-Checksum-Mode": "ENABLED"},
			wantErr:    objstore.ErrNotFound,
		},
		{
			name:       "get from a missing bucket",
			call:       func(b *Bucket) error { _, _, err := b.Get(context.Background(), "k"); return err },
			resp:       response{status: 404, code: "NoSuchBucket"},
			wantMethod: "GET", wantPath: "/bucket/pre/k",
			wantOther: true,
		},
		{
			name:       "stat of a missing key (HEAD has no body)",
			call:       func(b *Bucket) error { _, err := b.Stat(context.Background(), "k"); return err },
			resp:       response{status: 404},
			wantMethod: "HEAD", wantPath: "/bucket/pre/k",
			wantErr: objstore.ErrNotFound,
		},
		{
			name:       "access denied",
			call:       func(b *Bucket) error { _, err := b.Stat(context.Background(), "k"); return err },
			resp:       response{status: 403, code: "AccessDenied"},
			wantMethod: "HEAD", wantPath: "/bucket/pre/k",
			wantOther: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu       sync.Mutex
				requests []*http.Request
				bodies   [][]byte
			)
			b := fakeBucket(t, "pre", Options{}, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				requests, bodies = append(requests, r), append(bodies, body)
				mu.Unlock()
				if tc.resp.status >= 300 {
					if r.Method == http.MethodHead || tc.resp.code == "" {
						w.WriteHeader(tc.resp.status)
						return
					}
					writeError(w, tc.resp.status, tc.resp.code)
					return
				}
				w.Header().Set("ETag", `"etag"`)
				w.WriteHeader(tc.resp.status)
			})
			err := tc.call(b)
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("got %v, want %v", err, tc.wantErr)
			case tc.wantOther && (err == nil || errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrExists) || errors.Is(err, objstore.ErrPrecondition)):
				t.Errorf("got %v, want an error that is no sentinel", err)
			case tc.wantErr == nil && !tc.wantOther && err != nil:
				t.Errorf("got %v, want success", err)
			}
			if want := max(tc.wantRequests, 1); len(requests) != want {
				t.Fatalf("%d requests, want %d (4xx answers other than 409 ConditionalRequestConflict must not be retried)", len(requests), want)
			}
			r := requests[0]
			if r.Method != tc.wantMethod || r.URL.Path != tc.wantPath {
				t.Errorf("request %s %s, want %s %s", r.Method, r.URL.Path, tc.wantMethod, tc.wantPath)
			}
			for h, want := range tc.wantHeader {
				if got := r.Header.Get(h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name         string
		failures     int // answers before success
		status       int
		code         string
		maxAttempts  int
		wantAttempts int
		wantOK       bool
		single       bool // PutOptions.SingleAttempt
	}{
		{"throttled then ok", 3, 503, "SlowDown", 0, 4, true, false},
		{"5xx then ok", 2, 500, "InternalError", 0, 3, true, false},
		{"502 without a body then ok", 1, 502, "", 0, 2, true, false},
		{"5xx until attempts run out", 100, 500, "InternalError", 3, 3, false, false},
		{"throttled until attempts run out", 100, 503, "SlowDown", 5, 5, false, false},
		{"4xx is not retried", 100, 400, "InvalidRequest", 0, 1, false, false},
		{"single attempt: 5xx is not retried", 100, 500, "InternalError", 0, 1, false, true},
		{"single attempt: throttling is not retried", 100, 503, "SlowDown", 5, 1, false, true},
		{"single attempt: a conflict is not retried", 100, 409, "ConditionalRequestConflict", 0, 1, false, true},
		{"single attempt succeeds", 0, 0, "", 0, 1, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var attempts atomic.Int32
			var badBody atomic.Bool
			b := fakeBucket(t, "", Options{MaxAttempts: tc.maxAttempts}, func(w http.ResponseWriter, r *http.Request) {
				n := attempts.Add(1)
				if body, _ := io.ReadAll(r.Body); string(body) != "payload" {
					badBody.Store(true)
				}
				if int(n) <= tc.failures {
					if tc.code == "" {
						w.WriteHeader(tc.status)
						return
					}
					writeError(w, tc.status, tc.code)
					return
				}
				w.Header().Set("ETag", `"e"`)
			})
			start := time.Now()
			a, err := b.Put(context.Background(), "k", []byte("payload"), objstore.PutOptions{SingleAttempt: tc.single})
			if tc.wantOK && (err != nil || a.ETag != "e") {
				t.Fatalf("Put = %+v, %v; want success", a, err)
			}
			if !tc.wantOK && err == nil {
				t.Fatal("Put succeeded")
			}
			if got := int(attempts.Load()); got != tc.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tc.wantAttempts)
			}
			if badBody.Load() {
				t.Error("a retry sent a different body")
			}
			t.Logf("%v in %v", err, time.Since(start))
		})
	}
}

// TestDefaultRetryPolicy checks the defaults without waiting for them: the Options zero value
// gives 8 attempts.
func TestDefaultRetryPolicy(t *testing.T) {
	var attempts atomic.Int32
	b := fakeBucket(t, "", Options{MaxBackoff: time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		writeError(w, 503, "SlowDown")
	})
	if _, err := b.Stat(context.Background(), "k"); err == nil {
		t.Fatal("Stat succeeded")
	}
	if got := attempts.Load(); got != DefaultMaxAttempts {
		t.Errorf("%d attempts, want %d", got, DefaultMaxAttempts)
	}
}

func TestRequestTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	t.Run("a hung attempt is retried", func(t *testing.T) {
		var attempts atomic.Int32
		b := fakeBucket(t, "", Options{RequestTimeout: timeout}, func(w http.ResponseWriter, r *http.Request) {
			if attempts.Add(1) == 1 {
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return
			}
			w.Header().Set("Content-Length", "5")
			w.Header().Set("ETag", `"e"`)
			_, _ = io.WriteString(w, "hello")
		})
		start := time.Now()
		data, _, err := b.Get(context.Background(), "k")
		if err != nil || string(data) != "hello" {
			t.Fatalf("Get = %q, %v", data, err)
		}
		if attempts.Load() != 2 {
			t.Errorf("%d attempts, want 2", attempts.Load())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v with a %v attempt timeout", d, timeout)
		}
	})
	t.Run("a stalled body fails", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		b := fakeBucket(t, "", Options{RequestTimeout: timeout, MaxAttempts: 1}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "hello")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		start := time.Now()
		if data, _, err := b.Get(context.Background(), "k"); err == nil {
			t.Fatalf("Get of a stalled body = %q", data)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v with a %v attempt timeout", d, timeout)
		}
	})
	t.Run("the context bounds the whole call", func(t *testing.T) {
		b := fakeBucket(t, "", Options{RequestTimeout: time.Minute}, func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if _, err := b.Stat(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stat = %v, want context.DeadlineExceeded", err)
		}
	})
}

type deleteRequest struct {
	Quiet   bool `xml:"Quiet"`
	Objects []struct {
		Key string `xml:"Key"`
	} `xml:"Object"`
}

func TestDeleteBatches(t *testing.T) {
	var (
		mu      sync.Mutex
		batches [][]string
		headers []http.Header
		quiet   []bool
	)
	failKey := "pre/k/01500"
	b := fakeBucket(t, "pre", Options{}, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !r.URL.Query().Has("delete") {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		var req deleteRequest
		if err := xml.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var keys []string
		for _, o := range req.Objects {
			keys = append(keys, o.Key)
		}
		mu.Lock()
		batches, headers, quiet = append(batches, keys), append(headers, r.Header), append(quiet, req.Quiet)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><DeleteResult>`)
		if slices.Contains(keys, failKey) {
			fmt.Fprintf(w, `<Error><Key>%s</Key><Code>AccessDenied</Code><Message>no</Message></Error>`, failKey)
			fmt.Fprint(w, `<Error><Key>pre/k/01501</Key><Code>NoSuchKey</Code><Message>gone</Message></Error>`)
		}
		fmt.Fprint(w, `</DeleteResult>`)
	})

	keys := make([]string, 2500)
	for i := range keys {
		keys[i] = fmt.Sprintf("k/%05d", i)
	}
	keys = append(keys, keys[0], keys[1]) // duplicates are sent once
	err := b.Delete(context.Background(), keys...)
	if err == nil || !strings.Contains(err.Error(), "s3://bucket/pre/k/01500") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("Delete = %v; want a failure naming k/01500 and AccessDenied", err)
	}
	if strings.Contains(fmt.Sprint(err), "01501") || errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Delete = %v; NoSuchKey for a key is success", err)
	}
	var sizes []int
	var sent []string
	for i, batch := range batches {
		sizes = append(sizes, len(batch))
		sent = append(sent, batch...)
		if !quiet[i] {
			t.Errorf("batch %d not in quiet mode", i)
		}
		h := headers[i]
		if h.Get("Content-Md5") == "" && h.Get("X-Amz-Checksum-Crc32") == "" && h.Get("X-Amz-Checksum-Crc32c") == "" &&
			h.Get("X-Amz-Checksum-Sha256") == "" && h.Get("X-Amz-Checksum-Crc64nvme") == "" {
			t.Errorf("batch %d carries no Content-MD5 or checksum header: %v", i, h)
		}
	}
	if !slices.Equal(sizes, []int{1000, 1000, 500}) {
		t.Errorf("batch sizes %v, want [1000 1000 500]", sizes)
	}
	slices.Sort(sent)
	var want []string
	for _, k := range keys[:2500] {
		want = append(want, "pre/"+k)
	}
	if !slices.Equal(sent, want) {
		t.Errorf("sent %d keys, want the 2500 distinct keys with the prefix", len(sent))
	}

	// Invalid keys reject the whole call before any request.
	batches = nil
	if err := b.Delete(context.Background(), "ok", "../bad"); !errors.Is(err, objstore.ErrInvalidKey) || len(batches) != 0 {
		t.Errorf("Delete with an invalid key = %v after %d requests", err, len(batches))
	}
	if err := b.Delete(context.Background()); err != nil || len(batches) != 0 {
		t.Errorf("Delete() = %v after %d requests", err, len(batches))
	}
}

func TestEnsureBucket(t *testing.T) {
	tests := []struct {
		name       string
		region     string
		head       int    // HeadBucket status
		create     int    // CreateBucket status
		createCode string // CreateBucket error code
		wantCalls  []string
		wantErr    bool
		wantLoc    string // LocationConstraint sent
	}{
		{name: "exists", head: 200, wantCalls: []string{"HEAD"}},
		{name: "created", head: 404, create: 200, wantCalls: []string{"HEAD", "PUT"}},
		{name: "created elsewhere", region: "eu-west-1", head: 404, create: 200, wantCalls: []string{"HEAD", "PUT"}, wantLoc: "eu-west-1"},
		{name: "owned by us", head: 404, create: 409, createCode: "BucketAlreadyOwnedByYou", wantCalls: []string{"HEAD", "PUT"}},
		{name: "owned by someone else", head: 403, create: 409, createCode: "BucketAlreadyExists", wantCalls: []string{"HEAD", "PUT", "HEAD"}, wantErr: true},
		{name: "denied", head: 403, create: 403, createCode: "AccessDenied", wantCalls: []string{"HEAD", "PUT"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			var loc string
			h := func(w http.ResponseWriter, r *http.Request) {
				calls = append(calls, r.Method)
				switch r.Method {
				case http.MethodHead:
					w.WriteHeader(tc.head)
				case http.MethodPut:
					body, _ := io.ReadAll(r.Body)
					var cfg struct {
						LocationConstraint string `xml:"LocationConstraint"`
					}
					_ = xml.Unmarshal(body, &cfg)
					loc = cfg.LocationConstraint
					if tc.createCode != "" {
						writeError(w, tc.create, tc.createCode)
						return
					}
					w.WriteHeader(tc.create)
				}
			}
			prefix := ""
			if tc.region != "" {
				prefix = "?region=" + tc.region // appended to the bucket path below
			}
			b := fakeBucket(t, prefix, Options{MaxAttempts: 1}, h)
			err := b.EnsureBucket(context.Background())
			if (err != nil) != tc.wantErr {
				t.Errorf("EnsureBucket = %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(calls, tc.wantCalls) {
				t.Errorf("requests %v, want %v", calls, tc.wantCalls)
			}
			if loc != tc.wantLoc {
				t.Errorf("LocationConstraint %q, want %q", loc, tc.wantLoc)
			}
		})
	}
}

func TestKeyLengthWithPrefix(t *testing.T) {
	b := &Bucket{loc: location{bucket: "bkt", prefix: "0123456789/"}}
	ok := strings.Repeat("k", objstore.MaxKeyLen-len(b.loc.prefix))
	if _, err := b.checkKey(ok); err != nil {
		t.Errorf("checkKey of a %d-byte key under an %d-byte prefix: %v", len(ok), len(b.loc.prefix), err)
	}
	if _, err := b.checkKey(ok + "k"); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Errorf("checkKey of a key one byte too long: %v, want ErrInvalidKey", err)
	}
}

// Integration tests against a real server.

// testServer returns how to reach the S3 server named by STOWKEN_TEST_S3_ENDPOINT, skipping
// the test when it is unset (failing it under CI=true).
func testServer(t *testing.T) (endpoint, bucket string, opts Options) {
	t.Helper()
	endpoint = testenv.Endpoints(t, "run them with scripts/with-servers.sh go test ./objstore/s3/", testenv.S3Endpoint)[0]
	bucket = os.Getenv("STOWKEN_TEST_S3_BUCKET")
	if bucket == "" {
		bucket = "stowken-test"
	}
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" && secret == "" {
		id, secret = "minioadmin", "minioadmin"
	}
	opts = Options{ConfigOptions: []func(*config.LoadOptions) error{staticCreds(id, secret)}}
	return endpoint, bucket, opts
}

func openServer(t *testing.T, endpoint, bucket, prefix string, opts Options) *Bucket {
	t.Helper()
	q := url.Values{"path_style": {"true"}, "endpoint": {endpoint}}
	u := &url.URL{Scheme: "s3", Host: bucket, Path: "/" + prefix, RawQuery: q.Encode()}
	b, err := Open(t.Context(), u, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", u, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestServer(t *testing.T) {
	endpoint, bucket, opts := testServer(t)
	b := openServer(t, endpoint, bucket, "", opts)
	for i := range 2 { // creating an existing bucket succeeds
		if err := b.EnsureBucket(t.Context()); err != nil {
			t.Fatalf("EnsureBucket (call %d): %v", i+1, err)
		}
	}
	t.Run("Conformance", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) objstore.Bucket { return openServer(t, endpoint, bucket, "", opts) })
	})
	t.Run("Prefix", func(t *testing.T) {
		ctx := t.Context()
		top := fmt.Sprintf("prefixtest-%d", time.Now().UnixNano())
		inner := openServer(t, endpoint, bucket, top+"/inner", opts)
		outer := openServer(t, endpoint, bucket, top, opts)
		t.Cleanup(func() {
			_ = outer.List(context.Background(), "", func(a objstore.Attrs) error {
				return outer.Delete(context.Background(), a.Key)
			})
		})
		if _, err := inner.Put(ctx, "a/b", []byte("x"), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := outer.Put(ctx, "innerx", []byte("y"), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := inner.List(ctx, "", func(a objstore.Attrs) error { got = append(got, a.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{"a/b"}) {
			t.Errorf("List through the inner prefix = %q, want [a/b]", got)
		}
		if data, _, err := outer.Get(ctx, "inner/a/b"); err != nil || string(data) != "x" {
			t.Errorf("Get through the outer prefix = %q, %v", data, err)
		}
		long := strings.Repeat("k", objstore.MaxKeyLen)
		if _, err := inner.Put(ctx, long, nil, objstore.PutOptions{}); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put of a key too long with the prefix: %v, want ErrInvalidKey", err)
		}
	})
	t.Run("Checksums", func(t *testing.T) {
		ctx := t.Context()
		key := fmt.Sprintf("checksumtest-%d", time.Now().UnixNano())
		t.Cleanup(func() { _ = b.Delete(context.Background(), key) })
		// The server verifies the checksum we send: a wrong one is refused and stores nothing.
		_, err := b.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:         aws.String(bucket),
			Key:            aws.String(key),
			Body:           strings.NewReader("data"),
			ChecksumCRC32C: aws.String(crc32cBase64([]byte("other data"))),
		})
		if err == nil {
			t.Fatal("the server accepted an upload with a wrong CRC32C")
		}
		t.Logf("wrong CRC32C refused: %v", err)
		if _, err := b.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("Stat after the refused upload: %v, want ErrNotFound", err)
		}
		// Put stores a CRC32C, which GetObject returns for the SDK to validate.
		data := []byte("checksummed content")
		if _, err := b.Put(ctx, key, data, objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		out, err := b.client.GetObject(ctx, &s3.GetObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = out.Body.Close()
		if got, want := aws.ToString(out.ChecksumCRC32C), crc32cBase64(data); got != want {
			t.Errorf("stored CRC32C = %q, want %q", got, want)
		}
	})
	t.Run("MissingBucket", func(t *testing.T) {
		nb := openServer(t, endpoint, fmt.Sprintf("stowken-missing-%d", time.Now().UnixNano()), "", opts)
		_, _, err := nb.Get(t.Context(), "k")
		if err == nil || errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Get from a missing bucket = %v; want an error that is not ErrNotFound", err)
		}
		if err := nb.List(t.Context(), "", func(objstore.Attrs) error { return nil }); err == nil {
			t.Error("List of a missing bucket succeeded")
		}
		// EnsureBucket creates it.
		if err := nb.EnsureBucket(t.Context()); err != nil {
			t.Fatalf("EnsureBucket of a new bucket: %v", err)
		}
		t.Cleanup(func() {
			_ = nb.Delete(context.Background(), "k")
			_, _ = nb.client.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(nb.loc.bucket)})
		})
		if _, err := nb.Put(t.Context(), "k", []byte("v"), objstore.PutOptions{IfNoneMatch: true}); err != nil {
			t.Fatalf("Put into the new bucket: %v", err)
		}
		if err := nb.EnsureBucket(t.Context()); err != nil {
			t.Fatalf("EnsureBucket of an existing bucket: %v", err)
		}
	})
}
