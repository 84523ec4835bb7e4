// Package rules holds the head-state transitions, name checks and time encoding shared by the
// refcount stores (refcount/mem and refcount/bolt; refcount/dynamodb uses the checks and times). The DynamoDB store states the same
// rules as condition expressions; refcount/refcounttest checks that all of them agree.
//
// Times are kept as Unix milliseconds, the precision every store keeps (DynamoDB stores numbers
// of Unix milliseconds), so that "expired before now" means the same thing everywhere.
//
// A head record keeps ClaimID after the head returns to Live: it names the last claim holder, so
// that a Release or Revive retried after it already took effect (the response was lost) succeeds
// instead of reporting a conflict. Head hides it: a live head reports no claim.
package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/stowken/stowken/refcount"
)

// Millis encodes t as Unix milliseconds.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// Time decodes Unix milliseconds as a UTC time.
func Time(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// CheckName rejects names no backend can store: empty ones, and ones containing a NUL byte
// (the embedded store separates segment and owner with NUL in its keys).
func CheckName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("refcount: empty %s", kind)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("refcount: %s %q contains a NUL byte", kind, name)
	}
	return nil
}

// CheckNames applies CheckName to every name.
func CheckNames(kind string, names []string) error {
	for _, n := range names {
		if err := CheckName(kind, n); err != nil {
			return err
		}
	}
	return nil
}

// CheckPointer rejects a pointer no backend can store: an empty or NUL-carrying id, batch or
// nonce.
func CheckPointer(id string, p refcount.Pointer) error {
	if err := CheckName("id", id); err != nil {
		return err
	}
	if err := CheckName("batch", p.Batch); err != nil {
		return err
	}
	return CheckName("nonce", p.Nonce)
}

// Dedup returns names without repeats, keeping the first occurrence's order.
func Dedup(names []string) []string {
	seen := make(map[string]struct{}, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if _, ok := seen[n]; ok {
			continue
		}
		seen[n] = struct{}{}
		out = append(out, n)
	}
	return out
}

// Record is a stored head item.
type Record struct {
	State   refcount.State `json:"state"`   // Live or Deleting
	Size    int64          `json:"size"`    // object size in bytes
	Created int64          `json:"created"` // Unix ms
	// ClaimID is the holder while Deleting and the last holder while Live.
	ClaimID string `json:"claim_id,omitempty"`
	// ClaimExpires is the claim's expiry (Unix ms) while Deleting, 0 while Live.
	ClaimExpires int64 `json:"claim_expires,omitempty"`
}

// NewLive returns the record CreateHead stores.
func NewLive(size int64, now time.Time) Record {
	return Record{State: refcount.Live, Size: size, Created: Millis(now)}
}

// Head converts the record to the public form; a live head reports no claim.
func (r Record) Head(segment string) refcount.Head {
	h := refcount.Head{Segment: segment, State: r.State, Size: r.Size, Created: Time(r.Created)}
	if r.State == refcount.Deleting {
		h.ClaimID = r.ClaimID
		h.ClaimExpires = Time(r.ClaimExpires)
	}
	return h
}

// Claim applies a claim to r (nil when there is no head). It succeeds when the head is Live,
// already held by claimID (a retried claim; the expiry is set to expires), or Deleting under a
// claim that expired before now. Errors: refcount.ErrNotFound, refcount.ErrConflict.
func Claim(r *Record, claimID string, expires, now time.Time) error {
	if r == nil {
		return refcount.ErrNotFound
	}
	if !(r.State == refcount.Live || r.ClaimID == claimID || r.ClaimExpires < Millis(now)) {
		return refcount.ErrConflict
	}
	r.State = refcount.Deleting
	r.ClaimID = claimID
	r.ClaimExpires = Millis(expires)
	return nil
}

// Release moves a head whose (last) holder is claimID to Live; refcount.ErrConflict when
// claimID does not hold it or there is no head.
func Release(r *Record, claimID string) error {
	if r == nil || r.ClaimID != claimID {
		return refcount.ErrConflict
	}
	r.State = refcount.Live
	r.ClaimExpires = 0
	return nil
}

// Revive moves a head held by claimID under a claim that expired before now to Live (a head
// already revived by claimID stays Live); refcount.ErrConflict otherwise, also without a head.
func Revive(r *Record, claimID string, now time.Time) error {
	if r == nil || r.ClaimID != claimID {
		return refcount.ErrConflict
	}
	if r.State != refcount.Live && r.ClaimExpires >= Millis(now) {
		return refcount.ErrConflict
	}
	r.State = refcount.Live
	r.ClaimExpires = 0
	return nil
}

// MayDelete reports whether DeleteHead by claimID may remove r (nil when already gone): nil when
// r is nil or Deleting under claimID, refcount.ErrConflict otherwise (a live head is never
// deleted, whoever held it last).
func MayDelete(r *Record, claimID string) error {
	if r == nil || (r.State == refcount.Deleting && r.ClaimID == claimID) {
		return nil
	}
	return refcount.ErrConflict
}
