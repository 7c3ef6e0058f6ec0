package simplecrypto

import (
	"crypto/sha256"
	"sync"

	"github.com/fernet/fernet-go"
)

// cacheKey is the SHA-256 of a kek_data.plugin_meta token. Hashing keeps the
// entries small and fixed-size; SHA-256 (not a fast 64-bit hash) because a
// collision would hand one project's pKEK to another project's secrets.
type cacheKey [sha256.Size]byte

func cacheKeyOf(pluginMeta string) cacheKey {
	return sha256.Sum256([]byte(pluginMeta))
}

// pkekCache is a bounded LRU of unwrapped project KEKs, safe for concurrent
// use. Lookups copy the key out under the lock, so an eviction can overwrite
// its entry without pulling a key from under an encryption in progress.
type pkekCache struct {
	mu      sync.Mutex
	max     int
	entries map[cacheKey]*cacheEntry
	head    cacheEntry // sentinel: head.next is the most recently used
}

type cacheEntry struct {
	id         cacheKey
	pkek       fernet.Key
	prev, next *cacheEntry
}

func newPKEKCache(size int) *pkekCache {
	c := &pkekCache{max: size, entries: make(map[cacheKey]*cacheEntry, min(size, 1024))}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

// get copies the cached pKEK for id into dst and reports whether it was there.
func (c *pkekCache) get(id cacheKey, dst *fernet.Key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok {
		return false
	}
	c.unlink(e)
	c.pushFront(e)
	*dst = e.pkek
	return true
}

// put stores a copy of pkek under id. When full it reuses the least recently
// used entry, overwriting its pKEK, so no stale copy of an evicted key lingers.
func (c *pkekCache) put(id cacheKey, pkek *fernet.Key) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[id]; ok {
		// Two goroutines missed on the same pKEK at once; both unwrapped the
		// same key, so keep the entry and just mark it used.
		c.unlink(e)
		c.pushFront(e)
		return
	}
	var e *cacheEntry
	if len(c.entries) >= c.max {
		e = c.head.prev
		c.unlink(e)
		delete(c.entries, e.id)
	} else {
		e = new(cacheEntry)
	}
	e.id, e.pkek = id, *pkek
	c.entries[id] = e
	c.pushFront(e)
}

// len returns the number of cached pKEKs.
func (c *pkekCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *pkekCache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *pkekCache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}
