// Package objstoretest is the conformance suite every objstore.Bucket implementation must pass,
// in the style of thanos-io/objstore's AcceptanceTest and gocloud's drivertest.
//
// The suite asserts observable outcomes only (what Get, Stat and List return after a write), and
// it contains probes that fail loudly when a backend silently ignores a precondition
// (If-None-Match or If-Match): a store that overwrites where it should refuse would otherwise
// let garbage collection delete live data. It also runs objstore.CheckConditionalWrites, the
// check a vault makes at run time before its first write, which must pass on every backend.
//
// Every subtest writes under its own random key prefix and removes what it wrote, so the suite
// can run repeatedly, and concurrently, against one shared real server.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/objstore"
)

// clockSkew is how far a backend's ModTime may be from the test's clock. Real servers stamp
// objects with their own clock, at one-second resolution.
const clockSkew = 15 * time.Minute

// opTimeout bounds every operation the suite makes, so a hung backend fails instead of hanging.
const opTimeout = 2 * time.Minute

// Run runs the conformance suite. newBucket is called once per subtest and returns the bucket
// under test; it should register any cleanup (such as Close) with t.Cleanup. Buckets returned by
// different calls may share storage: the suite only touches keys under a fresh random prefix.
func Run(t *testing.T, newBucket func(t *testing.T) objstore.Bucket) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"PutGetStat", testPutGetStat},
		{"EmptyObject", testEmptyObject},
		{"LargeObject", testLargeObject},
		{"PutCopiesInput", testPutCopiesInput},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"IfNoneMatch", testIfNoneMatch},
		{"IfMatch", testIfMatch},
		{"ConditionalWritesCheck", testConditionalWritesCheck},
		{"ConcurrentCreate", testConcurrentCreate},
		{"Delete", testDelete},
		{"DeleteMany", testDeleteMany},
		{"ListOrder", testListOrder},
		{"ListPrefix", testListPrefix},
		{"ListEverything", testListEverything},
		{"ListStop", testListStop},
		{"ListAfter", testListAfter},
		{"InvalidKeys", testInvalidKeys},
		{"CancelledContext", testCancelledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSuite(t, newBucket(t))
			tc.fn(t, s)
		})
	}
}

// suite is the per-subtest state: the bucket and the random prefix all keys live under.
type suite struct {
	b      objstore.Bucket
	prefix string
}

func newSuite(t *testing.T, b objstore.Bucket) *suite {
	t.Helper()
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatalf("random prefix: %v", err)
	}
	s := &suite{b: b, prefix: "objstoretest/" + hex.EncodeToString(r[:]) + "/"}
	t.Cleanup(func() { s.cleanup(t) })
	return s
}

// cleanup deletes everything under the subtest's prefix. It uses a fresh context because the
// test's own context is already cancelled when cleanups run.
func (s *suite) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var keys []string
	if err := s.b.List(ctx, s.prefix, func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		t.Errorf("cleanup: list %q: %v", s.prefix, err)
		return
	}
	if err := s.b.Delete(ctx, keys...); err != nil {
		t.Errorf("cleanup: delete %d keys: %v", len(keys), err)
	}
}

// k returns the full key for a name under the subtest's prefix.
func (s *suite) k(name string) string { return s.prefix + name }

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// put writes data unconditionally and fails the test on error.
func (s *suite) put(t *testing.T, key string, data []byte) objstore.Attrs {
	t.Helper()
	a, err := s.b.Put(ctxFor(t), key, data, objstore.PutOptions{})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return a
}

// mustContain asserts that key holds exactly want.
func (s *suite) mustContain(t *testing.T, key string, want []byte) objstore.Attrs {
	t.Helper()
	got, a, err := s.b.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %s, want %s", key, abbrev(got), abbrev(want))
	}
	return a
}

