package fakeclock

import (
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	var c Clock
	if got := c.Now(); !got.Equal(Epoch) {
		t.Fatalf("zero clock reads %v, want %v", got, Epoch)
	}
	if !Epoch.After(time.Now().Add(50 * 365 * 24 * time.Hour)) {
		t.Fatal("Epoch is not far in the future of the real clock")
	}
	if got := c.Advance(90 * time.Second); !got.Equal(Epoch.Add(90 * time.Second)) {
		t.Fatalf("Advance returned %v", got)
	}
	if got := c.Since(Epoch); got != 90*time.Second {
		t.Fatalf("Since = %v", got)
	}
	start := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	d := New(start)
	if !d.Now().Equal(start) {
		t.Fatalf("New(start).Now() = %v", d.Now())
	}
	d.Set(start.Add(time.Hour))
	if !d.Now().Equal(start.Add(time.Hour)) {
		t.Fatalf("after Set: %v", d.Now())
	}
	for name, fn := range map[string]func(){
		"negative advance": func() { d.Advance(-time.Second) },
		"set backwards":    func() { d.Set(start) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			fn()
		}()
	}
}

func TestConcurrent(t *testing.T) {
	var c Clock
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Advance(time.Millisecond)
				c.Now()
			}
		})
	}
	wg.Wait()
	if got := c.Since(Epoch); got != 8*time.Second {
		t.Fatalf("8×1000 advances of 1ms: %v", got)
	}
}

// TestUsableAsVaultNow checks the method value has the type of vault.Options.Now.
func TestUsableAsVaultNow(t *testing.T) {
	var c Clock
	var now func() time.Time = c.Now
	_ = now
}
