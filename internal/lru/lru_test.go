package lru

import "testing"

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	c := New(100, func(_ string, v []byte) int { return len(v) })
	c.Add("a", make([]byte, 20))
	c.Add("b", make([]byte, 20))
	c.Add("c", make([]byte, 20))
	c.Get("a") // a is now the most recent; b the least
	c.Add("d", make([]byte, 20))
	c.Add("e", make([]byte, 20)) // 100 bytes: nothing dropped yet
	c.Add("f", make([]byte, 20)) // 120: drops b
	for key, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true, "e": true, "f": true} {
		if _, ok := c.Get(key); ok != want {
			t.Errorf("%s cached: %v, want %v", key, ok, want)
		}
	}
	c.Add("big", make([]byte, 26)) // more than a quarter: not cached
	if _, ok := c.Get("big"); ok {
		t.Error("an entry of more than a quarter of the cache was kept")
	}
	c.Remove("a")
	if _, ok := c.Get("a"); ok || c.size != 80 {
		t.Errorf("after remove: cached %v, size %d (want 80)", ok, c.size)
	}
}
