package rules

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stowken/stowken/catalog"
)

// Index names one of the orders every backend keeps.
type Index int

// The indexes List can walk.
const (
	// ByTime holds every entry.
	ByTime Index = iota
	// ByApp holds the entries of one application (those with an application).
	ByApp
	// ByModel holds the entries of one model (those with a model).
	ByModel
)

// Plan is a validated query: the index to walk, the key range to walk, the page size, and the
// filters every visited entry must pass.
//
// A backend walks the index from Lower to Upper (both inclusive) when ascending, from Upper down
// to Lower when descending, keeps the entries Match accepts until it has Want of them, and
// returns Page of those. Lower and Upper may be the cursor's key itself, which Match rejects.
type Plan struct {
	// Query is the query as given.
	Query catalog.Query
	// Limit is the page size.
	Limit int
	// Desc is true for newest first.
	Desc bool

	since, until int64 // CreatedAt in [since, until), Unix ms, within [0, MaxMillis+1]
	after        *Key  // the cursor's position, nil on the first page
	check        string
}

// NewPlan validates q and decodes its cursor. Errors wrap catalog.ErrInvalidQuery or
// catalog.ErrInvalidCursor.
func NewPlan(q catalog.Query) (*Plan, error) {
	bad := func(format string, args ...any) (*Plan, error) {
		return nil, fmt.Errorf("%w: %s", catalog.ErrInvalidQuery, fmt.Sprintf(format, args...))
	}
	switch {
	case q.Limit < 0 || q.Limit > catalog.MaxLimit:
		return bad("limit %d is not between 0 and %d", q.Limit, catalog.MaxLimit)
	case !q.Since.IsZero() && !q.Until.IsZero() && q.Since.After(q.Until):
		return bad("since %s is after until %s", q.Since.Format(time.RFC3339Nano), q.Until.Format(time.RFC3339Nano))
	}
	for _, s := range []string{q.Application, q.Model, q.Tokenizer} {
		if err := CheckString(s); err != nil {
			return bad("%v", err)
		}
	}
	for k, v := range q.Metadata {
		if k == "" {
			return bad("empty metadata key")
		}
		if err := errors.Join(CheckString(k), CheckString(v)); err != nil {
			return bad("metadata %v", err)
		}
	}
	p := &Plan{Query: q, Limit: q.Limit, Desc: !q.Oldest, until: MaxMillis + 1}
	if p.Limit == 0 {
		p.Limit = catalog.DefaultLimit
	}
	if !q.Since.IsZero() {
		p.since = max(ceilMillis(q.Since), 0)
	}
	if !q.Until.IsZero() {
		p.until = min(ceilMillis(q.Until), MaxMillis+1)
	}
	p.check = p.fingerprint()
	if q.Cursor != "" {
		k, err := p.decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		p.after = &k
	}
	return p, nil
}

// ceilMillis is the first Unix millisecond not before t, so that a stored millisecond time m
// satisfies m >= t exactly when m >= ceilMillis(t) (and likewise for <).
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

// Index returns the index to walk and its value (application or model): the application when
// the query names one, else the model, else every entry.
func (p *Plan) Index() (Index, string) {
	switch {
	case p.Query.Application != "":
		return ByApp, p.Query.Application
	case p.Query.Model != "":
		return ByModel, p.Query.Model
	}
	return ByTime, ""
}

// Lower is the smallest key the walk must visit.
func (p *Plan) Lower() Key {
	k := Key{Ms: p.since}
	if p.after != nil && !p.Desc && p.after.Compare(k) > 0 {
		return *p.after
	}
	return k
}

// Upper is the largest key the walk must visit. No entry has it unless it is the cursor's.
func (p *Plan) Upper() Key {
	k := Key{Ms: p.until}
	if p.after != nil && p.Desc && p.after.Compare(k) < 0 {
		return *p.after
	}
	return k
}

// Empty reports that no entry can match, so the walk can be skipped.
func (p *Plan) Empty() bool { return p.Lower().Compare(p.Upper()) >= 0 }

// Want is how many matching entries a backend collects: one more than the page, to know
// whether there is a next page.
func (p *Plan) Want() int { return p.Limit + 1 }

// Before reports whether a comes before b in the plan's order.
func (p *Plan) Before(a, b catalog.Entry) bool {
	c := KeyOf(a).Compare(KeyOf(b))
	return p.Desc && c > 0 || !p.Desc && c < 0
}

// Match reports whether e belongs on this page: it passes every filter and lies past the cursor.
func (p *Plan) Match(e catalog.Entry) bool {
	q := p.Query
	switch {
	case q.Application != "" && e.Application != q.Application,
		q.Model != "" && e.Model != q.Model,
		q.Tokenizer != "" && e.Tokenizer != q.Tokenizer:
		return false
	}
	if ms := Millis(e.CreatedAt); ms < p.since || ms >= p.until {
		return false
	}
	if p.after != nil {
		c := KeyOf(e).Compare(*p.after)
		if p.Desc && c >= 0 || !p.Desc && c <= 0 {
			return false
		}
	}
	for k, v := range q.Metadata {
		if got, ok := e.Metadata[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Page returns the page of matched: the first Limit of up to Want matching entries, in order,
// with a cursor when there were more.
func (p *Plan) Page(matched []catalog.Entry) catalog.Page {
	if len(matched) <= p.Limit {
		return catalog.Page{Entries: matched}
	}
	matched = matched[:p.Limit]
	return catalog.Page{Entries: matched, Next: p.encodeCursor(KeyOf(matched[len(matched)-1]))}
}

// cursor is what Page.Next encodes: base64url (unpadded) of this JSON.
type cursor struct {
	Ms    int64  `json:"t"`
	ID    string `json:"id"`
	Check string `json:"q"` // the query's fingerprint
}

// fingerprint identifies what a cursor depends on: the filters and the order, not the limit.
func (p *Plan) fingerprint() string {
	q := p.Query
	meta := make([][2]string, 0, len(q.Metadata))
	for k, v := range q.Metadata {
		meta = append(meta, [2]string{k, v})
	}
	slices.SortFunc(meta, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	b, _ := json.Marshal([]any{q.Application, q.Model, q.Tokenizer, p.since, p.until, meta, p.Desc}) // never fails
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func (p *Plan) encodeCursor(k Key) string {
	b, _ := json.Marshal(cursor{Ms: k.Ms, ID: k.ID, Check: p.check}) // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *Plan) decodeCursor(s string) (Key, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	switch {
	case err != nil:
		return Key{}, fmt.Errorf("%w: %q is not a cursor", catalog.ErrInvalidCursor, s)
	case c.Check != p.check:
		return Key{}, fmt.Errorf("%w: the cursor was made for another query or order", catalog.ErrInvalidCursor)
	case c.ID == "" || c.Ms < 0 || c.Ms > MaxMillis:
		return Key{}, fmt.Errorf("%w: the cursor holds no valid position", catalog.ErrInvalidCursor)
	}
	return Key{c.Ms, c.ID}, nil
}
