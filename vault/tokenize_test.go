package vault

import (
	"slices"
	"strings"
	"testing"

	"github.com/stowken/stowken/tokenizer"
)

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
	if _, ok := v.tokens.Get(tok.Name() + "\x00" + text); !ok {
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
