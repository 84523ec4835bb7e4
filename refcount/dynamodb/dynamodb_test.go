package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/internal/ddbtable"
	"github.com/stowken/stowken/internal/testenv"
	"github.com/stowken/stowken/manifest"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/refcount/refcounttest"
)

// Integration tests run against the server STOWKEN_TEST_DYNAMODB_ENDPOINT points at (e.g.
// dynalite on http://127.0.0.1:18000), in table STOWKEN_TEST_DYNAMODB_TABLE (default
// "stowken-test", created with ddbtable's EnsureTable), with testenv.Credentials. Without an
// endpoint they skip, except under CI=true, where they fail.

const defaultTestTable = "stowken-test"

type server struct {
	endpoint string
	table    string
	creds    aws.CredentialsProvider
}

func testServer(t *testing.T) server {
	t.Helper()
	ep := testenv.Endpoints(t, "run them with scripts/with-servers.sh go test ./refcount/dynamodb/", testenv.DynamoDBEndpoint)[0]
	sv := server{endpoint: ep, table: os.Getenv("STOWKEN_TEST_DYNAMODB_TABLE"), creds: testenv.Credentials()}
	if sv.table == "" {
		sv.table = defaultTestTable
	}
	return sv
}

func (sv server) url(table string) *url.URL {
	return &url.URL{Scheme: "dynamodb", Host: table, RawQuery: url.Values{"endpoint": {sv.endpoint}}.Encode()}
}

