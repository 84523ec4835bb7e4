// Package progress draws a one-line progress report on a terminal for the CLI's long jobs
// (export, and others): "LABEL 1234/5000 (24.7%) · 812/s", redrawn in place with "\r" at most
// five times a second, and erased by Done. Where the writer is not a terminal (a file, a pipe,
// a buffer) nothing is ever written, so logs and redirected output stay clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Interval is the shortest time between two redraws.
const Interval = 200 * time.Millisecond

// Reporter counts work done and draws it. Its methods are safe for concurrent use, and a nil
// *Reporter does nothing.
type Reporter struct {
	mu      sync.Mutex
	w       io.Writer
	label   string
	total   int64
	done    int64
	enabled bool
	now     func() time.Time
	start   time.Time
	last    time.Time // time of the last redraw; start before the first
	drawn   bool      // a line is on the terminal
	ended   bool
}

// New returns a Reporter of total units of work (total <= 0: unknown, only the count and rate
// are shown) labelled label, drawing on w only when w is an *os.File on a terminal.
func New(w io.Writer, total int64, label string) *Reporter {
	f, ok := w.(*os.File)
	return newReporter(w, total, label, ok && term.IsTerminal(int(f.Fd())), time.Now)
}

// newReporter returns a Reporter that draws when enabled, reading the time from now.
func newReporter(w io.Writer, total int64, label string, enabled bool, now func() time.Time) *Reporter {
	t := now()
	return &Reporter{w: w, label: label, total: total, enabled: enabled, now: now, start: t, last: t}
}

// Add records n more units done and redraws the line if Interval has passed since the last
// redraw (or since New, for the first).
func (r *Reporter) Add(n int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done += n
	if !r.enabled || r.ended {
		return
	}
	if t := r.now(); t.Sub(r.last) >= Interval {
		r.last = t
		r.draw(t)
	}
}

// Done ends the report: the line, if one was drawn, is erased so that what the caller prints
// next starts on a clean line. Later calls to Add and Done draw nothing.
func (r *Reporter) Done() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	r.ended = true
	if r.drawn {
		io.WriteString(r.w, "\r\033[K")
		r.drawn = false
	}
}

// draw writes the line for time t, clearing what is left of the previous one.
func (r *Reporter) draw(t time.Time) {
	rate := float64(r.done) / max(t.Sub(r.start).Seconds(), 1e-3)
	var line string
	if r.total > 0 {
		line = fmt.Sprintf("\r%s %d/%d (%.1f%%) · %.0f/s\033[K", r.label, r.done, r.total,
			100*float64(r.done)/float64(r.total), rate)
	} else {
		line = fmt.Sprintf("\r%s %d · %.0f/s\033[K", r.label, r.done, rate)
	}
	io.WriteString(r.w, line)
	r.drawn = true
}
