// Package faults is the engine behind the fault-injecting test wrappers objstore/faulty and
// refcount/faulty: a list of programmable faults consumed in order, an optional hook consulted
// on every call, and the four things a network can do to a request besides delivering it once —
// fail it before it is sent, lose the response of a request that was applied, deliver it twice
// (a retry of a request that was applied), and delay it (stall).
//
// It is in the style of kopia's blobtesting.FaultyStorage, with one addition the stowken
// protocol needs: virtual deadlines. The vault computes its deadlines (the writer deadline, the
// collector's delete deadline) from its clock; with a fake clock the context package would never
// fire them, so an Injector given a clock refuses, before sending, a call whose context deadline
// has passed on that clock — what a real client does once its deadline passes.
package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Kind is what happens to a call once its fault fires (after any stall).
type Kind int

const (
	// Pass applies the call normally. With Wait or WaitAfter it is a pure stall.
	Pass Kind = iota
	// FailBefore returns Err without applying the call: the request never reached the server.
	FailBefore
	// FailAfter applies the call, then returns Err instead of its result: the request was
	// applied but the response was lost (a timeout), so the caller believes it failed.
	FailAfter
	// Duplicate applies the call twice and returns the second result, as a request that was
	// applied, whose response was lost, and that the client retried. A call its client sends
	// only once (SingleAttempt) is not retried: its response is lost, as with FailAfter.
	Duplicate
)

// SingleAttempt is implemented by calls that can say their client sends them only once (no
// retry), such as an objstore Put with PutOptions.SingleAttempt.
type SingleAttempt interface {
	SingleAttempt() bool
}

func (k Kind) String() string {
	switch k {
	case Pass:
		return "pass"
	case FailBefore:
		return "fail-before"
	case FailAfter:
		return "fail-after"
	case Duplicate:
		return "duplicate"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ErrInjected is the error of a FailBefore or FailAfter fault whose Err is nil. It matches no
// sentinel error of the wrapped interfaces, like a timeout or a connection reset.
var ErrInjected = errors.New("faulty: injected fault")

// Forever, as Fault.Times, makes a fault fire on every matching call.
const Forever = -1

// Fault is one programmed fault. The zero value (apart from Match) fires once and passes the
// call through: useful with Reached to observe a call.
type Fault[C any] struct {
	// Match selects the calls the fault applies to; nil matches every call.
	Match func(C) bool
	// Times is how many matching calls the fault fires on: 0 means once, Forever every time.
	Times int
	// Reached, when non-nil, receives the call when the fault fires, before anything else
	// happens to it. The send blocks (until the call's context ends), so tests usually give it a
	// buffer or receive from it.
	Reached chan<- C
	// Wait, when non-nil, stalls the call before it is sent until Wait is closed or yields a
	// value. If the call's context ends first, the call fails with the context's error and is
	// not applied.
	Wait <-chan struct{}
	// Kind is what happens after the stall.
	Kind Kind
	// Err is the error FailBefore and FailAfter return (default ErrInjected).
	Err error
	// Applied, when non-nil, receives the call after it was applied (FailAfter, Duplicate, Pass),
	// before WaitAfter. The send blocks like Reached's.
	Applied chan<- C
	// WaitAfter, when non-nil, stalls the call after it was applied, before its result is
	// returned (a slow response), until WaitAfter is closed or yields a value, or the call's
	// context ends (the call then returns the context's error: applied, reported as failed).
	WaitAfter <-chan struct{}

	fired int // guarded by the Injector's mutex
}

// Stats counts what an Injector did.
type Stats struct {
	Calls      int64 // calls seen
	Fired      int64 // calls a fault fired on
	FailBefore int64
	FailAfter  int64
	Duplicate  int64
	Stalled    int64 // calls stalled by Wait or WaitAfter
	Deadline   int64 // calls refused because their virtual deadline had passed
}

// Injected is the number of faults that changed a call's outcome (FailBefore, FailAfter,
// Duplicate and refused deadlines; stalls are not counted).
func (s Stats) Injected() int64 { return s.FailBefore + s.FailAfter + s.Duplicate + s.Deadline }

// Injector decides, call by call, which fault fires. All methods are safe for concurrent use.
type Injector[C any] struct {
	mu     sync.Mutex
	faults []*Fault[C]
	hook   func(context.Context, C) *Fault[C]
	clock  func() time.Time
	epoch  time.Time
	stats  Stats
}

// Add appends faults to the list. For each call the first fault in list order that matches and
// has not used up its Times fires; used-up faults are dropped.
func (in *Injector[C]) Add(faults ...*Fault[C]) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults = append(in.faults, faults...)
}

// SetHook installs a callback consulted on every call before the fault list; a non-nil result
// is the fault for that call (its Times and Match are ignored). The hook runs on the calling
// goroutine and may block, which makes every call a point where a test can schedule
// goroutines. nil removes the hook.
func (in *Injector[C]) SetHook(hook func(ctx context.Context, call C) *Fault[C]) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.hook = hook
}

