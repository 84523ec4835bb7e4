package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// wireCounts is what crossed the wire, in billing units.
type wireCounts struct {
	// S3PutClass, S3GetClass and S3Delete count S3 requests by request class (see
	// classifyS3). Requests answered with a 5xx status are not counted: S3 does not bill them.
	S3PutClass, S3GetClass, S3Delete float64
	// S3PutBytes is the payload of the PutObject requests (their decoded length when the body
	// is aws-chunked), whatever their outcome: a conditional PutObject that fails with 412 sent
	// its payload too.
	S3PutBytes int64
	// DDBOps counts DynamoDB requests by operation (the X-Amz-Target suffix, e.g. "PutItem"),
	// every request the server answered, failed or not.
	DDBOps map[string]int
	// DDBWRU and DDBRRU are DynamoDB write and read request units, computed from the wire
	// requests and responses by DynamoDB's rules (see meterDynamoDB).
	DDBWRU, DDBRRU float64
}

// wireMeter is a reverse proxy on 127.0.0.1 in front of an S3 or DynamoDB endpoint that counts
// the requests going through it in AWS billing units (wireCounts). It forwards every request
// byte for byte, Host header included, so that SigV4 signatures made for the meter's address
// stay valid at the target. It is safe for concurrent requests.
//
// For DynamoDB it keeps a shadow of the items it has seen written (their size and how many
// indexes they are in), to price deletes, which carry only the key: see meterDynamoDB.
type wireMeter struct {
	srv       *httptest.Server
	target    *url.URL
	transport *http.Transport
	indexes   [][2]string

	mu     sync.Mutex
	counts wireCounts
	shadow map[shadowKey]shadowItem
}

// shadowKey identifies a DynamoDB item: its table and its key attributes "pk" and "sk".
type shadowKey struct{ table, pk, sk string }

// shadowItem is what the meter remembers of an item written through it.
type shadowItem struct {
	size    int64 // DynamoDB item size (itemSize)
	indexes int   // number of global secondary indexes the item is in
}

// startWireMeter starts a meter forwarding to target (an http URL such as
// http://127.0.0.1:9000) and closes it when the test ends. indexes are the (partition key,
// sort key) attribute pairs of the global secondary indexes of the DynamoDB tables written
// through the meter (nil for S3); a pair with an empty sort key names an index with a
// partition key only.
func startWireMeter(t testing.TB, target string, indexes [][2]string) *wireMeter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("wire meter: bad target %q: %v", target, err)
	}
	m := &wireMeter{
		target: u,
		// No compression (the body is forwarded as the server sent it), no proxy from the
		// environment, and no redirects (RoundTrip never follows them).
		transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
		indexes:   indexes,
		counts:    wireCounts{DDBOps: map[string]int{}},
		shadow:    map[shadowKey]shadowItem{},
	}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(func() {
		m.srv.Close()
		m.transport.CloseIdleConnections()
	})
	return m
}

// URL returns the meter's address, the endpoint to give the clients.
func (m *wireMeter) URL() string { return m.srv.URL }

// Snapshot returns the counts so far.
func (m *wireMeter) Snapshot() wireCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counts
	c.DDBOps = maps.Clone(m.counts.DDBOps)
	return c
}

// Reset sets the counts to zero. The shadow of the DynamoDB items is kept: the items are still
// on the server.
func (m *wireMeter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts = wireCounts{DDBOps: map[string]int{}}
}

// hopHeaders are the hop-by-hop headers, which a proxy does not forward. None of them is
// signed: the SDK's SigV4 signer leaves out Expect and Transfer-Encoding, and never sets the
// others.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer",
	"Transfer-Encoding", "Upgrade", "Expect"}

