package vault

import (
	"context"
	"sync"
	"testing"
)

// TestSharedReadAfterAFlightEnded: a read that missed the cache while another read of the same
// id was finishing finds the value that read cached, instead of reading again (as a listing's
// many conversations of one pack would, each GETting it again).
func TestSharedReadAfterAFlightEnded(t *testing.T) {
	v := &Vault{flights: map[string]chan struct{}{}}
	var mu sync.Mutex
	var cache []int
	reads := 0
	read := func() ([]int, error) {
		mu.Lock()
		defer mu.Unlock()
		reads++
		cache = []int{1, 2, 3}
		return cache, nil
	}
	looked, finish := make(chan struct{}), make(chan struct{})
	first := true
	cached := func() ([]int, bool) {
		mu.Lock()
		c, wait := cache, first
		first = false
		mu.Unlock()
		if wait { // the slow reader's first look: a miss, then the other read runs to its end
			close(looked)
			<-finish
		}
		return c, c != nil
	}
	slow := make(chan []int)
	go func() {
		x, err := sharedRead(context.Background(), v, "seg", cached, read)
		if err != nil {
			t.Error(err)
		}
		slow <- x
	}()
	<-looked
	if x, err := sharedRead(context.Background(), v, "seg", cached, read); err != nil || len(x) != 3 {
		t.Fatalf("the other read: %v, %v", x, err)
	}
	close(finish)
	if x := <-slow; len(x) != 3 || reads != 1 {
		t.Fatalf("the slow read got %v after %d reads; want the cached value and 1 read", x, reads)
	}
}
