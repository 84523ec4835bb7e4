package vault

import (
	"slices"
	"strings"
	"testing"

	"github.com/stowken/stowken/tokenizer"
)

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	c := newLRU(100, func(_ string, v []byte) int { return len(v) })
	c.add("a", make([]byte, 20))
	c.add("b", make([]byte, 20))
	c.add("c", make([]byte, 20))
	c.get("a") // a is now the most recent; b the least
	c.add("d", make([]byte, 20))
	c.add("e", make([]byte, 20)) // 100 bytes: nothing dropped yet
	c.add("f", make([]byte, 20)) // 120: drops b
	for key, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true, "e": true, "f": true} {
		if _, ok := c.get(key); ok != want {
			t.Errorf("%s cached: %v, want %v", key, ok, want)
		}
	}
	c.add("big", make([]byte, 26)) // more than a quarter: not cached
	if _, ok := c.get("big"); ok {
		t.Error("an entry of more than a quarter of the cache was kept")
	}
	c.remove("a")
	if _, ok := c.get("a"); ok || c.size != 80 {
		t.Errorf("after remove: cached %v, size %d (want 80)", ok, c.size)
	}
}

// The token cache returns exactly what the tokenizer does, and a caller modifying what it got
// changes neither the cache nor what the next caller gets.
func TestTokenizeCache(t *testing.T) {
	v, _, _ := newMemVault(t, Options{})
	tok, err := tokenizer.Get(tokenizer.CL100KBase)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("The history of an API log is sent again with every request. ", 4)
	want := tok.Encode(text)
	first := v.tokenize(tok, text)
	first[0] = -1
	for range 2 {
		if got := v.tokenize(tok, text); !slices.Equal(got, want) {
			t.Fatalf("cached tokens differ from the tokenizer's")
		}
	}
	if _, ok := v.tokens.get(tok.Name() + "\x00" + text); !ok {
		t.Error("the text's tokens were not cached")
	}
	other, err := tokenizer.Get(tokenizer.O200KBase)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.tokenize(other, text); !slices.Equal(got, other.Encode(text)) {
		t.Error("another tokenizer got the first one's cached tokens")
	}
}