// serve forwards one request to the target and meters it. Both bodies are buffered: the
// request's to be parsed and forwarded with its length, the response's to be parsed.
func (m *wireMeter) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "wire meter: reading the request: "+err.Error(), http.StatusBadGateway)
		return
	}
	u := *m.target
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, "wire meter: "+err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	// The signature covers the Host header the client sent: the meter's address.
	out.Host = r.Host
	resp, err := m.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, "wire meter: forwarding: "+err.Error(), http.StatusBadGateway)
		return
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, "wire meter: reading the response: "+err.Error(), http.StatusBadGateway)
		return
	}

	m.meter(r, body, resp, respBody)

	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	if r.Method != http.MethodHead && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified {
		// A HEAD response keeps the Content-Length of the object it describes.
		w.Header().Set("Content-Length", strconv.Itoa(len(respBody)))
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(respBody)
}

// meter counts one forwarded request: a DynamoDB request when it has an X-Amz-Target of
// DynamoDB's JSON protocol, an S3 request otherwise.
func (m *wireMeter) meter(r *http.Request, body []byte, resp *http.Response, respBody []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if target := r.Header.Get("X-Amz-Target"); strings.HasPrefix(target, "DynamoDB_") {
		op := target[strings.LastIndexByte(target, '.')+1:]
		m.counts.DDBOps[op]++
		m.meterDynamoDB(op, body, resp.StatusCode, decodedBody(resp, respBody))
		return
	}
	if resp.StatusCode >= 500 {
		return // S3 does not bill server errors ("Billing for Amazon S3 error responses").
	}
	switch classifyS3(r) {
	case s3Put:
		m.counts.S3PutClass++
	case s3Get:
		m.counts.S3GetClass++
	case s3Delete:
		m.counts.S3Delete++
	}
	if isPutObject(r) {
		m.counts.S3PutBytes += putObjectBytes(r, body)
	}
}

// decodedBody returns the response body, gunzipped when the server compressed it.
func decodedBody(resp *http.Response, body []byte) []byte {
	if !strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		return body
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return body
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return body
	}
	return out
}

// s3Class is an S3 request class, as S3 prices requests.
type s3Class int

const (
	s3Put    s3Class = iota // PUT, COPY, POST and LIST requests
	s3Get                   // GET, HEAD and all other requests
	s3Delete                // DELETE requests (free)
)

// s3ListParams are the query parameters of the bucket-level GET requests that list
// (ListObjects, ListObjectsV2, ListObjectVersions with ?versions, ListMultipartUploads with
// ?uploads), and x-id, which the SDK adds to name an operation. A bucket-level GET with any
// other parameter reads a bucket subresource (?location, ?versioning, ...): a GET-class request.
var s3ListParams = map[string]bool{
	"list-type": true, "prefix": true, "delimiter": true, "continuation-token": true,
	"start-after": true, "max-keys": true, "marker": true, "encoding-type": true,
	"fetch-owner": true, "versions": true, "uploads": true, "key-marker": true,
	"version-id-marker": true, "upload-id-marker": true, "max-uploads": true, "x-id": true,
}

// s3BucketKey splits a path-style request path, /bucket/key, into its bucket and key.
func s3BucketKey(r *http.Request) (bucket, key string) {
	bucket, key, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return bucket, key
}

// classifyS3 returns the request class of a path-style S3 request:
//   - PUT (PutObject, CopyObject with x-amz-copy-source, UploadPart, CreateBucket, ...), POST
//     (CreateMultipartUpload, CompleteMultipartUpload, ...) except POST ?delete, and the LIST
//     requests (a GET with no key: ListObjectsV2, ListObjects, ListMultipartUploads, and
//     ListBuckets on "/"): PUT class;
//   - GET of an object, GET of a bucket subresource such as ?location, and every HEAD
//     (HeadObject, HeadBucket): GET class;
//   - DELETE, and POST ?delete (DeleteObjects, one request however many keys): DELETE.
func classifyS3(r *http.Request) s3Class {
	_, key := s3BucketKey(r)
	q := r.URL.Query()
	switch r.Method {
	case http.MethodPut:
		return s3Put
	case http.MethodPost:
		if q.Has("delete") {
			return s3Delete
		}
		return s3Put
	case http.MethodDelete:
		return s3Delete
	case http.MethodGet:
		if key != "" {
			return s3Get
		}
		for p := range q {
			if !s3ListParams[p] {
				return s3Get
			}
		}
		return s3Put
	default: // HEAD and anything else
		return s3Get
	}
}

