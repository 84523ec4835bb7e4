package catalog_test

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stowken/stowken/catalog"
)

func TestAggregate(t *testing.T) {
	day1 := time.Date(2025, 3, 1, 23, 59, 0, 0, time.UTC)
	day2 := time.Date(2025, 3, 2, 0, 30, 0, 0, time.FixedZone("", 3600)) // 2025-03-01T23:30Z: day 1 in UTC
	day3 := time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)
	entries := []catalog.Entry{
		{ID: "1", Application: "chat", Model: "m1", Tokenizer: "t1", CreatedAt: day1, Messages: 2, StoredBytes: 100,
			Tokens: map[string]int64{"system": 10, "user": 5, "assistant": 7}},
		{ID: "2", Application: "chat", Model: "m2", Tokenizer: "t1", CreatedAt: day2, Messages: 3, StoredBytes: 50,
			Tokens: map[string]int64{"user": 1, "tool": 2, "assistant": 3}},
		{ID: "3", Application: "batch", Model: "m1", Tokenizer: "t2", CreatedAt: day3, Messages: 1, StoredBytes: 10,
			Tokens: map[string]int64{"developer": 4}},
	}
	type group struct {
		key                         map[string]string
		convs, msgs, in, out, bytes int64
		tokens                      map[string]int64
	}
	tests := []struct {
		name string
		by   []string
		want []group
	}{
		{"Total", nil, []group{{map[string]string{}, 3, 6, 22, 10, 160,
			map[string]int64{"system": 10, "user": 6, "assistant": 10, "tool": 2, "developer": 4}}}},
		{"Application", []string{catalog.DimApplication}, []group{
			{map[string]string{"application": "batch"}, 1, 1, 4, 0, 10, map[string]int64{"developer": 4}},
			{map[string]string{"application": "chat"}, 2, 5, 18, 10, 150, map[string]int64{"system": 10, "user": 6, "assistant": 10, "tool": 2}},
		}},
		{"DayThenModel", []string{catalog.DimDay, catalog.DimModel}, []group{
			{map[string]string{"day": "2025-03-01", "model": "m1"}, 1, 2, 15, 7, 100, map[string]int64{"system": 10, "user": 5, "assistant": 7}},
			{map[string]string{"day": "2025-03-01", "model": "m2"}, 1, 3, 3, 3, 50, map[string]int64{"user": 1, "tool": 2, "assistant": 3}},
			{map[string]string{"day": "2025-03-02", "model": "m1"}, 1, 1, 4, 0, 10, map[string]int64{"developer": 4}},
		}},
		{"TokenizerThenApplication", []string{catalog.DimTokenizer, catalog.DimApplication}, []group{
			{map[string]string{"tokenizer": "t1", "application": "chat"}, 2, 5, 18, 10, 150, map[string]int64{"system": 10, "user": 6, "assistant": 10, "tool": 2}},
			{map[string]string{"tokenizer": "t2", "application": "batch"}, 1, 1, 4, 0, 10, map[string]int64{"developer": 4}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			groups, err := catalog.Aggregate(slices.Values(entries), tc.by...)
			if err != nil {
				t.Fatal(err)
			}
			var got []group
			for _, g := range groups {
				got = append(got, group{g.Key, g.Conversations, g.Messages, g.InputTokens, g.OutputTokens, g.StoredBytes, g.Tokens})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Aggregate by %v =\n%+v\nwant\n%+v", tc.by, got, tc.want)
			}
		})
	}
}

func TestAggregatorEmptyAndCopies(t *testing.T) {
	total, err := catalog.Aggregate(slices.Values([]catalog.Entry(nil)))
	if err != nil || len(total) != 1 || len(total[0].Key) != 0 || total[0].Conversations != 0 {
		t.Fatalf("Aggregate of nothing = %+v, %v; want one zero total", total, err)
	}
	byApp, err := catalog.Aggregate(slices.Values([]catalog.Entry(nil)), catalog.DimApplication)
	if err != nil || len(byApp) != 0 {
		t.Fatalf("Aggregate of nothing by application = %+v, %v; want no groups", byApp, err)
	}
	a, err := catalog.NewAggregator(catalog.DimModel)
	if err != nil {
		t.Fatal(err)
	}
	a.Add(catalog.Entry{ID: "1", Model: "m", Tokens: map[string]int64{"user": 1}})
	g := a.Groups()
	g[0].Tokens["user"] = 100
	g[0].Key["model"] = "changed"
	if again := a.Groups(); again[0].Tokens["user"] != 1 || !maps.Equal(again[0].Key, map[string]string{"model": "m"}) {
		t.Fatalf("Groups returned the aggregator's own maps: %+v", again)
	}
}

func TestAggregateInvalidDimension(t *testing.T) {
	for _, by := range [][]string{{"month"}, {catalog.DimDay, "Day"}, {catalog.DimModel, catalog.DimModel}, {""}} {
		if _, err := catalog.Aggregate(slices.Values([]catalog.Entry(nil)), by...); !errors.Is(err, catalog.ErrInvalidQuery) {
			t.Errorf("Aggregate by %q: %v, want ErrInvalidQuery", by, err)
		}
	}
}
