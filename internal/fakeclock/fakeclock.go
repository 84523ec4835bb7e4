// Package fakeclock is a manually advanced clock for tests: its Now method is usable as
// vault.Options.Now, and time moves only when the test calls Advance or Set.
//
// The zero Clock reads Epoch, a date far in the future of the real clock. That matters: the
// vault derives context deadlines from its clock, and the context package compares them with the
// real clock, so deadlines computed from a fake clock that starts at Epoch never fire on their
// own and can be told apart from real-clock deadlines (see faults.Injector.VirtualDeadlines,
// which fires them on the fake clock instead). Epoch is a whole second, so times survive the
// millisecond encoding of the reference stores unchanged.
package fakeclock

import (
	"sync"
	"time"
)

// Epoch is where a zero Clock starts.
var Epoch = time.Date(2100, time.January, 1, 0, 0, 0, 0, time.UTC)

// Clock is a fake clock, safe for concurrent use. The zero value reads Epoch.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock reading start (Epoch when start is zero).
func New(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Epoch
	}
	return c.now
}

// Advance moves the clock forward by d (a negative d panics: time does not run backwards) and
// returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	if d < 0 {
		panic("fakeclock: negative Advance")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Epoch
	}
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t, which must not be before the current time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Epoch
	}
	if t.Before(c.now) {
		panic("fakeclock: Set to an earlier time")
	}
	c.now = t
}

// Since returns the time elapsed on the clock since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