// isPutObject reports whether r is a PutObject request: a PUT of a key that is neither a copy
// (x-amz-copy-source) nor a part of a multipart upload (?partNumber, ?uploadId).
func isPutObject(r *http.Request) bool {
	_, key := s3BucketKey(r)
	q := r.URL.Query()
	return r.Method == http.MethodPut && key != "" && r.Header.Get("X-Amz-Copy-Source") == "" &&
		!q.Has("partNumber") && !q.Has("uploadId")
}

// putObjectBytes returns the payload size of a PutObject request: X-Amz-Decoded-Content-Length
// when the body is aws-chunked, else its Content-Length (else the length of the body read).
func putObjectBytes(r *http.Request, body []byte) int64 {
	if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	if r.ContentLength >= 0 {
		return r.ContentLength
	}
	return int64(len(body))
}

// item is a DynamoDB item as its wire JSON decodes into Go values: attribute name to attribute
// value, an attribute value being a one-entry map from type ("S", "N", "M", ...) to value.
type item = map[string]any

// ddbRequest holds the fields of a DynamoDB request body that the meter reads.
type ddbRequest struct {
	TableName      string
	Item           item // PutItem
	Key            item // DeleteItem
	ConsistentRead bool // GetItem, Query, Scan
	// RequestItems of BatchWriteItem: table name to write requests (see writeRequest).
	RequestItems map[string][]json.RawMessage
}

// writeRequest is one element of a BatchWriteItem's RequestItems (or UnprocessedItems).
type writeRequest struct {
	PutRequest    *struct{ Item item }
	DeleteRequest *struct{ Key item }
}

// ddbResponse holds the fields of a DynamoDB response body that the meter reads.
type ddbResponse struct {
	Type       string `json:"__type"` // the error type, on errors
	Item       item   // GetItem
	Items      []item // Query, Scan
	Attributes item   // DeleteItem with ReturnValues ALL_OLD
	// ConsumedCapacity is an object for single-table operations, a list for batches.
	ConsumedCapacity json.RawMessage
	UnprocessedItems map[string][]json.RawMessage // BatchWriteItem
}

// consumed returns the response's ConsumedCapacity.CapacityUnits, when it has one.
func (r *ddbResponse) consumed() (float64, bool) {
	var cc struct{ CapacityUnits *float64 }
	if len(r.ConsumedCapacity) == 0 || json.Unmarshal(r.ConsumedCapacity, &cc) != nil || cc.CapacityUnits == nil {
		return 0, false
	}
	return *cc.CapacityUnits, true
}

