package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestCeilMillis(t *testing.T) {
	base := t0.UnixMilli()
	tests := []struct {
		t    time.Time
		want int64
	}{
		{t0, base},
		{t0.Add(time.Nanosecond), base + 1},
		{t0.Add(999999 * time.Nanosecond), base + 1},
		{t0.Add(time.Millisecond), base + 1},
		{t0.Add(-time.Nanosecond), base},
		{time.UnixMilli(0).Add(-time.Nanosecond), 0},
		{time.UnixMilli(-5).Add(-time.Nanosecond), -5},
	}
	for _, tc := range tests {
		if got := ceilMillis(tc.t); got != tc.want {
			t.Errorf("ceilMillis(%s) = %d, want %d", tc.t.Format(time.RFC3339Nano), got, tc.want)
		}
	}
	if MaxMillis != time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli() {
		t.Fatalf("MaxMillis %d is not the last millisecond of 9999", MaxMillis)
	}
}

func TestKeyCompare(t *testing.T) {
	ordered := []Key{{0, "a"}, {1, ""}, {1, "B"}, {1, "a"}, {1, "a\x01"}, {1, "b"}, {2, "A"}}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := ordered[i].Compare(ordered[j]); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestNormalize(t *testing.T) {
	in := catalog.Entry{ID: "x", StoredAt: t0.Add(1500 * time.Microsecond).In(time.FixedZone("", 3600)),
		Tokens: map[string]int64{}, Metadata: map[string]string{"k": "v"}}
	e, err := Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := t0.Add(time.Millisecond)
	if !e.CreatedAt.Equal(want) || !e.StoredAt.Equal(want) || e.CreatedAt.Location() != time.UTC {
		t.Fatalf("times %s, %s; want %s in UTC", e.CreatedAt, e.StoredAt, want)
	}
	if e.Tokens != nil {
		t.Fatalf("empty Tokens not nil: %#v", e.Tokens)
	}
	in.Metadata["k"] = "changed"
	if e.Metadata["k"] != "v" {
		t.Fatal("Normalize shares the caller's map")
	}
	bad := []catalog.Entry{
		{StoredAt: t0},
		{ID: "x"},
		{ID: "x", StoredAt: t0, Nonce: "a\x00"},
		{ID: "x", StoredAt: t0, Tokenizer: "\xc3"},
		{ID: strings.Repeat("x", catalog.MaxIDBytes+1), StoredAt: t0},
		{ID: "x", StoredAt: t0, Metadata: map[string]string{"k\x00": "v"}},
		{ID: "x", StoredAt: t0, Metadata: map[string]string{"k": "\xff"}},
		{ID: "x", StoredAt: t0, Tokens: map[string]int64{"\xff": 1}},
		{ID: "x", StoredAt: t0, CreatedAt: time.UnixMilli(-1)},
		{ID: "x", StoredAt: time.UnixMilli(MaxMillis + 1)},
	}
	for _, e := range bad {
		if _, err := Normalize(e); !errors.Is(err, catalog.ErrInvalidEntry) {
			t.Errorf("Normalize(%+v): %v, want ErrInvalidEntry", e, err)
		}
	}
	if _, err := Normalize(catalog.Entry{ID: "x", StoredAt: time.UnixMilli(MaxMillis), CreatedAt: time.UnixMilli(0)}); err != nil {
		t.Errorf("Normalize at the ends of the time range: %v", err)
	}
}

func mustPlan(t *testing.T, q catalog.Query) *Plan {
	t.Helper()
	p, err := NewPlan(q)
	if err != nil {
		t.Fatalf("NewPlan(%+v): %v", q, err)
	}
	return p
}

func TestPlanBounds(t *testing.T) {
	ms := t0.UnixMilli()
	cursorAt := func(q catalog.Query, k Key) string {
		return mustPlan(t, q).encodeCursor(k)
	}
	newest := catalog.Query{Since: t0, Until: t0.Add(time.Hour)}
	oldest := newest
	oldest.Oldest = true
	tests := []struct {
		name         string
		q            catalog.Query
		lower, upper Key
		empty        bool
	}{
		{"Everything", catalog.Query{}, Key{0, ""}, Key{MaxMillis + 1, ""}, false},
		{"Range", newest, Key{ms, ""}, Key{ms + 3600000, ""}, false},
		{"SubMillisecond", catalog.Query{Since: t0.Add(time.Microsecond), Until: t0.Add(2 * time.Microsecond)}, Key{ms + 1, ""}, Key{ms + 1, ""}, true},
		{"Clamped", catalog.Query{Since: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)},
			Key{0, ""}, Key{MaxMillis + 1, ""}, false},
		{"NewestFirstCursor", with(newest, cursorAt(newest, Key{ms + 5, "id"})), Key{ms, ""}, Key{ms + 5, "id"}, false},
		{"OldestFirstCursor", with(oldest, cursorAt(oldest, Key{ms + 5, "id"})), Key{ms + 5, "id"}, Key{ms + 3600000, ""}, false},
		{"CursorAtTheStart", with(newest, cursorAt(newest, Key{ms, "a"})), Key{ms, ""}, Key{ms, "a"}, false},
		{"CursorBeforeTheRange", with(newest, cursorAt(newest, Key{ms - 1, "a"})), Key{ms, ""}, Key{ms - 1, "a"}, true},
		{"CursorPastTheRange", with(oldest, cursorAt(oldest, Key{ms + 3600000, "a"})), Key{ms + 3600000, "a"}, Key{ms + 3600000, ""}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPlan(t, tc.q)
			if p.Lower() != tc.lower || p.Upper() != tc.upper || p.Empty() != tc.empty {
				t.Fatalf("Lower %v, Upper %v, Empty %v; want %v, %v, %v", p.Lower(), p.Upper(), p.Empty(), tc.lower, tc.upper, tc.empty)
			}
		})
	}
}

