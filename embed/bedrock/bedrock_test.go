package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/stowken/stowken/embed"
)

// captured is one InvokeModel request as the fake server saw it.
type captured struct {
	method      string
	uri         string // raw request URI, with its escapes
	contentType string
	accept      string
	auth        string
	body        map[string]any
}

// fake is an httptest.Server speaking the REST wire format of Bedrock Runtime's InvokeModel
// (POST /model/{modelId}/invoke) for Titan Text Embeddings V2.
type fake struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []captured

	inflight, maxInflight atomic.Int32

	// respond writes the response for one request; nil means titanRespond.
	respond func(w http.ResponseWriter, r *http.Request, in request)
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxInflight.Load()
		if n <= m || f.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	raw, _ := io.ReadAll(r.Body)
	c := captured{
		method:      r.Method,
		uri:         r.RequestURI,
		contentType: r.Header.Get("Content-Type"),
		accept:      r.Header.Get("Accept"),
		auth:        r.Header.Get("Authorization"),
	}
	_ = json.Unmarshal(raw, &c.body)
	f.mu.Lock()
	f.requests = append(f.requests, c)
	f.mu.Unlock()

	var in request
	if err := json.Unmarshal(raw, &in); err != nil {
		validationError(w, "Malformed input request: "+err.Error())
		return
	}
	if f.respond != nil {
		f.respond(w, r, in)
		return
	}
	titanRespond(w, r, in)
}

func (f *fake) captured() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// client returns a real Bedrock Runtime client pointed at the fake server.
func (f *fake) client() *bedrockruntime.Client {
	return bedrockruntime.NewFromConfig(aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
		BaseEndpoint:     aws.String(f.srv.URL),
		HTTPClient:       f.srv.Client(),
		RetryMaxAttempts: 1,
	})
}

// fakeVector is the (not normalized) embedding the fake model gives text: a function of the
// text, so that the test can tell which vector belongs to which text.
func fakeVector(text string, dims int) []float64 {
	h := fnv.New64a()
	h.Write([]byte(text))
	s := h.Sum64()
	v := make([]float64, dims)
	for j := range v {
		s = s*6364136223846793005 + 1442695040888963407
		v[j] = float64(int64(s>>40)%1000) / 100 // in (-10, 10): far from unit length
	}
	return v
}

func titanRespond(w http.ResponseWriter, _ *http.Request, in request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"embedding":           fakeVector(in.InputText, in.Dimensions),
		"inputTextTokenCount": len(strings.Fields(in.InputText)),
		"embeddingsByType":    map[string]any{"float": fakeVector(in.InputText, in.Dimensions)},
	})
}

// validationError writes the error Bedrock returns for a request it refuses.
func validationError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func unit(v []float64) []float32 {
	var n float64
	for _, x := range v {
		n += x * x
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x / math.Sqrt(n))
	}
	return out
}

func norm(v []float32) float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	return math.Sqrt(n)
}

func TestNewDefaults(t *testing.T) {
	e, err := New(bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1"}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Name(), "bedrock:amazon.titan-embed-text-v2:0:d256"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if e.Dimensions() != 256 || e.conc != 4 || e.model != DefaultModel {
		t.Errorf("Dimensions() = %d, concurrency %d, model %q", e.Dimensions(), e.conc, e.model)
	}
	e, err = New(bedrockruntime.New(bedrockruntime.Options{}), Options{Model: "m", Dimensions: 1024, Concurrency: 9})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != "bedrock:m:d1024" || e.Dimensions() != 1024 || e.conc != 9 {
		t.Errorf("Name() = %q, Dimensions() = %d, concurrency %d", e.Name(), e.Dimensions(), e.conc)
	}
}

func TestNewInvalid(t *testing.T) {
	c := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1"})
	for _, tc := range []struct {
		name   string
		client *bedrockruntime.Client
		opts   Options
	}{
		{"nil client", nil, Options{}},
		{"dimensions 100", c, Options{Dimensions: 100}},
		{"dimensions 1536", c, Options{Dimensions: 1536}},
		{"negative dimensions", c, Options{Dimensions: -256}},
		{"negative concurrency", c, Options{Concurrency: -1}},
		{"model with space", c, Options{Model: "amazon.titan embed"}},
		{"model with newline", c, Options{Model: "amazon.titan\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.client, tc.opts)
			if !errors.Is(err, embed.ErrInvalid) {
				t.Errorf("New = %v, %v; want an error wrapping embed.ErrInvalid", e, err)
			}
		})
	}
}

