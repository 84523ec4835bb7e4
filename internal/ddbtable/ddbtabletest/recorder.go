// Package ddbtabletest helps tests of the stores on the DynamoDB table see what they send.
package ddbtabletest

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/internal/ddbtable"
)

// KeyRecorder is an HTTP client for the DynamoDB SDK client that sends nothing: it answers every
// request with an empty success ("{}") and records the key of every item the request names (an
// object with the string attributes ddbitem.AttrPK and AttrSK), as "pk | sk", in order. Tests
// use it to pin the key bytes a store sends without a server.
type KeyRecorder struct {
	mu   sync.Mutex
	keys []string
}

// Table returns a table in namespace whose client sends every request to r.
func (r *KeyRecorder) Table(t testing.TB, namespace string) *ddbtable.Table {
	t.Helper()
	u, _ := url.Parse("dynamodb://stowken-test?region=us-east-1&endpoint=http://127.0.0.1:1")
	tb, err := ddbtable.Open(context.Background(), u, ddbtable.Options{
		HTTPClient:  r,
		Credentials: credentials.NewStaticCredentialsProvider("id", "secret", ""),
		Namespace:   namespace,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// Keys returns the keys recorded so far.
func (r *KeyRecorder) Keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.keys...)
}

// Do records the keys in req's JSON body and returns an empty success.
func (r *KeyRecorder) Do(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.walk(v)
	r.mu.Unlock()
	empty := []byte("{}")
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Request: req,
		Header: http.Header{
			"Content-Type": {"application/x-amz-json-1.0"},
			"X-Amz-Crc32":  {strconv.FormatUint(uint64(crc32.ChecksumIEEE(empty)), 10)},
		},
		Body: io.NopCloser(bytes.NewReader(empty)),
	}, nil
}

func (r *KeyRecorder) walk(v any) {
	switch v := v.(type) {
	case map[string]any:
		s := func(name string) (string, bool) {
			a, _ := v[name].(map[string]any)
			x, ok := a["S"].(string)
			return x, ok
		}
		pk, ok1 := s(ddbitem.AttrPK)
		sk, ok2 := s(ddbitem.AttrSK)
		if ok1 && ok2 {
			r.keys = append(r.keys, pk+" | "+sk)
		}
		for _, x := range v {
			r.walk(x)
		}
	case []any:
		for _, x := range v {
			r.walk(x)
		}
	}
}