// mustBeMissing asserts that Get and Stat of key report ErrNotFound.
func (s *suite) mustBeMissing(t *testing.T, key string) {
	t.Helper()
	if data, _, err := s.b.Get(ctxFor(t), key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get(%q) = %s, %v; want ErrNotFound", key, abbrev(data), err)
	}
	if a, err := s.b.Stat(ctxFor(t), key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Stat(%q) = %+v, %v; want ErrNotFound", key, a, err)
	}
}

// list returns the attributes List reports for prefix, failing on error.
func (s *suite) list(t *testing.T, prefix string) []objstore.Attrs {
	t.Helper()
	var out []objstore.Attrs
	if err := s.b.List(ctxFor(t), prefix, func(a objstore.Attrs) error {
		out = append(out, a)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return out
}

func keysOf(as []objstore.Attrs) []string {
	keys := make([]string, len(as))
	for i, a := range as {
		keys[i] = a.Key
	}
	return keys
}

// abbrev renders data for a failure message without flooding the log.
func abbrev(data []byte) string {
	if len(data) <= 64 {
		return fmt.Sprintf("%q", data)
	}
	return fmt.Sprintf("%q... (%d bytes)", data[:64], len(data))
}

// checkAttrs asserts the attributes a backend reports for a freshly written object.
func checkAttrs(t *testing.T, what string, a objstore.Attrs, key string, size int64, start time.Time) {
	t.Helper()
	if a.Key != key {
		t.Errorf("%s: Key = %q, want %q", what, a.Key, key)
	}
	if a.Size != size {
		t.Errorf("%s: Size = %d, want %d", what, a.Size, size)
	}
	if a.ETag == "" {
		t.Errorf("%s: empty ETag", what)
	}
	if a.ModTime.IsZero() {
		t.Errorf("%s: zero ModTime", what)
	} else if a.ModTime.Before(start.Add(-clockSkew)) || a.ModTime.After(time.Now().Add(clockSkew)) {
		t.Errorf("%s: ModTime %v is not within %v of the write at %v", what, a.ModTime, clockSkew, start)
	}
}

func testPutGetStat(t *testing.T, s *suite) {
	key := s.k("dir/object.bin")
	data := []byte("hello, objstore \x00\x01\xff")
	start := time.Now()
	put, err := s.b.Put(ctxFor(t), key, data, objstore.PutOptions{ContentType: "application/octet-stream"})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	checkAttrs(t, "Put", put, key, int64(len(data)), start)

	got := s.mustContain(t, key, data)
	checkAttrs(t, "Get", got, key, int64(len(data)), start)
	if got.ETag != put.ETag {
		t.Errorf("Get ETag = %q, Put returned %q", got.ETag, put.ETag)
	}

	st, err := s.b.Stat(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	checkAttrs(t, "Stat", st, key, int64(len(data)), start)
	if st.ETag != put.ETag {
		t.Errorf("Stat ETag = %q, Put returned %q", st.ETag, put.ETag)
	}
	if !st.ModTime.Equal(got.ModTime) {
		t.Errorf("Stat ModTime %v != Get ModTime %v", st.ModTime, got.ModTime)
	}

	listed := s.list(t, s.prefix)
	if len(listed) != 1 {
		t.Fatalf("List = %v, want exactly [%q]", keysOf(listed), key)
	}
	checkAttrs(t, "List", listed[0], key, int64(len(data)), start)
	if listed[0].ETag != put.ETag {
		t.Errorf("List ETag = %q, Put returned %q", listed[0].ETag, put.ETag)
	}
}

func testEmptyObject(t *testing.T, s *suite) {
	key := s.k("empty")
	start := time.Now()
	for _, data := range [][]byte{nil, {}} {
		a, err := s.b.Put(ctxFor(t), key, data, objstore.PutOptions{})
		if err != nil {
			t.Fatalf("Put(%v): %v", data, err)
		}
		checkAttrs(t, "Put", a, key, 0, start)
		got, ga, err := s.b.Get(ctxFor(t), key)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("Get = %s, want empty", abbrev(got))
		}
		checkAttrs(t, "Get", ga, key, 0, start)
		st, err := s.b.Stat(ctxFor(t), key)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		checkAttrs(t, "Stat", st, key, 0, start)
	}
}

func testLargeObject(t *testing.T, s *suite) {
	key := s.k("large")
	data := make([]byte, 5<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a, err := s.b.Put(ctxFor(t), key, data, objstore.PutOptions{})
	if err != nil {
		t.Fatalf("Put(5 MiB): %v", err)
	}
	checkAttrs(t, "Put", a, key, int64(len(data)), start)
	ga := s.mustContain(t, key, data)
	checkAttrs(t, "Get", ga, key, int64(len(data)), start)
	if ga.ETag != a.ETag {
		t.Errorf("Get ETag = %q, Put returned %q", ga.ETag, a.ETag)
	}
}

// testPutCopiesInput checks that the bucket does not keep or hand out the caller's buffers.
func testPutCopiesInput(t *testing.T, s *suite) {
	key := s.k("aliasing")
	buf := []byte("original")
	s.put(t, key, buf)
	copy(buf, "XXXXXXXX")
	s.mustContain(t, key, []byte("original"))
	data, _, err := s.b.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	copy(data, "YYYYYYYY")
	s.mustContain(t, key, []byte("original"))
}

func testOverwrite(t *testing.T, s *suite) {
	key := s.k("overwrite")
	first := s.put(t, key, []byte("version one"))
	second := s.put(t, key, []byte("version two, longer"))
	if second.ETag == first.ETag {
		t.Fatalf("overwrite with different content kept ETag %q", first.ETag)
	}
	if second.Size != int64(len("version two, longer")) {
		t.Errorf("Put Size = %d", second.Size)
	}
	got := s.mustContain(t, key, []byte("version two, longer"))
	if got.ETag != second.ETag {
		t.Errorf("Get ETag = %q, want %q", got.ETag, second.ETag)
	}
}

func testMissing(t *testing.T, s *suite) {
	s.mustBeMissing(t, s.k("never-written"))
	s.mustBeMissing(t, s.k("never/written/nested"))
	// A key that is a proper prefix of an existing key is not an object.
	s.put(t, s.k("parent/child"), []byte("x"))
	s.mustBeMissing(t, s.k("parent"))
	s.mustBeMissing(t, s.k("par"))
}

func testIfNoneMatch(t *testing.T, s *suite) {
	key := s.k("create-once")
	ctx := ctxFor(t)
	a, err := s.b.Put(ctx, key, []byte("first"), objstore.PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("create-if-absent of a new key: %v", err)
	}
	if a.ETag == "" || a.Size != 5 {
		t.Errorf("create-if-absent returned %+v", a)
	}

	b, err := s.b.Put(ctx, key, []byte("second"), objstore.PutOptions{IfNoneMatch: true})
	switch {
	case err == nil:
		t.Fatalf("PROBE FAILED: backend ignores If-None-Match: a create-if-absent put over an "+
			"existing key succeeded (returned %+v); this store cannot be used safely", b)
	case !errors.Is(err, objstore.ErrExists):
		t.Fatalf("create-if-absent over an existing key: got %v, want ErrExists", err)
	}
	got := s.mustContain(t, key, []byte("first"))
	if got.ETag != a.ETag {
		t.Errorf("ETag changed from %q to %q after a refused create", a.ETag, got.ETag)
	}

	// After a delete the key may be created again.
	if err := s.b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.b.Put(ctx, key, []byte("third"), objstore.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatalf("create-if-absent after delete: %v", err)
	}
	s.mustContain(t, key, []byte("third"))
}

func testIfMatch(t *testing.T, s *suite) {
	key := s.k("cas")
	v1 := s.put(t, key, []byte("v1"))

	// The right ETag swaps.
	v2, err := s.b.Put(ctxFor(t), key, []byte("v2 content"), objstore.PutOptions{IfMatch: v1.ETag})
	if err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	if v2.ETag == "" || v2.ETag == v1.ETag {
		t.Fatalf("If-Match put returned ETag %q (previous %q)", v2.ETag, v1.ETag)
	}
	if got := s.mustContain(t, key, []byte("v2 content")); got.ETag != v2.ETag {
		t.Errorf("Get ETag = %q, want %q", got.ETag, v2.ETag)
	}

	stale := []struct {
		name, etag string
	}{
		{"stale ETag", v1.ETag},
		{"made-up ETag", "0123456789abcdef0123456789abcdef"},
	}
	for _, tc := range stale {
		a, err := s.b.Put(ctxFor(t), key, []byte("v3 must not land"), objstore.PutOptions{IfMatch: tc.etag})
		switch {
		case err == nil:
			t.Fatalf("PROBE FAILED: backend ignores If-Match: a put with a %s (%q) replaced the "+
				"object (returned %+v); this store cannot be used safely", tc.name, tc.etag, a)
		case !errors.Is(err, objstore.ErrPrecondition):
			t.Fatalf("If-Match with a %s: got %v, want ErrPrecondition", tc.name, err)
		}
		if got := s.mustContain(t, key, []byte("v2 content")); got.ETag != v2.ETag {
			t.Errorf("ETag changed to %q after a refused If-Match put", got.ETag)
		}
	}

	// If-Match never creates.
	missing := s.k("cas-missing")
	a, err := s.b.Put(ctxFor(t), missing, []byte("x"), objstore.PutOptions{IfMatch: v2.ETag})
	switch {
	case err == nil:
		t.Fatalf("PROBE FAILED: backend ignores If-Match on a missing key: the put created it (%+v)", a)
	case !errors.Is(err, objstore.ErrPrecondition):
		t.Fatalf("If-Match on a missing key: got %v, want ErrPrecondition", err)
	}
	s.mustBeMissing(t, missing)
}

// testConditionalWritesCheck runs the check a vault makes before its first write
// (objstore.CheckConditionalWrites): it must pass, and leave nothing behind.
func testConditionalWritesCheck(t *testing.T, s *suite) {
	if err := objstore.CheckConditionalWrites(ctxFor(t), s.b, s.k("conditional-writes/scratch")); err != nil {
		t.Fatalf("CheckConditionalWrites: %v", err)
	}
	if left := s.list(t, s.prefix); len(left) != 0 {
		t.Fatalf("CheckConditionalWrites left %v", keysOf(left))
	}
}

func testConcurrentCreate(t *testing.T, s *suite) {
	const n = 16
	key := s.k("race")
	ctx := ctxFor(t)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
		tags  = make([]string, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			a, err := s.b.Put(ctx, key, fmt.Appendf(nil, "writer %02d", i), objstore.PutOptions{IfNoneMatch: true})
			errs[i], tags[i] = err, a.ETag
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("PROBE FAILED: create-if-absent is not atomic: writers %d and %d both won", winner, i)
			}
			winner = i
		case !errors.Is(err, objstore.ErrExists):
			t.Errorf("writer %d: got %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer won the race: %v", errs)
	}
	got := s.mustContain(t, key, fmt.Appendf(nil, "writer %02d", winner))
	if got.ETag != tags[winner] {
		t.Errorf("stored ETag %q, winner was told %q", got.ETag, tags[winner])
	}
}

func testDelete(t *testing.T, s *suite) {
	a, b, c := s.k("del/a"), s.k("del/b"), s.k("keep/c")
	for _, key := range []string{a, b, c} {
		s.put(t, key, []byte(key))
	}
	if err := s.b.Delete(ctxFor(t), a, s.k("del/missing"), b, s.k("missing/entirely"), a); err != nil {
		t.Fatalf("Delete with missing and repeated keys: %v", err)
	}
	s.mustBeMissing(t, a)
	s.mustBeMissing(t, b)
	s.mustContain(t, c, []byte(c))
	if got := keysOf(s.list(t, s.prefix)); !slices.Equal(got, []string{c}) {
		t.Errorf("List after Delete = %q, want [%q]", got, c)
	}
	// Retrying a delete, and deleting nothing, succeed.
	if err := s.b.Delete(ctxFor(t), a, b); err != nil {
		t.Errorf("repeated Delete: %v", err)
	}
	if err := s.b.Delete(ctxFor(t)); err != nil {
		t.Errorf("Delete of no keys: %v", err)
	}
	// A deleted key can be written again.
	s.put(t, a, []byte("again"))
	s.mustContain(t, a, []byte("again"))
}

// testDeleteMany deletes more keys than one S3 DeleteObjects request may carry.
func testDeleteMany(t *testing.T, s *suite) {
	const n = 1001
	keys := make([]string, n)
	for i := range keys {
		keys[i] = s.k(fmt.Sprintf("many/%04d", i))
	}
	ctx := ctxFor(t)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var putErr error
	for _, key := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := s.b.Put(ctx, key, []byte(key), objstore.PutOptions{}); err != nil {
				mu.Lock()
				putErr = errors.Join(putErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if putErr != nil {
		t.Fatalf("Put: %v", putErr)
	}
	if got := len(s.list(t, s.k("many/"))); got != n {
		t.Fatalf("List found %d of %d keys", got, n)
	}
	// Keep one key, and mix in missing keys so that real keys lie beyond the 1,000th.
	kept := keys[500]
	del := slices.Concat([]string{s.k("many/missing-1")}, keys[:500], []string{s.k("many/missing-2")}, keys[501:])
	if err := s.b.Delete(ctx, del...); err != nil {
		t.Fatalf("Delete(%d keys): %v", len(del), err)
	}
	if got := keysOf(s.list(t, s.k("many/"))); !slices.Equal(got, []string{kept}) {
		t.Fatalf("after deleting %d keys List = %d keys %q..., want [%q]", len(del), len(got), got[:min(len(got), 3)], kept)
	}
	s.mustBeMissing(t, keys[n-1])
}

// listKeys are names whose lexical order differs from a path-element walk: '-' and '.' sort
// before '/', upper case before lower case, and bytes >= 0x80 last.
var listKeys = []string{
	"b", "a/b/c", "a-c", "a.b", "a/b/d", "a/bc", "A", "a/b-", "ä", "a0", "zz/top",
}

func testListOrder(t *testing.T, s *suite) {
	want := make([]string, len(listKeys))
	sizes := map[string]int64{}
	for i, name := range listKeys {
		key := s.k(name)
		want[i] = key
		sizes[key] = s.put(t, key, []byte(strings.Repeat("x", i))).Size
	}
	slices.Sort(want) // byte-wise, the order the interface promises
	got := s.list(t, s.prefix)
	if !slices.Equal(keysOf(got), want) {
		t.Fatalf("List(%q) =\n  %q\nwant\n  %q", s.prefix, keysOf(got), want)
	}
	for _, a := range got {
		if a.Size != sizes[a.Key] || a.ETag == "" || a.ModTime.IsZero() {
			t.Errorf("List attrs %+v, want size %d and a non-empty ETag and ModTime", a, sizes[a.Key])
		}
	}
}

func testListPrefix(t *testing.T, s *suite) {
	names := []string{"seg/abc", "seg/abd", "seg/ab/x", "seg/ab/y/z", "seg/a", "seg/b", "seg/äb", "segx", "se", "other/seg/abc"}
	for _, name := range names {
		s.put(t, s.k(name), []byte(name))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"seg/ab", []string{"seg/ab/x", "seg/ab/y/z", "seg/abc", "seg/abd"}},
		{"seg/ab/", []string{"seg/ab/x", "seg/ab/y/z"}},
		{"seg/", []string{"seg/a", "seg/ab/x", "seg/ab/y/z", "seg/abc", "seg/abd", "seg/b", "seg/äb"}},
		{"seg", []string{"seg/a", "seg/ab/x", "seg/ab/y/z", "seg/abc", "seg/abd", "seg/b", "seg/äb", "segx"}},
		{"seg/\xc3", []string{"seg/äb"}}, // ends inside the two-byte "ä"
		{"seg/ä", []string{"seg/äb"}},
		{"seg/abc", []string{"seg/abc"}},
		{"seg/ab/y/z", []string{"seg/ab/y/z"}},
		{"seg/ab/y/z/", nil},
		{"seg/abz", nil},
		{"nothing/here/", nil},
		{"seg//", nil},
		{"seg/../", nil},
		{"seg/./ab", nil},
		{"seg/a\n", nil},
		{"seg/a\\", nil},
		{"seg/\xffb", nil},
	}
	for _, tc := range tests {
		t.Run(tc.prefix, func(t *testing.T) {
			var want []string
			for _, name := range tc.want {
				want = append(want, s.k(name))
			}
			if got := keysOf(s.list(t, s.k(tc.prefix))); !slices.Equal(got, want) {
				t.Errorf("List(%q) = %q, want %q", s.k(tc.prefix), got, want)
			}
		})
	}
}

// testListAfter resumes listings: only keys that sort after the given one, with the prefix,
// in order; List and ListAfter with "" list the same.
func testListAfter(t *testing.T, s *suite) {
	for _, name := range listKeys {
		s.put(t, s.k(name), []byte(name))
	}
	s.put(t, s.k("other"), nil)
	all := keysOf(s.list(t, s.prefix))
	for _, tc := range []struct{ prefix, after string }{
		{"", ""}, {"", "a/b"}, {"", "a/b/c"}, {"", "a0"}, {"", "zz/top"}, {"", "zzz"}, {"a", "a-c"}, {"a/", "a/b/d"}, {"a/b/", "a/b-"},
	} {
		prefix, after := s.k(tc.prefix), s.k(tc.after)
		if tc.after == "" {
			after = ""
		}
		var want []string
		for _, key := range all {
			if strings.HasPrefix(key, prefix) && key > after {
				want = append(want, key)
			}
		}
		var got []string
		if err := s.b.ListAfter(ctxFor(t), prefix, after, func(a objstore.Attrs) error {
			got = append(got, a.Key)
			return nil
		}); err != nil {
			t.Fatalf("ListAfter(%q, %q): %v", prefix, after, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ListAfter(%q, %q) = %q, want %q", prefix, after, got, want)
		}
	}
}

// testListEverything lists with prefix "". On a shared bucket other objects appear too: the
// listing must be in order and contain exactly this subtest's keys under its prefix.
func testListEverything(t *testing.T, s *suite) {
	want := []string{s.k("1"), s.k("2/x"), s.k("3")}
	for _, key := range want {
		s.put(t, key, []byte(key))
	}
	var mine []string
	prev := ""
	n := 0
	err := s.b.List(ctxFor(t), "", func(a objstore.Attrs) error {
		if n > 0 && a.Key <= prev {
			return fmt.Errorf("key %q listed after %q", a.Key, prev)
		}
		prev = a.Key
		n++
		if strings.HasPrefix(a.Key, s.prefix) {
			mine = append(mine, a.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List(\"\"): %v", err)
	}
	if !slices.Equal(mine, want) {
		t.Fatalf("List(\"\") under %q = %q, want %q", s.prefix, mine, want)
	}
}

func testListStop(t *testing.T, s *suite) {
	for i := range 5 {
		s.put(t, s.k(fmt.Sprintf("stop/%d", i)), []byte{byte(i)})
	}
	errStop := errors.New("stop here")
	var seen []string
	err := s.b.List(ctxFor(t), s.k("stop/"), func(a objstore.Attrs) error {
		seen = append(seen, a.Key)
		if len(seen) == 2 {
			return fmt.Errorf("wrapped: %w", errStop)
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("List returned %v, want the callback's error", err)
	}
	if want := []string{s.k("stop/0"), s.k("stop/1")}; !slices.Equal(seen, want) {
		t.Fatalf("callback saw %q, want %q and then no more", seen, want)
	}
}

func testInvalidKeys(t *testing.T, s *suite) {
	valid := s.k("valid")
	tests := []struct{ name, key string }{
		{"empty", ""},
		{"dotdot", "../x"},
		{"inner dotdot", s.k("a/../b")},
		{"trailing dotdot", s.k("a/..")},
		{"absolute", "/abs"},
		{"double slash", s.k("a//b")},
		{"trailing slash", s.k("a/")},
		{"dot", s.k("a/./b")},
		{"lone dot", "."},
		{"newline", s.k("a\nb")},
		{"nul", s.k("a\x00b")},
		{"del", s.k("a\x7fb")},
		{"backslash", s.k(`a\..\b`)},
		{"invalid utf-8", s.k("a\xffb")},
		{"too long", keyOfLen(s.k("long/"), objstore.MaxKeyLen+1)},
	}
	s.put(t, valid, []byte("v"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t)
			if a, err := s.b.Put(ctx, tc.key, []byte("x"), objstore.PutOptions{}); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Put(%q) = %+v, %v; want ErrInvalidKey", tc.key, a, err)
			}
			if a, err := s.b.Put(ctx, tc.key, []byte("x"), objstore.PutOptions{IfNoneMatch: true}); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Put(%q, IfNoneMatch) = %+v, %v; want ErrInvalidKey", tc.key, a, err)
			}
			if _, _, err := s.b.Get(ctx, tc.key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Get(%q): %v; want ErrInvalidKey", tc.key, err)
			}
			if _, err := s.b.Stat(ctx, tc.key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Stat(%q): %v; want ErrInvalidKey", tc.key, err)
			}
			// A batch with one bad key is rejected as a whole.
			if err := s.b.Delete(ctx, valid, tc.key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Delete(%q): %v; want ErrInvalidKey", tc.key, err)
			}
			s.mustContain(t, valid, []byte("v"))
		})
	}
	// The longest valid key works.
	maxKey := keyOfLen(s.k("m/"), objstore.MaxKeyLen)
	s.put(t, maxKey, []byte("max"))
	s.mustContain(t, maxKey, []byte("max"))
	if got := keysOf(s.list(t, s.k("m/"))); !slices.Equal(got, []string{maxKey}) {
		t.Errorf("List of the %d-byte key = %q", objstore.MaxKeyLen, got)
	}
}

func testCancelledContext(t *testing.T, s *suite) {
	key := s.k("cancelled")
	s.put(t, key, []byte("before"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ops := []struct {
		name string
		fn   func() error
	}{
		{"Put", func() error {
			_, err := s.b.Put(ctx, s.k("cancelled-new"), []byte("x"), objstore.PutOptions{})
			return err
		}},
		{"Get", func() error { _, _, err := s.b.Get(ctx, key); return err }},
		{"Stat", func() error { _, err := s.b.Stat(ctx, key); return err }},
		{"Delete", func() error { return s.b.Delete(ctx, key) }},
		{"List", func() error {
			return s.b.List(ctx, s.prefix, func(objstore.Attrs) error { return nil })
		}},
	}
	for _, op := range ops {
		if err := op.fn(); err == nil {
			t.Errorf("%s with a cancelled context succeeded", op.name)
		}
	}
	// Nothing happened: the object is still there and nothing new was written.
	s.mustContain(t, key, []byte("before"))
	s.mustBeMissing(t, s.k("cancelled-new"))
}

// keyOfLen returns a valid-looking key of exactly n bytes starting with prefix, made of path
// elements of at most 100 bytes (filesystems limit the length of one element).
func keyOfLen(prefix string, n int) string {
	b := []byte(prefix)
	for len(b) < n {
		if len(b) < n-1 && len(b)%100 == 99 && b[len(b)-1] != '/' {
			b = append(b, '/')
		} else {
			b = append(b, 'y')
		}
	}
	return string(b)
}