func TestEmbed(t *testing.T) {
	f := newFake(t)
	// Every request waits until two are under way (or 5 s have passed), so that the test
	// proves that Embed runs calls in parallel.
	two := make(chan struct{})
	var once sync.Once
	f.respond = func(w http.ResponseWriter, r *http.Request, in request) {
		if f.inflight.Load() >= 2 {
			once.Do(func() { close(two) })
		}
		select {
		case <-two:
		case <-time.After(5 * time.Second):
		}
		titanRespond(w, r, in)
	}
	e, err := New(f.client(), Options{Dimensions: 512, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"hello world",
		"",
		"the quick brown fox jumps over the lazy dog",
		"  \n\t ",
		"x",
		"<b>tags & \"quotes\"</b>",
		"日本語のテキストです",
		"a longer text about storing tokens in buckets",
		"last",
	}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(vecs), len(texts))
	}
	var sent []string
	var tokens int64
	for i, text := range texts {
		v := vecs[i]
		if len(v) != 512 {
			t.Errorf("text %d: vector of %d dimensions, want 512", i, len(v))
			continue
		}
		if strings.TrimSpace(text) == "" {
			if n := norm(v); n != 0 {
				t.Errorf("blank text %d: norm %v, want the zero vector", i, n)
			}
			continue
		}
		sent = append(sent, text)
		tokens += int64(len(strings.Fields(text)))
		if n := norm(v); math.Abs(n-1) > 1e-5 {
			t.Errorf("text %d: norm %v, want 1", i, n)
		}
		want := unit(fakeVector(text, 512))
		for j := range v {
			if math.Abs(float64(v[j]-want[j])) > 1e-6 {
				t.Errorf("text %d: component %d is %v, want %v (vectors out of order?)", i, j, v[j], want[j])
				break
			}
		}
	}

	reqs := f.captured()
	if len(reqs) != len(sent) {
		t.Fatalf("%d requests, want %d (one per non-blank text)", len(reqs), len(sent))
	}
	var got []string
	for _, r := range reqs {
		if r.method != http.MethodPost {
			t.Errorf("method %s, want POST", r.method)
		}
		if want := "/model/amazon.titan-embed-text-v2%3A0/invoke"; !strings.Contains(r.uri, want) {
			t.Errorf("request URI %q does not contain %q", r.uri, want)
		}
		if r.contentType != "application/json" || r.accept != "application/json" {
			t.Errorf("Content-Type %q, Accept %q; want application/json", r.contentType, r.accept)
		}
		if !strings.Contains(r.auth, "Credential=AKIDTEST/") || !strings.Contains(r.auth, "/us-east-1/bedrock/aws4_request") {
			t.Errorf("Authorization %q is not a SigV4 signature for bedrock in us-east-1", r.auth)
		}
		if len(r.body) != 3 || r.body["dimensions"] != float64(512) || r.body["normalize"] != true {
			t.Errorf("body %v, want inputText, dimensions 512 and normalize true", r.body)
		}
		s, _ := r.body["inputText"].(string)
		got = append(got, s)
	}
	slices.Sort(got)
	slices.Sort(sent)
	if !slices.Equal(got, sent) {
		t.Errorf("inputTexts sent %q, want %q", got, sent)
	}
	if m := f.maxInflight.Load(); m < 2 || m > 3 {
		t.Errorf("at most %d calls under way at once, want 2 or 3 (Concurrency 3)", m)
	}
	if e.InputTokens() != tokens {
		t.Errorf("InputTokens() = %d, want %d", e.InputTokens(), tokens)
	}
}

