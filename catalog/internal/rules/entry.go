// Package rules is what every catalog backend (catalog/parquet, catalog/mem)
// shares, so that they agree to the millisecond: entry validation and normalization, the
// (CreatedAt, ID) order, and query plans: validation, the key range to walk, filter matching,
// and cursors.
package rules

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stowken/stowken/catalog"
)

// MaxMillis is the latest time an entry may carry, 9999-12-31T23:59:59.999Z in Unix
// milliseconds (15 decimal digits).
const MaxMillis = 253402300799999

// Millis encodes t as Unix milliseconds (rounded down).
func Millis(t time.Time) int64 { return t.UnixMilli() }

// Time decodes Unix milliseconds as a UTC time.
func Time(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// Key is an entry's position in the order of List: CreatedAt in milliseconds, then ID.
type Key struct {
	Ms int64
	ID string
}

// KeyOf returns e's position.
func KeyOf(e catalog.Entry) Key { return Key{Millis(e.CreatedAt), e.ID} }

// Compare orders keys by Ms, then ID (bytewise); the result is -1, 0 or +1.
func (k Key) Compare(o Key) int {
	switch {
	case k.Ms < o.Ms:
		return -1
	case k.Ms > o.Ms:
		return 1
	}
	return strings.Compare(k.ID, o.ID)
}

// Normalize checks e against the limits of catalog.Entry and returns the form every backend
// keeps and returns: CreatedAt defaulted to StoredAt, times truncated to milliseconds in UTC,
// maps copied, empty maps nil. Errors wrap catalog.ErrInvalidEntry.
func Normalize(e catalog.Entry) (catalog.Entry, error) {
	bad := func(format string, args ...any) (catalog.Entry, error) {
		return catalog.Entry{}, fmt.Errorf("%w: entry %q: %s", catalog.ErrInvalidEntry, e.ID, fmt.Sprintf(format, args...))
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = e.StoredAt
	}
	switch {
	case e.ID == "":
		return bad("empty ID")
	case len(e.ID) > catalog.MaxIDBytes:
		return bad("ID of %d bytes, longer than %d", len(e.ID), catalog.MaxIDBytes)
	case len(e.Application) > catalog.MaxFieldBytes || len(e.Model) > catalog.MaxFieldBytes || len(e.Tokenizer) > catalog.MaxFieldBytes:
		return bad("application, model or tokenizer longer than %d bytes", catalog.MaxFieldBytes)
	case e.Messages < 0 || e.StoredBytes < 0:
		return bad("negative message count or size")
	case len(e.Signature) > catalog.MaxSketchBytes || len(e.Vector) > catalog.MaxSketchBytes:
		return bad("signature or vector longer than %d bytes", catalog.MaxSketchBytes)
	case len(e.Batch) > catalog.MaxFieldBytes:
		return bad("batch longer than %d bytes", catalog.MaxFieldBytes)
	}
	for _, s := range []string{e.ID, e.Nonce, e.Batch, e.Application, e.Model, e.Tokenizer} {
		if err := CheckString(s); err != nil {
			return bad("%v", err)
		}
	}
	for name, t := range map[string]time.Time{"CreatedAt": e.CreatedAt, "StoredAt": e.StoredAt} {
		if ms := Millis(t); ms < 0 || ms > MaxMillis {
			return bad("%s %s is not between 1970 and the end of 9999", name, t.Format(time.RFC3339Nano))
		}
	}
	for role, n := range e.Tokens {
		if role == "" || n < 0 {
			return bad("tokens %q: %d", role, n)
		}
		if err := CheckString(role); err != nil {
			return bad("token role: %v", err)
		}
	}
	for k, v := range e.Metadata {
		if k == "" {
			return bad("empty metadata key")
		}
		if err := CheckString(k); err != nil {
			return bad("metadata key: %v", err)
		}
		if err := CheckString(v); err != nil {
			return bad("metadata %q: %v", k, err)
		}
	}
	e.CreatedAt, e.StoredAt = Time(Millis(e.CreatedAt)), Time(Millis(e.StoredAt))
	e = Clone(e)
	if n := e.Size(); n > catalog.MaxEntryBytes {
		return bad("about %d bytes, more than %d", n, catalog.MaxEntryBytes)
	}
	return e, nil
}

// NormalizeAll normalizes every entry (Normalize), or fails on the first invalid one.
func NormalizeAll(entries []catalog.Entry) ([]catalog.Entry, error) {
	out := make([]catalog.Entry, len(entries))
	for i, e := range entries {
		var err error
		if out[i], err = Normalize(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CheckString rejects strings a backend cannot keep or tell apart: invalid UTF-8 (Parquet
// strings are UTF-8) and NUL bytes (catalog/parquet names a deletion by a hash of the ID and
// the nonce separated by NUL).
func CheckString(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not valid UTF-8", s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%q contains a NUL byte", s)
	}
	return nil
}

// Clone returns e with its own copies of the maps and sketches; empty ones become nil.
func Clone(e catalog.Entry) catalog.Entry {
	e.Tokens = cloneMap(e.Tokens)
	e.Metadata = cloneMap(e.Metadata)
	e.Signature = cloneBytes(e.Signature)
	e.Vector = cloneBytes(e.Vector)
	return e
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

func cloneMap[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
