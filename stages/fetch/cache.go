package fetch

import (
	"container/list"
	"sync"
)

// Cache is a byte-bounded LRU cache, safe for concurrent use.
type Cache[V any] struct {
	mu    sync.Mutex
	max   int64
	used  int64
	ll    *list.List
	items map[string]*list.Element

	hits, misses int64
}

type cacheEntry[V any] struct {
	key  string
	val  V
	size int64
}

// NewCache returns a cache holding at most max bytes (as reported to Put).
func NewCache[V any](max int64) *Cache[V] {
	return &Cache[V]{max: max, ll: list.New(), items: make(map[string]*list.Element)}
}

// Get returns the cached value for key.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		c.hits++
		return el.Value.(*cacheEntry[V]).val, true
	}
	c.misses++
	var zero V
	return zero, false
}

// Contains reports whether key is cached, without counting a hit or a
// miss or refreshing the key.
func (c *Cache[V]) Contains(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[key]
	return ok
}

// Peek returns the cached value for key, without counting a hit or a
// miss or refreshing the key.
func (c *Cache[V]) Peek(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		return el.Value.(*cacheEntry[V]).val, true
	}
	var zero V
	return zero, false
}

// Put caches val under key; a value larger than the whole cache is not
// cached.
func (c *Cache[V]) Put(key string, val V, size int64) {
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry[V])
		c.used += size - e.size
		e.val, e.size = val, size
		c.ll.MoveToFront(el)
	} else {
		c.items[key] = c.ll.PushFront(&cacheEntry[V]{key: key, val: val, size: size})
		c.used += size
	}
	for c.used > c.max {
		el := c.ll.Back()
		e := el.Value.(*cacheEntry[V])
		c.ll.Remove(el)
		delete(c.items, e.key)
		c.used -= e.size
	}
}

// Stats reports hits, misses and bytes held.
func (c *Cache[V]) Stats() (hits, misses, used int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.used
}
