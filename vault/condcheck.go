package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/stowken/stowken/objstore"
)

// The vault's safety rests on the bucket's conditional writes: a manifest is written
// create-if-absent, so that storing a different conversation under an existing id fails with
// ErrConflict instead of replacing the first one (whose references Verify would then reclaim as
// leaked, and whose segments GC would collect). Some S3-compatible servers accept
// "If-None-Match: *" and "If-Match" and ignore them. So before its first write to a bucket a
// Vault checks, once, that the bucket honours both (objstore.CheckConditionalWrites, on a
// scratch object under conditionsScratchPrefix), and remembers a passed check in the bucket as
// the marker object conditionsMarkerKey, so that later Vaults over the same bucket pay one GET
// and no probe. The marker's key is not "checks/conditional-writes" because a file system
// bucket (objstore/fs) cannot hold a key that is a path prefix of another (the scratch keys).
//
// A bucket that ignores a condition makes every write operation of the Vault fail with an
// error wrapping objstore.ErrConditionsIgnored, and the Vault writes nothing else; the verdict
// holds for the Vault's lifetime. A check that could not finish (a failed request) is not
// remembered: the next write operation checks again. `stowken init` runs the check explicitly
// (CheckConditionalWrites), even when the marker exists: a marker is trusted, so a store moved
// to a server that ignores conditions is caught by init, which then deletes the marker.
//
// Keys are relative to the bucket (for S3, under the store's prefix). Every PUT of the check is
// conditional; deleting the scratch object needs DeleteObject on conditionsScratchPrefix, and a
// failed deletion fails the check (not a verdict: it is retried).
const (
	conditionsMarkerKey     = "checks/conditional-writes.json"
	conditionsScratchPrefix = "checks/conditional-writes/"
)

// conditionsMarker is the content of the marker object: when the check passed, and what it
// found honoured.
type conditionsMarker struct {
	CheckedAt time.Time `json:"checked_at"`
	Honoured  []string  `json:"honoured"`
}

// conditionsChecked are the conditions objstore.CheckConditionalWrites checks, for the marker.
var conditionsChecked = []string{"If-None-Match: *", "If-Match"}

// conditionsState is a Vault's knowledge of its bucket's conditional writes.
type conditionsState struct {
	mu sync.Mutex
	// done is set once there is a verdict: err is nil (honoured) or wraps
	// objstore.ErrConditionsIgnored.
	done bool
	err  error
	// flight is closed when the check in progress ends; nil when none runs.
	flight chan struct{}
}

// settle records the outcome of a check when it is a verdict, and reports err.
func (s *conditionsState) settle(err error) error {
	if err == nil || errors.Is(err, objstore.ErrConditionsIgnored) {
		s.mu.Lock()
		s.done, s.err = true, err
		s.mu.Unlock()
	}
	return err
}

// requireConditions returns nil once the bucket is known to honour conditional writes, and the
// error that keeps the Vault from writing otherwise. Write operations call it before their
// first write, after validating their input. The first call reads the marker and, when it is
// absent, runs the check; concurrent callers wait for that one check (or for their context).
func (v *Vault) requireConditions(ctx context.Context) error {
	s := &v.conditions
	for {
		s.mu.Lock()
		if s.done {
			err := s.err
			s.mu.Unlock()
			return err
		}
		if flight := s.flight; flight != nil {
			s.mu.Unlock()
			select {
			case <-flight:
				continue // done, or failed without a verdict: then check again
			case <-ctx.Done():
				return fmt.Errorf("waiting for the check of conditional writes: %w", context.Cause(ctx))
			}
		}
		flight := make(chan struct{})
		s.flight = flight
		s.mu.Unlock()

		err := s.settle(v.markedOrCheck(ctx))
		s.mu.Lock()
		s.flight = nil
		s.mu.Unlock()
		close(flight)
		return err
	}
}

// markedOrCheck returns nil when the marker exists, and checks the bucket otherwise.
func (v *Vault) markedOrCheck(ctx context.Context) error {
	_, _, err := v.bucket.Get(ctx, conditionsMarkerKey)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, objstore.ErrNotFound):
		return fmt.Errorf("read %s: %w", conditionsMarkerKey, err)
	}
	return v.checkConditions(ctx)
}

// checkConditions runs objstore.CheckConditionalWrites on a fresh scratch key and, when the
// bucket passes, writes the marker (create-if-absent: a marker already there is as good).
func (v *Vault) checkConditions(ctx context.Context) error {
	scratch := conditionsScratchPrefix + randomHex(8)
	if err := objstore.CheckConditionalWrites(ctx, v.bucket, scratch); err != nil {
		return err
	}
	body, err := json.Marshal(conditionsMarker{CheckedAt: v.now().UTC(), Honoured: slices.Clone(conditionsChecked)})
	if err != nil {
		return err
	}
	_, err = v.bucket.Put(ctx, conditionsMarkerKey, append(body, '\n'), objstore.PutOptions{IfNoneMatch: true, ContentType: "application/json"})
	if err != nil && !errors.Is(err, objstore.ErrExists) {
		return fmt.Errorf("conditional writes are honoured, but writing the marker %s failed: %w", conditionsMarkerKey, err)
	}
	v.log.Info("checked the bucket's conditional writes", "honoured", conditionsChecked, "marker", conditionsMarkerKey)
	return nil
}

// CheckConditionalWrites checks now, whatever the marker says, that the bucket honours
// create-if-absent ("If-None-Match: *") and compare-and-swap ("If-Match") writes, on which the
// Vault's safety rests, and records the result in the bucket and in the Vault: a passed check
// writes the marker object (if absent), which spares later Vaults the check; a failed one
// deletes it, so that every Vault opened afterwards checks again and refuses to write. The error
// of a bucket that ignores a condition wraps objstore.ErrConditionsIgnored and names the
// condition. (Write operations check by themselves, once, before their first write, unless the
// marker exists; `stowken init` calls this.)
func (v *Vault) CheckConditionalWrites(ctx context.Context) error {
	err := v.conditions.settle(v.checkConditions(ctx))
	if errors.Is(err, objstore.ErrConditionsIgnored) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := v.bucket.Delete(dctx, conditionsMarkerKey); derr != nil {
			err = errors.Join(err, fmt.Errorf("delete the marker %s: %w", conditionsMarkerKey, derr))
		}
	}
	if err != nil {
		return fmt.Errorf("vault: check conditional writes: %w", err)
	}
	return nil
}

// requireConditionsFor fails the pending stores that passed validation when the bucket is not
// known to honour conditional writes (see requireConditions). It makes no request when none
// passed, so that a call whose every input is invalid writes nothing.
func (v *Vault) requireConditionsFor(ctx context.Context, ps []*pendingStore) {
	if !slices.ContainsFunc(ps, func(p *pendingStore) bool { return p.err == nil }) {
		return
	}
	err := v.requireConditions(ctx)
	if err == nil {
		return
	}
	for _, p := range ps {
		if p.err == nil {
			p.err = fmt.Errorf("vault: store %q: refusing to write: %w", p.c.ID, err)
		}
	}
}
