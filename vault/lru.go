package vault

import (
	"container/list"
	"sync"
)

// lru is a byte-bounded cache that drops the least recently used entries first. It is safe for
// concurrent use. Values are shared with every caller of get and must never be modified.
type lru[V any] struct {
	mu     sync.Mutex
	max    int
	size   int
	sizeOf func(key string, v V) int
	order  *list.List // of *lruEntry[V], most recent first
	items  map[string]*list.Element
}

type lruEntry[V any] struct {
	key  string
	v    V
	size int
}

// newLRU returns an lru of at most maxBytes, the size of an entry as sizeOf counts it.
func newLRU[V any](maxBytes int, sizeOf func(key string, v V) int) *lru[V] {
	return &lru[V]{max: maxBytes, sizeOf: sizeOf, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry[V]).v, true
}

// add caches v under key, unless it takes more than a quarter of the cache.
func (c *lru[V]) add(key string, v V) {
	size := c.sizeOf(key, v)
	if size > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key, v, size})
	c.size += size
	for c.size > c.max {
		c.drop(c.order.Back())
	}
}

func (c *lru[V]) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.drop(e)
	}
}

func (c *lru[V]) drop(e *list.Element) {
	entry := e.Value.(*lruEntry[V])
	c.order.Remove(e)
	delete(c.items, entry.key)
	c.size -= entry.size
}
