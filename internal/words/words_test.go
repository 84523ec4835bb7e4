package words

import (
	"slices"
	"testing"
)

func TestEach(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"", nil},
		{"Hello, World!", []string{"hello", "world"}},
		{"snake_case v2.0 ÉCOLE naïve", []string{"snake", "case", "v2", "0", "école", "naïve"}},
		{"東京タワーへ行く", []string{"東", "京", "タ", "ワ", "ー", "へ", "行", "く"}},
		{"bad \xff byte", []string{"bad", "byte"}},
		{"  \n\t ", nil},
	} {
		var got []string
		Each([]byte(tc.text), func(w []byte) { got = append(got, string(w)) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("Each(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
