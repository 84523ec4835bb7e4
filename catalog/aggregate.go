package catalog

import (
	"fmt"
	"iter"
	"maps"
	"slices"
)

// Dimensions an Aggregator groups by.
const (
	DimApplication = "application"
	DimModel       = "model"
	DimTokenizer   = "tokenizer"
	// DimDay is the day of CreatedAt in UTC, as YYYY-MM-DD.
	DimDay = "day"
)

// roleOutput is the role whose tokens count as output; every other role's are input.
const roleOutput = "assistant"

// Group sums the entries that share one value per dimension.
type Group struct {
	// Key maps each dimension to the group's value; it is empty for the total.
	Key           map[string]string
	Conversations int64
	Messages      int64
	// Tokens is the number of tokens per role.
	Tokens map[string]int64
	// OutputTokens are the assistant's tokens, InputTokens every other role's.
	InputTokens, OutputTokens int64
	StoredBytes               int64
}

// groupKey is a group's value per dimension, in the order of Aggregator.by (at most one per
// dimension, so four).
type groupKey [4]string

// Aggregator sums entries into groups. Feed it with Add (e.g. from ListAll), then read Groups.
// It is not safe for concurrent use.
type Aggregator struct {
	by     []string
	groups map[groupKey]*Group
}

// NewAggregator returns an Aggregator grouping by the dimensions given, any of DimApplication,
// DimModel, DimTokenizer and DimDay; with none there is one group, the total. An unknown or
// repeated dimension is ErrInvalidQuery.
func NewAggregator(by ...string) (*Aggregator, error) {
	for i, d := range by {
		switch d {
		case DimApplication, DimModel, DimTokenizer, DimDay:
		default:
			return nil, fmt.Errorf("%w: unknown dimension %q (want %s, %s, %s or %s)",
				ErrInvalidQuery, d, DimApplication, DimModel, DimTokenizer, DimDay)
		}
		if slices.Contains(by[:i], d) {
			return nil, fmt.Errorf("%w: dimension %q given twice", ErrInvalidQuery, d)
		}
	}
	a := &Aggregator{by: slices.Clone(by), groups: map[groupKey]*Group{}}
	if len(by) == 0 {
		a.group(groupKey{}) // the total exists even without entries
	}
	return a, nil
}

func (a *Aggregator) group(k groupKey) *Group {
	g := a.groups[k]
	if g == nil {
		g = &Group{Key: map[string]string{}, Tokens: map[string]int64{}}
		for i, d := range a.by {
			g.Key[d] = k[i]
		}
		a.groups[k] = g
	}
	return g
}

// Add counts e in its group.
func (a *Aggregator) Add(e Entry) {
	var k groupKey
	for i, d := range a.by {
		switch d {
		case DimApplication:
			k[i] = e.Application
		case DimModel:
			k[i] = e.Model
		case DimTokenizer:
			k[i] = e.Tokenizer
		case DimDay:
			k[i] = e.CreatedAt.UTC().Format("2006-01-02")
		}
	}
	g := a.group(k)
	g.Conversations++
	g.Messages += int64(e.Messages)
	g.StoredBytes += e.StoredBytes
	for role, n := range e.Tokens {
		g.Tokens[role] += n
		if role == roleOutput {
			g.OutputTokens += n
		} else {
			g.InputTokens += n
		}
	}
}

// Groups returns a copy of the groups, sorted by their values, dimension by dimension in the
// order given to NewAggregator.
func (a *Aggregator) Groups() []Group {
	keys := slices.SortedFunc(maps.Keys(a.groups), func(x, y groupKey) int {
		return slices.Compare(x[:], y[:])
	})
	out := make([]Group, len(keys))
	for i, k := range keys {
		g := *a.groups[k]
		g.Key, g.Tokens = maps.Clone(g.Key), maps.Clone(g.Tokens)
		out[i] = g
	}
	return out
}

// Aggregate groups entries by the dimensions (see NewAggregator) and returns the groups, sorted.
func Aggregate(entries iter.Seq[Entry], by ...string) ([]Group, error) {
	a, err := NewAggregator(by...)
	if err != nil {
		return nil, err
	}
	for e := range entries {
		a.Add(e)
	}
	return a.Groups(), nil
}
