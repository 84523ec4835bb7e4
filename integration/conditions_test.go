package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stowken/stowken/conversation"
)

// stripProxy is a reverse proxy in front of the S3 server that removes one request header, as
// an S3-compatible server that accepts the header and ignores it. The header is signed (SigV4),
// so the proxy signs the request again without it, with the test's credentials.
type stripProxy struct {
	t        *testing.T
	header   string
	creds    aws.Credentials
	proxy    *httputil.ReverseProxy
	stripped atomic.Int64 // requests whose header was removed
}

// authRE parses a SigV4 Authorization header: credential scope and signed headers.
var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([^,]+), ?Signature=[0-9a-f]+$`)

// newStripProxy starts a proxy on 127.0.0.1 in front of target that strips header from every
// request, and returns its URL.
func newStripProxy(t *testing.T, target, header string) (*stripProxy, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &stripProxy{t: t, header: http.CanonicalHeaderKey(header), creds: aws.Credentials{AccessKeyID: "minioadmin", SecretAccessKey: "minioadmin"},
		proxy: httputil.NewSingleHostReverseProxy(u)}
	if id := os.Getenv("AWS_ACCESS_KEY_ID"); id != "" {
		p.creds = aws.Credentials{AccessKeyID: id, SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *stripProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.Header[p.header]; ok {
		if err := p.strip(r); err != nil {
			p.t.Errorf("proxy: %s %s: %v", r.Method, r.URL, err)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	}
	p.proxy.ServeHTTP(w, r)
}

// strip removes the header and signs the request again, over the headers it was signed with.
func (p *stripProxy) strip(r *http.Request) error {
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return fmt.Errorf("unexpected Authorization %q", r.Header.Get("Authorization"))
	}
	region, service, signed := m[1], m[2], strings.Split(m[3], ";")
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return err
	}
	r.Header.Del(p.header)
	// Sign a copy carrying exactly the originally signed headers, less the stripped one.
	s := r.Clone(r.Context())
	s.Header = http.Header{}
	for _, h := range signed {
		if k := http.CanonicalHeaderKey(h); k != p.header && k != "Host" {
			s.Header[k] = r.Header.Values(k)
		}
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(r.Context(), p.creds, s, r.Header.Get("X-Amz-Content-Sha256"), service, region, when); err != nil {
		return err
	}
	r.Header.Set("Authorization", s.Header.Get("Authorization"))
	p.stripped.Add(1)
	return nil
}

// TestConditionalWritesIgnoredCLI uses the CLI as a new user would against a server that
// ignores If-None-Match (or If-Match): MinIO behind a proxy that strips the header. Without the
// check, init would exit 0, "put x.json" and "put y.json" under one id would both exit 0, "get"
// would return y, and "verify" would say ok: the first conversation silently replaced. The test
// requires that init refuses the server, naming the condition it ignores, and so does put,
// writing nothing; that the same store used without the proxy works; and that a later init
// through the proxy deletes the marker of the passed check, after which puts through the proxy
// are refused again.
func TestConditionalWritesIgnoredCLI(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	for _, tc := range []struct{ header, want string }{
		{"If-None-Match", "ignores If-None-Match"},
		{"If-Match", "ignores If-Match"},
	} {
		t.Run(tc.header, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			proxy, proxyURL := newStripProxy(t, st.S3Endpoint, tc.header)
			behind := *st
			behind.S3Endpoint = proxyURL
			c, direct := newCLI(t, bin, &behind), newCLI(t, bin, st)
			dir := t.TempDir()
			x, y := filepath.Join(dir, "x.json"), filepath.Join(dir, "y.json")
			writeConv(t, x, chat("cond-1", "cond", "You are terse.", words(71, 400), "First answer."))
			writeConv(t, y, chat("cond-1", "cond", "You are terse.", words(72, 400), "A different answer."))

			refused := func(c *cli, args ...string) {
				t.Helper()
				stdout, stderr, code := c.run(args...)
				if code != 1 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "ignores conditional writes") {
					t.Fatalf("stowken %s behind a proxy stripping %s: exit %d, stdout %q, stderr %q; want exit 1 and %q",
						strings.Join(args, " "), tc.header, code, stdout, stderr, tc.want)
				}
				t.Logf("stowken %s: %s", strings.Join(args, " "), strings.TrimSpace(stderr))
			}
			refused(c, "init")
			refused(c, "put", x)
			refused(c, "put", y)
			if _, _, code := c.run("get", "cond-1"); code != 1 {
				t.Fatalf("get of the refused conversation: exit %d, want 1", code)
			}
			c.ok("verify")
			if n := proxy.stripped.Load(); n == 0 {
				t.Fatalf("the proxy stripped no %s header", tc.header)
			}
			if keys := st.keys(t, ""); len(keys) != 0 {
				t.Fatalf("the refused commands left objects %v", keys)
			}

			// Without the proxy: init passes and writes the marker, the first put stores x,
			// the second is a conflict.
			if out := direct.ok("init"); !strings.Contains(out, "conditional writes checked") {
				t.Fatalf("init without the proxy printed %q", out)
			}
			direct.ok("put", x)
			if _, stderr, code := direct.run("put", y); code != 1 || !strings.Contains(stderr, "different conversation") {
				t.Fatalf("put y without the proxy: exit %d, %q; want a conflict", code, stderr)
			}

			// init through the proxy fails and deletes the marker; put through it is refused.
			refused(c, "init")
			if keys := st.keys(t, "checks/"); len(keys) != 0 {
				t.Fatalf("after the failed init: %v", keys)
			}
			refused(c, "put", y)
			if got := direct.ok("get", "cond-1"); !strings.Contains(got, "First answer.") {
				t.Fatalf("get returned %s, want x", got)
			}
			direct.ok("verify")
		})
	}
}

// writeConv writes c as JSON to path.
func writeConv(t *testing.T, path string, c *conversation.Conversation) {
	t.Helper()
	if err := os.WriteFile(path, mustMarshal(t, c), 0o644); err != nil {
		t.Fatal(err)
	}
}