func TestEmbedModelARNEscaped(t *testing.T) {
	f := newFake(t)
	arn := "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123"
	e, err := New(f.client(), Options{Model: arn, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Embed(context.Background(), []string{"hi"}); err != nil {
		t.Fatal(err)
	}
	reqs := f.captured()
	want := "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprovisioned-model%2Fabc123/invoke"
	if len(reqs) != 1 || !strings.Contains(reqs[0].uri, want) {
		t.Errorf("requests %+v, want one to %q", reqs, want)
	}
	if e.Name() != "bedrock:"+arn+":d256" {
		t.Errorf("Name() = %q", e.Name())
	}
}

func TestEmbedBlankMakesNoRequest(t *testing.T) {
	f := newFake(t)
	e, err := New(f.client(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := e.Embed(context.Background(), []string{"", " ", "\n"})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if len(v) != 256 || norm(v) != 0 {
			t.Errorf("text %d: %d dimensions, norm %v; want the zero vector of 256", i, len(v), norm(v))
		}
	}
	vecs, err = e.Embed(context.Background(), nil)
	if err != nil || len(vecs) != 0 {
		t.Errorf("Embed(nil) = %v, %v; want no vectors", vecs, err)
	}
	if n := len(f.captured()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestEmbedValidationException(t *testing.T) {
	f := newFake(t)
	const msg = "Malformed input request: expected maxLength: 50000, actual: 50001"
	f.respond = func(w http.ResponseWriter, r *http.Request, in request) {
		if in.InputText == "too long" {
			validationError(w, msg)
			return
		}
		titanRespond(w, r, in)
	}
	e, err := New(f.client(), Options{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := e.Embed(context.Background(), []string{"fine", "too long", "never sent"})
	if err == nil {
		t.Fatalf("Embed = %d vectors, no error; want a ValidationException", len(vecs))
	}
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Fatalf("Embed error %v (%T) is not a *types.ValidationException", err, err)
	}
	if ve.ErrorMessage() != msg {
		t.Errorf("ValidationException message %q, want %q", ve.ErrorMessage(), msg)
	}
	if !strings.Contains(err.Error(), "text 1") {
		t.Errorf("error %q does not name text 1", err)
	}
	if vecs != nil {
		t.Errorf("Embed returned vectors with its error")
	}
	if n := len(f.captured()); n != 2 {
		t.Errorf("%d requests, want 2 (none after the failure with Concurrency 1)", n)
	}
}

func TestEmbedMalformedResponse(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
	}{
		{"wrong length", `{"embedding":[0.6,0.8],"inputTextTokenCount":1}`},
		{"no embedding", `{"inputTextTokenCount":1}`},
		{"not JSON", `<html>gateway</html>`},
		{"zero vector", `{"embedding":[` + strings.TrimSuffix(strings.Repeat("0,", 256), ",") + `]}`},
		{"string component", `{"embedding":["a"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.respond = func(w http.ResponseWriter, _ *http.Request, _ request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tc.body)
			}
			e, err := New(f.client(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Embed(context.Background(), []string{"", "some text"})
			if !errors.Is(err, ErrResponse) {
				t.Fatalf("Embed error %v, want one wrapping ErrResponse", err)
			}
			if !strings.Contains(err.Error(), "text 1") {
				t.Errorf("error %q does not name text 1", err)
			}
		})
	}
}

func TestEmbedCancelled(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		f := newFake(t)
		e, err := New(f.client(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		vecs, err := e.Embed(ctx, []string{"a", "b"})
		if !errors.Is(err, context.Canceled) || vecs != nil {
			t.Errorf("Embed = %v, %v; want context.Canceled", vecs, err)
		}
		if n := len(f.captured()); n != 0 {
			t.Errorf("%d requests, want none", n)
		}
	})
	t.Run("during", func(t *testing.T) {
		f := newFake(t)
		arrived := make(chan struct{}, 16)
		f.respond = func(w http.ResponseWriter, r *http.Request, in request) {
			arrived <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
				titanRespond(w, r, in)
			}
		}
		e, err := New(f.client(), Options{Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-arrived
			cancel()
		}()
		start := time.Now()
		vecs, err := e.Embed(ctx, []string{"a", "b", "c", "d", "e"})
		if !errors.Is(err, context.Canceled) || vecs != nil {
			t.Errorf("Embed = %v, %v; want context.Canceled", vecs, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Embed returned %v after the cancel, want at once", d)
		}
		if n := len(f.captured()); n > 2 {
			t.Errorf("%d requests, want at most 2 (none after the cancel)", n)
		}
	})
}