func (sv server) open(t *testing.T, table string, opts Options) *Store {
	t.Helper()
	if opts.Credentials == nil {
		opts.Credentials = sv.creds
	}
	st, err := Open(t.Context(), sv.url(table), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// ensureOnce creates the shared test table once per test binary.
var ensureOnce sync.Map // table → *sync.Once result

func (sv server) ensure(t *testing.T) {
	t.Helper()
	v, _ := ensureOnce.LoadOrStore(sv.table, sync.OnceValue(func() error {
		st, err := Open(context.Background(), sv.url(sv.table), Options{Credentials: sv.creds})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return st.Table().EnsureTable(ctx)
	}))
	if err := v.(func() error)(); err != nil {
		t.Fatalf("EnsureTable(%s): %v", sv.table, err)
	}
}

func TestConformance(t *testing.T) {
	sv := testServer(t)
	sv.ensure(t)
	refcounttest.Run(t, func(t *testing.T) refcount.Backend { return sv.open(t, sv.table, Options{}) })
}

// TestConformanceNamespaced runs the suite on a store in a namespace, as S3 stores use the
// table.
func TestConformanceNamespaced(t *testing.T) {
	sv := testServer(t)
	sv.ensure(t)
	refcounttest.Run(t, func(t *testing.T) refcount.Backend { return sv.open(t, sv.table, Options{Namespace: "ns-a:"}) })
}

// TestNamespacesAreSeparate: two stores sharing one table never see each other's heads,
// references or candidates.
func TestNamespacesAreSeparate(t *testing.T) {
	sv := testServer(t)
	sv.ensure(t)
	ctx := t.Context()
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	a := sv.open(t, sv.table, Options{Namespace: "a-" + run + ":"})
	b := sv.open(t, sv.table, Options{Namespace: "b-" + run + ":"})
	now := time.Now()
	if err := a.CreateHead(ctx, "seg", 10, now); err != nil {
		t.Fatal(err)
	}
	if err := a.AddRefs(ctx, "owner", []string{"seg"}, now); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkCandidates(ctx, []string{"seg"}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetHead(ctx, "seg"); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("namespace b sees a's head: %v", err)
	}
	if has, err := b.HasRefs(ctx, "seg"); has || err != nil {
		t.Fatalf("namespace b sees a's reference: %v, %v", has, err)
	}
	n := 0
	b.ListCandidates(ctx, func(refcount.Candidate) error { n++; return nil })
	b.ListHeads(ctx, func(refcount.Head) error { n++; return nil })
	b.ListRefs(ctx, func(refcount.Ref) error { n++; return nil })
	if n != 0 {
		t.Fatalf("namespace b lists %d of a's items", n)
	}
	h, err := a.GetHead(ctx, "seg")
	if err != nil || h.Segment != "seg" {
		t.Fatalf("a's head: %+v %v", h, err)
	}
	var refs, cands, heads int
	a.ListRefs(ctx, func(r refcount.Ref) error {
		if r.Segment == "seg" && r.Owner == "owner" {
			refs++
		}
		return nil
	})
	a.ListCandidates(ctx, func(c refcount.Candidate) error {
		if c.Segment == "seg" {
			cands++
		}
		return nil
	})
	a.ListHeads(ctx, func(h refcount.Head) error {
		if h.Segment == "seg" {
			heads++
		}
		return nil
	})
	if refs != 1 || cands != 1 || heads != 1 {
		t.Fatalf("a lists %d references, %d candidates, %d heads of its segment, want 1 each", refs, cands, heads)
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	sv := testServer(t)
	sv.ensure(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", sv.endpoint)
	st, err := Open(t.Context(), &url.URL{Scheme: "dynamodb", Host: sv.table}, Options{Credentials: sv.creds})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetHead(t.Context(), fmt.Sprintf("env-%d", time.Now().UnixNano())); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("GetHead through AWS_ENDPOINT_URL_DYNAMODB: %v, want ErrNotFound from the test server", err)
	}
}

// faultClient sits between the SDK and the server and injects faults into requests whose
// operation (X-Amz-Target suffix) is armed.
type faultClient struct {
	mu    sync.Mutex
	armed map[string][]fault // operation → faults to inject, in order
	hits  int
}

type fault int

const (
	// loseResponse forwards the request (the server applies it) and answers 500 instead of
	// the server's response, so the SDK retries a request that already took effect.
	loseResponse fault = iota
	// throttle answers ProvisionedThroughputExceededException without forwarding.
	throttle
	// unprocessed answers a BatchWriteItem with every item unprocessed, without forwarding.
	unprocessed
)

func (c *faultClient) arm(op string, faults ...fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed == nil {
		c.armed = map[string][]fault{}
	}
	c.armed[op] = append(c.armed[op], faults...)
	c.hits = 0
}

// done reports how many faults were injected since the last arm, and that none are left.
func (c *faultClient) done(t *testing.T, want int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hits != want {
		t.Fatalf("injected %d faults, want %d", c.hits, want)
	}
	for op, f := range c.armed {
		if len(f) > 0 {
			t.Fatalf("%d faults for %s not injected", len(f), op)
		}
	}
}

func (c *faultClient) next(req *http.Request) (fault, bool) {
	op := req.Header.Get("X-Amz-Target")
	op = op[strings.LastIndexByte(op, '.')+1:]
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.armed[op]
	if len(f) == 0 {
		return 0, false
	}
	c.armed[op] = f[1:]
	c.hits++
	return f[0], true
}

func jsonResponse(req *http.Request, status int, body string) *http.Response {
	h := http.Header{"Content-Type": {"application/x-amz-json-1.0"}}
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

func (c *faultClient) Do(req *http.Request) (*http.Response, error) {
	f, ok := c.next(req)
	if !ok {
		return http.DefaultTransport.RoundTrip(req)
	}
	switch f {
	case throttle:
		return jsonResponse(req, 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",`+
			`"message":"injected throttle"}`), nil
	case unprocessed:
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		var in struct{ RequestItems json.RawMessage }
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return jsonResponse(req, 200, `{"UnprocessedItems":`+string(in.RequestItems)+`}`), nil
	default: // loseResponse
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("faultClient: the request to lose failed: %s", resp.Status)
		}
		return jsonResponse(req, 500, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError",`+
			`"message":"injected: response lost after the request was applied"}`), nil
	}
}

// TestRetriedAfterApplied checks that every write succeeds when the SDK retries it after the
// server applied it and the response was lost, and that throttling and unprocessed batch items
// are retried.
func TestRetriedAfterApplied(t *testing.T) {
	sv := testServer(t)
	sv.ensure(t)
	fc := &faultClient{}
	st := sv.open(t, sv.table, Options{HTTPClient: fc})
	ctx := t.Context()
	p := fmt.Sprintf("lost-%d", time.Now().UnixNano())
	seg, owner := p+"-seg", p+"-owner"
	now := time.Now().UTC().Truncate(time.Millisecond)

	step := func(name, op string, faults []fault, call func() error, want error) {
		t.Helper()
		fc.arm(op, faults...)
		err := call()
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("%s with faults %v: %v, want %v", name, faults, err, want)
		}
		fc.done(t, len(faults))
	}
	head := func() refcount.Head {
		t.Helper()
		h, err := st.GetHead(ctx, seg)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	lost := []fault{loseResponse}

	step("AddRefs", "BatchWriteItem", lost, func() error {
		return st.AddRefs(ctx, owner, []string{seg, p + "-other"}, now)
	}, nil)
	if ok, err := st.HasRefs(ctx, seg); err != nil || !ok {
		t.Fatalf("HasRefs after AddRefs: %v, %v", ok, err)
	}
	// A retried CreateHead finds its own head: ErrExists, which writers treat as "exists".
	step("CreateHead", "PutItem", lost, func() error { return st.CreateHead(ctx, seg, 7, now) }, refcount.ErrExists)
	if h := head(); h.State != refcount.Live || h.Size != 7 {
		t.Fatalf("head after CreateHead: %+v", h)
	}
	step("Claim", "UpdateItem", lost, func() error {
		return st.Claim(ctx, seg, "gc-A", now.Add(time.Hour), now)
	}, nil)
	if h := head(); h.State != refcount.Deleting || h.ClaimID != "gc-A" {
		t.Fatalf("head after Claim: %+v", h)
	}
	step("Release", "UpdateItem", lost, func() error { return st.Release(ctx, seg, "gc-A") }, nil)
	if h := head(); h.State != refcount.Live {
		t.Fatalf("head after Release: %+v", h)
	}
	step("Claim throttled", "UpdateItem", []fault{throttle}, func() error {
		return st.Claim(ctx, seg, "gc-B", now.Add(time.Second), now)
	}, nil)
	step("Revive", "UpdateItem", lost, func() error { return st.Revive(ctx, seg, "gc-B", now.Add(2*time.Second)) }, nil)
	if h := head(); h.State != refcount.Live {
		t.Fatalf("head after Revive: %+v", h)
	}
	step("Claim C", "UpdateItem", nil, func() error {
		return st.Claim(ctx, seg, "gc-C", now.Add(time.Hour), now.Add(3*time.Second))
	}, nil)
	step("DeleteHead", "DeleteItem", lost, func() error { return st.DeleteHead(ctx, seg, "gc-C") }, nil)
	if _, err := st.GetHead(ctx, seg); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("GetHead after DeleteHead: %v", err)
	}
	step("RemoveRefs", "BatchWriteItem", lost, func() error {
		return st.RemoveRefs(ctx, owner, []string{seg, p + "-other"})
	}, nil)
	if ok, err := st.HasRefs(ctx, seg); err != nil || ok {
		t.Fatalf("HasRefs after RemoveRefs: %v, %v", ok, err)
	}
	step("MarkCandidates", "BatchWriteItem", lost, func() error {
		return st.MarkCandidates(ctx, []string{seg}, now)
	}, nil)
	step("RemoveCandidate", "DeleteItem", lost, func() error { return st.RemoveCandidate(ctx, seg, now) }, nil)

	// CreatePointer is sent once: a throttled request (not applied) is retried, a lost
	// response is not (the caller reads the pointer to learn the outcome). A retried
	// DeletePointer finds its pointer gone: success.
	conv, ptr := p+"-conv", refcount.Pointer{Batch: "b-0123456789abcdef01234567", Nonce: "0123456789ab"}
	step("CreatePointer throttled", "PutItem", []fault{throttle}, func() error { return st.CreatePointer(ctx, conv, ptr) }, nil)
	step("DeletePointer", "DeleteItem", lost, func() error { return st.DeletePointer(ctx, conv, ptr) }, nil)
	fc.arm("PutItem", loseResponse)
	if err := st.CreatePointer(ctx, conv, ptr); err == nil || errors.Is(err, refcount.ErrExists) {
		t.Fatalf("CreatePointer with its response lost: %v; want the lost response, not a retry", err)
	}
	fc.done(t, 1)
	if got, err := st.GetPointer(ctx, conv); err != nil || got != ptr {
		t.Fatalf("pointer after the lost response: %+v, %v; want it applied", got, err)
	}
	// MovePointer likewise: retried when throttled, not after a lost response (a retry would
	// find the pointer moved and report ErrConflict).
	moved := refcount.Pointer{Batch: "b-76543210fedcba9876543210", Nonce: ptr.Nonce}
	step("MovePointer throttled", "PutItem", []fault{throttle}, func() error { return st.MovePointer(ctx, conv, ptr, moved) }, nil)
	fc.arm("PutItem", loseResponse)
	if err := st.MovePointer(ctx, conv, moved, ptr); err == nil || errors.Is(err, refcount.ErrConflict) {
		t.Fatalf("MovePointer with its response lost: %v; want the lost response, not a retry", err)
	}
	fc.done(t, 1)
	if got, err := st.GetPointer(ctx, conv); err != nil || got != ptr {
		t.Fatalf("pointer after the lost move response: %+v, %v; want it applied", got, err)
	}

	// Unprocessed items: a batch of 60 (three requests), the first request answered
	// "all unprocessed" twice, then throttled once.
	segs := make([]string, 60)
	for i := range segs {
		segs[i] = fmt.Sprintf("%s-batch-%d", p, i)
	}
	step("AddRefs with unprocessed items", "BatchWriteItem", []fault{unprocessed, unprocessed, throttle},
		func() error { return st.AddRefs(ctx, owner, segs, now) }, nil)
	for _, s := range segs {
		if ok, err := st.HasRefs(ctx, s); err != nil || !ok {
			t.Fatalf("HasRefs(%s) after AddRefs with unprocessed items: %v, %v", s, ok, err)
		}
	}
	step("RemoveRefs", "BatchWriteItem", nil, func() error { return st.RemoveRefs(ctx, owner, segs) }, nil)
}

// TestUnprocessedStopsOnContext checks that the retry loop for a batch that never gets
// processed stops when the context ends.
func TestUnprocessedStopsOnContext(t *testing.T) {
	sv := testServer(t)
	sv.ensure(t)
	fc := &faultClient{}
	st := sv.open(t, sv.table, Options{HTTPClient: fc})
	faults := make([]fault, 100)
	for i := range faults {
		faults[i] = unprocessed
	}
	fc.arm("BatchWriteItem", faults...)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := st.AddRefs(ctx, "o", []string{fmt.Sprintf("never-%d", time.Now().UnixNano())}, time.Now())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AddRefs that never gets processed: %v, want context.DeadlineExceeded", err)
	}
}

// TestPointersOfTheLayoutBefore: pointer items with the batch and nonce as strings b and n (the
// layout of stores written before pointers were packed) are read, listed, moved and deleted
// under the same conditions; a move writes the packed layout.
func TestPointersOfTheLayoutBefore(t *testing.T) {
	sv := testServer(t)
	sv.ensure(t)
	ctx := t.Context()
	st := sv.open(t, sv.table, Options{Namespace: "before-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"})
	old := refcount.Pointer{Batch: manifest.NewBatchID(), Nonce: "0123456789ab"}
	for _, id := range []string{"a", "b", "c"} {
		it := ddbitem.PointerKey(st.t.Namespace, id)
		it[ddbitem.AttrBatch], it[ddbitem.AttrNonce] = ddbitem.S(old.Batch), ddbitem.S(old.Nonce)
		if _, err := st.t.Client.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(st.t.Name), Item: ddbtable.Marshal(it)}); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := st.GetPointer(ctx, "a"); err != nil || p != old {
		t.Fatalf("GetPointer = %+v, %v; want %+v", p, err, old)
	}
	listed := map[string]refcount.Pointer{}
	if err := st.ListPointers(ctx, func(id string, p refcount.Pointer) error { listed[id] = p; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 3 || listed["c"] != old {
		t.Fatalf("ListPointers = %v", listed)
	}
	wrong := refcount.Pointer{Batch: old.Batch, Nonce: "ba9876543210"}
	if err := st.MovePointer(ctx, "c", wrong, old); !errors.Is(err, refcount.ErrConflict) {
		t.Fatalf("MovePointer from another nonce: %v, want ErrConflict", err)
	}
	if err := st.DeletePointer(ctx, "c", wrong); !errors.Is(err, refcount.ErrConflict) {
		t.Fatalf("DeletePointer of another nonce: %v, want ErrConflict", err)
	}
	moved := refcount.Pointer{Batch: manifest.NewBatchID(), Nonce: old.Nonce}
	if err := st.MovePointer(ctx, "a", old, moved); err != nil {
		t.Fatalf("MovePointer from the layout before: %v", err)
	}
	out, err := st.t.Client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(st.t.Name), Key: st.pointerKey("a"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if _, packed := out.Item[ddbitem.AttrBatch].(*types.AttributeValueMemberB); !packed || out.Item[ddbitem.AttrNonce] != nil {
		t.Fatalf("the moved pointer's item %v: want the packed layout", out.Item)
	}
	if p, err := st.GetPointer(ctx, "a"); err != nil || p != moved {
		t.Fatalf("GetPointer after the move = %+v, %v; want %+v", p, err, moved)
	}
	if err := st.DeletePointer(ctx, "b", old); err != nil {
		t.Fatalf("DeletePointer of the layout before: %v", err)
	}
	if _, err := st.GetPointer(ctx, "b"); !errors.Is(err, refcount.ErrNotFound) {
		t.Fatalf("GetPointer after the delete: %v, want ErrNotFound", err)
	}
}