// Clear removes every fault and the hook; calls already stalled stay stalled until released.
func (in *Injector[C]) Clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults, in.hook = nil, nil
}

// Pending returns how many programmed faults have not fired all their times.
func (in *Injector[C]) Pending() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, f := range in.faults {
		if f.Times < 0 || f.fired < max(f.Times, 1) {
			n++
		}
	}
	return n
}

// VirtualDeadlines makes the injector judge context deadlines by clock: a call whose context
// deadline is not after clock() fails with context.DeadlineExceeded before it is sent (after
// any stall). Only deadlines after epoch are judged this way; earlier ones are real-clock
// deadlines (context.WithTimeout) left to the context package. A fake clock that starts far in
// the future of the real one (internal/fakeclock) keeps the two apart. A nil clock turns it off.
func (in *Injector[C]) VirtualDeadlines(clock func() time.Time, epoch time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.clock, in.epoch = clock, epoch
}

// Stats returns the counts so far.
func (in *Injector[C]) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

// pick returns the fault for the call, or nil.
func (in *Injector[C]) pick(ctx context.Context, call C) *Fault[C] {
	in.mu.Lock()
	hook := in.hook
	in.stats.Calls++
	in.mu.Unlock()
	if hook != nil {
		if f := hook(ctx, call); f != nil {
			return f
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, f := range in.faults {
		if f.Match != nil && !f.Match(call) {
			continue
		}
		f.fired++
		if f.Times >= 0 && f.fired >= max(f.Times, 1) {
			in.faults = append(in.faults[:i:i], in.faults[i+1:]...)
		}
		return f
	}
	return nil
}

func (in *Injector[C]) count(fn func(*Stats)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	fn(&in.stats)
}

// expired reports whether ctx's deadline has passed on the virtual clock.
func (in *Injector[C]) expired(ctx context.Context) bool {
	in.mu.Lock()
	clock, epoch := in.clock, in.epoch
	in.mu.Unlock()
	if clock == nil {
		return false
	}
	d, ok := ctx.Deadline()
	return ok && d.After(epoch) && !clock().Before(d)
}

// Do runs one call through the injector. apply sends the call to the wrapped backend and
// records its results in the caller's variables (so that a Duplicate's second delivery
// overwrites the first's); Do returns the error the caller should see.
func (in *Injector[C]) Do(ctx context.Context, call C, apply func() error) error {
	f := in.pick(ctx, call)
	if f == nil {
		if in.expired(ctx) {
			in.count(func(s *Stats) { s.Deadline++ })
			return fmt.Errorf("faulty: virtual deadline passed: %w", context.DeadlineExceeded)
		}
		return apply()
	}
	in.count(func(s *Stats) { s.Fired++ })
	if f.Reached != nil {
		select {
		case f.Reached <- call:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.Wait != nil {
		in.count(func(s *Stats) { s.Stalled++ })
		select {
		case <-f.Wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if in.expired(ctx) {
		in.count(func(s *Stats) { s.Deadline++ })
		return fmt.Errorf("faulty: virtual deadline passed: %w", context.DeadlineExceeded)
	}
	injected := f.Err
	if injected == nil {
		injected = ErrInjected
	}
	kind := f.Kind
	if sa, ok := any(call).(SingleAttempt); ok && kind == Duplicate && sa.SingleAttempt() {
		kind = FailAfter
	}
	var err error
	switch kind {
	case FailBefore:
		in.count(func(s *Stats) { s.FailBefore++ })
		return injected
	case FailAfter:
		in.count(func(s *Stats) { s.FailAfter++ })
		apply()
		err = injected
	case Duplicate:
		in.count(func(s *Stats) { s.Duplicate++ })
		apply()
		err = apply()
	default:
		err = apply()
	}
	if f.Applied != nil {
		select {
		case f.Applied <- call:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.WaitAfter != nil {
		in.count(func(s *Stats) { s.Stalled++ })
		select {
		case <-f.WaitAfter:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}
