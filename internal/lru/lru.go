// Package lru is a byte-bounded least-recently-used cache: vault keeps the segment frames it
// reads and the tokens of the texts it tokenizes in two of them. docs/design.md ("Packages")
// describes where it is used.
package lru

import (
	"container/list"
	"sync"
)

// Cache is a byte-bounded cache that drops the least recently used entries first. It is safe
// for concurrent use. Values are shared with every caller of Get and must never be modified.
type Cache[V any] struct {
	mu     sync.Mutex
	max    int
	size   int
	sizeOf func(key string, v V) int
	order  *list.List // of *entry[V], most recent first
	items  map[string]*list.Element
}

type entry[V any] struct {
	key  string
	v    V
	size int
}

// New returns a Cache of at most maxBytes, the size of an entry as sizeOf counts it.
func New[V any](maxBytes int, sizeOf func(key string, v V) int) *Cache[V] {
	return &Cache[V]{max: maxBytes, sizeOf: sizeOf, order: list.New(), items: map[string]*list.Element{}}
}

// Get returns the value cached under key, and whether there is one, and marks it as used.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*entry[V]).v, true
}

// Add caches v under key, unless it takes more than a quarter of the cache or key is cached
// already.
func (c *Cache[V]) Add(key string, v V) {
	size := c.sizeOf(key, v)
	if size > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.order.PushFront(&entry[V]{key, v, size})
	c.size += size
	for c.size > c.max {
		c.drop(c.order.Back())
	}
}

// Remove drops the value cached under key, if any.
func (c *Cache[V]) Remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.drop(e)
	}
}

func (c *Cache[V]) drop(e *list.Element) {
	en := e.Value.(*entry[V])
	c.order.Remove(e)
	delete(c.items, en.key)
	c.size -= en.size
}