// meterDynamoDB adds the request units of one DynamoDB request, computed from the request and
// the response by DynamoDB's rules rather than taken from the client:
//
//   - PutItem: writeUnits(item) for the table, and as much again for every global secondary
//     index the item is in (indexesOf). A PutItem whose condition failed
//     (ConditionalCheckFailedException) is billed too, for the table only.
//   - BatchWriteItem: each PutRequest as a PutItem, each DeleteRequest as a DeleteItem; the
//     requests returned in UnprocessedItems were not carried out and cost nothing.
//   - DeleteItem: writeUnits of the item deleted, as the shadow knows it (or as the response's
//     Attributes show it; 1 unit when unknown), for the table and every index it was in; when
//     the condition failed, for the table only.
//   - UpdateItem: the response's ConsumedCapacity when it has one, else 1 unit (the items
//     this project updates are small); 1 unit when the condition failed.
//   - GetItem: the response's ConsumedCapacity when it has one, else readUnits of the item
//     returned (a missing item costs the minimum).
//   - Query and Scan: the response's ConsumedCapacity when it has one, else readUnits of the
//     sum of the sizes of the items returned (every page a request of its own). A Scan is
//     billed by the items it scanned, not those it returned: without a filter they are the
//     same; with one, this undercounts.
//
// Other operations (CreateTable, DescribeTable, TransactWriteItems, ...) are counted in DDBOps
// only, as are the requests that failed with another error.
//
// The shadow follows PutItem, DeleteItem and BatchWriteItem. It leaves out what DynamoDB does
// when a PutItem replaces an item: the units are those of the new item, not the larger of the
// two, and the index writes those of the new item's indexes.
func (m *wireMeter) meterDynamoDB(op string, reqBody []byte, status int, respBody []byte) {
	var req ddbRequest
	var resp ddbResponse
	if json.Unmarshal(reqBody, &req) != nil {
		return
	}
	json.Unmarshal(respBody, &resp)
	conditionFailed := false
	if status != http.StatusOK {
		if !strings.HasSuffix(resp.Type, "#ConditionalCheckFailedException") {
			return
		}
		conditionFailed = true
	}

	switch op {
	case "PutItem":
		m.counts.DDBWRU += m.putUnits(req.TableName, req.Item, conditionFailed)
	case "DeleteItem":
		m.counts.DDBWRU += m.deleteUnits(req.TableName, req.Key, resp.Attributes, conditionFailed)
	case "UpdateItem":
		units := 1.0
		if cu, ok := resp.consumed(); ok && !conditionFailed {
			units = cu
		}
		m.counts.DDBWRU += units
	case "BatchWriteItem":
		unprocessed := map[string]int{}
		for table, reqs := range resp.UnprocessedItems {
			for _, raw := range reqs {
				unprocessed[table+"\x00"+canonicalJSON(raw)]++
			}
		}
		for table, reqs := range req.RequestItems {
			for _, raw := range reqs {
				if k := table + "\x00" + canonicalJSON(raw); unprocessed[k] > 0 {
					unprocessed[k]--
					continue
				}
				var wr writeRequest
				if json.Unmarshal(raw, &wr) != nil {
					continue
				}
				switch {
				case wr.PutRequest != nil:
					m.counts.DDBWRU += m.putUnits(table, wr.PutRequest.Item, false)
				case wr.DeleteRequest != nil:
					m.counts.DDBWRU += m.deleteUnits(table, wr.DeleteRequest.Key, nil, false)
				}
			}
		}
	case "GetItem":
		if cu, ok := resp.consumed(); ok {
			m.counts.DDBRRU += cu
		} else {
			m.counts.DDBRRU += readUnits(itemSize(resp.Item), req.ConsistentRead)
		}
	case "Query", "Scan":
		if cu, ok := resp.consumed(); ok {
			m.counts.DDBRRU += cu
		} else {
			var size int64
			for _, it := range resp.Items {
				size += itemSize(it)
			}
			m.counts.DDBRRU += readUnits(size, req.ConsistentRead)
		}
	}
}

// putUnits returns the write units of a PutItem of it in table and, when it succeeded, records
// it in the shadow.
func (m *wireMeter) putUnits(table string, it item, conditionFailed bool) float64 {
	size := itemSize(it)
	if conditionFailed {
		return writeUnits(size)
	}
	n := m.indexesOf(it)
	if k, ok := keyOf(table, it); ok {
		m.shadow[k] = shadowItem{size: size, indexes: n}
	}
	return writeUnits(size) * float64(1+n)
}

// deleteUnits returns the write units of a DeleteItem of key in table and, when it succeeded,
// removes the item from the shadow. old is the deleted item as the response returned it (nil
// when it did not), used when the shadow does not know the item.
func (m *wireMeter) deleteUnits(table string, key, old item, conditionFailed bool) float64 {
	k, ok := keyOf(table, key)
	sh, known := m.shadow[k]
	if !ok || !known {
		sh = shadowItem{size: 1} // unknown (or absent): the minimum, 1 unit
		if old != nil {
			sh = shadowItem{size: itemSize(old), indexes: m.indexesOf(old)}
		}
	}
	if conditionFailed {
		return writeUnits(sh.size)
	}
	if ok {
		delete(m.shadow, k)
	}
	return writeUnits(sh.size) * float64(1+sh.indexes)
}

