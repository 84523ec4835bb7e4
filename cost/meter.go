package cost

import (
	"context"
	"maps"
	"sync"
)

// Part is the part of a store a usage is for.
type Part string

// The parts of a store.
const (
	Segments   Part = "segments"
	Manifests  Part = "manifests"
	Models     Part = "models"
	Catalog    Part = "catalog"
	References Part = "references"
	// Other is a request to the bucket outside the store's own prefixes (probes, listings of
	// the whole store).
	Other Part = "other"
	// Ingest is what the route of conversations to the ingest function costs: the queue's or
	// the delivery stream's requests, the inbox objects, the function's invocations.
	Ingest Part = "ingest"
)

// Meter adds up usage by part. The zero value is ready; it is safe for concurrent use.
type Meter struct {
	mu    sync.Mutex
	parts map[Part]Usage
}

// Add adds u to part p.
func (m *Meter) Add(p Part, u Usage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.parts == nil {
		m.parts = map[Part]Usage{}
	}
	m.parts[p] = m.parts[p].Add(u)
}

// Usage returns the usage of every part together.
func (m *Meter) Usage() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Total(m.parts)
}

// Total is the usage of every part together.
func Total(parts map[Part]Usage) Usage {
	var t Usage
	for _, u := range parts {
		t = t.Add(u)
	}
	return t
}

// Parts returns the usage of each part.
func (m *Meter) Parts() map[Part]Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.parts)
}

// meters is the chain of meters a context carries.
type meters struct {
	m    *Meter
	next *meters
}

type metersKey struct{}

// WithMeter returns a context whose requests are also added to m by Record: the usage of one
// operation, say, besides its store's total. A meter the context carries already is not added
// twice.
func WithMeter(ctx context.Context, m *Meter) context.Context {
	next, _ := ctx.Value(metersKey{}).(*meters)
	for ms := next; ms != nil; ms = ms.next {
		if ms.m == m {
			return ctx // already there: each meter counts a request once
		}
	}
	return context.WithValue(ctx, metersKey{}, &meters{m, next})
}

// Record adds u to part p of every meter ctx carries (WithMeter).
func Record(ctx context.Context, p Part, u Usage) {
	for ms, _ := ctx.Value(metersKey{}).(*meters); ms != nil; ms = ms.next {
		ms.m.Add(p, u)
	}
}

// Call collects what the server reports for the requests of one backend call (Charge), so
// that the metering around the call can use the server's figure instead of its own model. Safe
// for concurrent use: one call may send requests in parallel.
type Call struct {
	mu sync.Mutex
	u  Usage
}

type callKey struct{}

// WithCall returns a context whose requests Charge c.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// Charge adds u to the Call of ctx, if it has one: a backend that knows what a request cost
// (a DynamoDB response's ConsumedCapacity) says so.
func Charge(ctx context.Context, u Usage) {
	if c, ok := ctx.Value(callKey{}).(*Call); ok {
		c.mu.Lock()
		c.u = c.u.Add(u)
		c.mu.Unlock()
	}
}

// Usage returns what the call's requests reported.
func (c *Call) Usage() Usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.u
}
