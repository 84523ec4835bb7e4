package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stowken/stowken/internal/fakeclock"
)

func TestReporter(t *testing.T) {
	type step struct {
		advance time.Duration
		add     int64
	}
	for _, tc := range []struct {
		name  string
		total int64
		steps []step
		want  string
	}{
		{"nothing before the first interval", 10,
			[]step{{0, 3}, {100 * time.Millisecond, 3}},
			""},
		{"known total", 1000,
			[]step{{100 * time.Millisecond, 100}, {100 * time.Millisecond, 100}, {100 * time.Millisecond, 100}, {500 * time.Millisecond, 200}},
			"\rexport 200/1000 (20.0%) · 1000/s\033[K" + "\rexport 500/1000 (50.0%) · 625/s\033[K" + "\r\033[K"},
		{"unknown total", 0,
			[]step{{time.Second, 50}, {time.Second, 50}},
			"\rexport 50 · 50/s\033[K" + "\rexport 100 · 50/s\033[K" + "\r\033[K"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := fakeclock.New(time.Time{})
			var out bytes.Buffer
			r := newReporter(&out, tc.total, "export", true, clock.Now)
			for _, s := range tc.steps {
				clock.Advance(s.advance)
				r.Add(s.add)
			}
			r.Done()
			r.Add(1)
			r.Done()
			if out.String() != tc.want {
				t.Errorf("wrote %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestNotATerminalWritesNothing(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, r := range []*Reporter{New(f, 10, "file"), New(&buf, 10, "buffer")} {
		if r.enabled {
			t.Errorf("%s: enabled on a writer that is not a terminal", r.label)
		}
		r.Add(5)
		time.Sleep(Interval + 10*time.Millisecond)
		r.Add(5)
		r.Done()
	}
	if st, _ := f.Stat(); st.Size() != 0 || buf.Len() != 0 {
		t.Errorf("wrote %d bytes to a file and %q to a buffer", st.Size(), buf.String())
	}
}

func TestConcurrentAddAndNil(t *testing.T) {
	clock := fakeclock.New(time.Time{})
	r := newReporter(&bytes.Buffer{}, 0, "x", true, clock.Now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				clock.Advance(time.Millisecond)
				r.Add(1)
			}
		})
	}
	wg.Wait()
	r.Done()
	if r.done != 8000 {
		t.Errorf("counted %d, want 8000", r.done)
	}
	var nilReporter *Reporter
	nilReporter.Add(1) // must not panic
	nilReporter.Done()
}