func with(q catalog.Query, cursor string) catalog.Query {
	q.Cursor = cursor
	return q
}

func TestPlanIndexAndLimit(t *testing.T) {
	tests := []struct {
		q     catalog.Query
		ix    Index
		value string
		limit int
	}{
		{catalog.Query{}, ByTime, "", catalog.DefaultLimit},
		{catalog.Query{Tokenizer: "t", Limit: 7}, ByTime, "", 7},
		{catalog.Query{Model: "m"}, ByModel, "m", catalog.DefaultLimit},
		{catalog.Query{Application: "a", Model: "m", Limit: catalog.MaxLimit}, ByApp, "a", catalog.MaxLimit},
	}
	for _, tc := range tests {
		p := mustPlan(t, tc.q)
		if ix, v := p.Index(); ix != tc.ix || v != tc.value || p.Limit != tc.limit || p.Want() != tc.limit+1 {
			t.Errorf("plan of %+v: index %v %q, limit %d; want %v %q, %d", tc.q, ix, v, p.Limit, tc.ix, tc.value, tc.limit)
		}
	}
}

func TestCursor(t *testing.T) {
	q := catalog.Query{Application: "a", Metadata: map[string]string{"x": "1", "y": "2", "z": "3"}, Limit: 2}
	p := mustPlan(t, q)
	page := p.Page([]catalog.Entry{
		{ID: "c", CreatedAt: t0.Add(2 * time.Millisecond)},
		{ID: "b", CreatedAt: t0.Add(time.Millisecond)},
		{ID: "a", CreatedAt: t0},
	})
	if len(page.Entries) != 2 || page.Next == "" {
		t.Fatalf("Page of 3 with limit 2: %d entries, next %q", len(page.Entries), page.Next)
	}
	// The same filters with another limit and a map built in another order accept it.
	q2 := catalog.Query{Limit: 9, Metadata: map[string]string{"z": "3", "y": "2", "x": "1"}, Application: "a", Cursor: page.Next}
	p2 := mustPlan(t, q2)
	if p2.after == nil || *p2.after != (Key{t0.UnixMilli() + 1, "b"}) {
		t.Fatalf("cursor decoded to %v", p2.after)
	}
	if p2.Match(catalog.Entry{ID: "b", Application: "a", CreatedAt: t0.Add(time.Millisecond), Metadata: q.Metadata}) {
		t.Fatal("the cursor's own entry matches again")
	}
	if !p2.Match(catalog.Entry{ID: "a", Application: "a", CreatedAt: t0, Metadata: q.Metadata}) {
		t.Fatal("the entry after the cursor does not match")
	}
	if short := p.Page([]catalog.Entry{{ID: "c"}, {ID: "b"}}); short.Next != "" {
		t.Fatalf("a page of exactly the limit has a cursor: %q", short.Next)
	}
	q3 := q2
	q3.Metadata = map[string]string{"x": "1", "y": "2"}
	if _, err := NewPlan(q3); !errors.Is(err, catalog.ErrInvalidCursor) {
		t.Fatalf("cursor with other metadata: %v", err)
	}
	forged := mustPlan(t, catalog.Query{}).encodeCursor(Key{-1, "x"})
	if _, err := NewPlan(catalog.Query{Cursor: forged}); !errors.Is(err, catalog.ErrInvalidCursor) {
		t.Fatalf("cursor with a negative time: %v", err)
	}
}
