package testenv

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// KeyRecorder is an HTTP client for the DynamoDB SDK client that sends nothing: it answers every
// request with an empty success ("{}") and records the key of every item the request names (an
// object with string attributes PK and SK), as "pk | sk", in order. Tests use it to pin the key
// bytes a store sends without a server.
type KeyRecorder struct {
	PK, SK string // the names of the key attributes

	mu   sync.Mutex
	keys []string
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
		pk, ok1 := s(r.PK)
		sk, ok2 := s(r.SK)
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