// indexesOf returns the number of the meter's global secondary indexes it is in: those whose
// key attributes it has.
func (m *wireMeter) indexesOf(it item) int {
	n := 0
	for _, ix := range m.indexes {
		_, hasPK := it[ix[0]]
		_, hasSK := it[ix[1]]
		if hasPK && (ix[1] == "" || hasSK) {
			n++
		}
	}
	return n
}

// keyOf returns the shadow key of an item (or key) of table: its string attributes pk and sk.
func keyOf(table string, it item) (shadowKey, bool) {
	pk, ok1 := stringAttr(it, "pk")
	sk, ok2 := stringAttr(it, "sk")
	return shadowKey{table, pk, sk}, ok1 && ok2
}

// stringAttr returns the value of it's string attribute name.
func stringAttr(it item, name string) (string, bool) {
	av, _ := it[name].(map[string]any)
	s, ok := av["S"].(string)
	return s, ok
}

// canonicalJSON returns raw re-encoded with its object keys sorted, so that equal values have
// equal texts.
func canonicalJSON(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// writeUnits is what writing an item of size bytes costs: 1 unit per KB or part of one, at
// least 1.
func writeUnits(size int64) float64 {
	return math.Max(1, math.Ceil(float64(size)/1024))
}

// readUnits is what reading size bytes costs: 1 unit per 4 KB or part of one, at least 1, half
// of that when the read is eventually consistent.
func readUnits(size int64, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/4096))
	if !consistent {
		u /= 2
	}
	return u
}

// itemSize returns the size of an item by DynamoDB's rules: the sum over its attributes of the
// name's length in bytes and the value's size (attrValueSize).
func itemSize(it item) int64 {
	var n int64
	for name, v := range it {
		n += int64(len(name)) + attrValueSize(v)
	}
	return n
}

// attrValueSize returns the size of one attribute value in its wire JSON form ({"S": "x"},
// {"N": "12"}, {"M": {...}}, ...):
//   - S: its length in UTF-8 bytes; B: its length decoded from base64;
//   - N: numberSize; BOOL and NULL: 1;
//   - M: 3, plus for each entry 1 + the name's length + the value's size;
//   - L: 3, plus for each element 1 + its size;
//   - SS and BS: the sum of the elements' lengths; NS: the sum of the numbers' sizes.
func attrValueSize(v any) int64 {
	av, _ := v.(map[string]any)
	var n int64
	for typ, x := range av {
		switch typ {
		case "S":
			s, _ := x.(string)
			n += int64(len(s))
		case "N":
			s, _ := x.(string)
			n += numberSize(s)
		case "B":
			s, _ := x.(string)
			n += binarySize(s)
		case "BOOL", "NULL":
			n++
		case "M":
			m, _ := x.(map[string]any)
			n += 3
			for name, e := range m {
				n += 1 + int64(len(name)) + attrValueSize(e)
			}
		case "L":
			l, _ := x.([]any)
			n += 3
			for _, e := range l {
				n += 1 + attrValueSize(e)
			}
		case "SS", "NS", "BS":
			l, _ := x.([]any)
			for _, e := range l {
				s, _ := e.(string)
				switch typ {
				case "SS":
					n += int64(len(s))
				case "NS":
					n += numberSize(s)
				case "BS":
					n += binarySize(s)
				}
			}
		}
	}
	return n
}

// numberSize returns the size of a number given in decimal: its significant digits (sign,
// point and exponent left out, leading and trailing zeros trimmed), 1 byte per two rounded up,
// plus 1.
func numberSize(decimal string) int64 {
	s := strings.TrimLeft(decimal, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.Replace(s, ".", "", 1)
	s = strings.Trim(s, "0")
	return int64((len(s)+1)/2 + 1)
}

// binarySize returns the length of a binary value from its base64 wire form.
func binarySize(b64 string) int64 {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return int64(len(b64)) // not base64: the server would have refused it
	}
	return int64(len(b))
}
