package auth

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// tokenKey is what the caches hold instead of a token: its SHA-256, so that a heap dump of the server shows no
// usable token.
type tokenKey [sha256.Size]byte

func keyOf(token string) tokenKey { return sha256.Sum256([]byte(token)) }

// cacheEntry is one validated token: the caller it stands for, or invalid for a token Keystone refused (a
// refused token never becomes valid, so remembering it spares Keystone a client that retries it).
type cacheEntry struct {
	key     tokenKey
	caller  *Context
	invalid bool
	until   time.Time
}

// tokenCache is a bounded LRU of validated tokens. An entry lives at most ttl and never past the token's own
// expiry, as keystonemiddleware's token_cache_time does; the least recently used entry goes when it is full.
type tokenCache struct {
	mu      sync.Mutex
	size    int
	entries map[tokenKey]*list.Element
	lru     list.List // front: most recently used
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{size: size, entries: make(map[tokenKey]*list.Element, min(size, 1024))}
}

// get returns the entry of key if it is still fresh at now.
func (c *tokenCache) get(key tokenKey, now time.Time) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return cacheEntry{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.until) {
		c.lru.Remove(el)
		delete(c.entries, key)
		return cacheEntry{}, false
	}
	c.lru.MoveToFront(el)
	return *e, true
}

// put stores e unless it is already stale or the cache is disabled.
func (c *tokenCache) put(e cacheEntry, now time.Time) {
	if c.size <= 0 || !now.Before(e.until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[e.key]; ok {
		*el.Value.(*cacheEntry) = e
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[e.key] = c.lru.PushFront(&e)
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
