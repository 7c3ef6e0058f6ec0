package hsm

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
)

// Barbican's pkek_cache_ttl and pkek_cache_limit defaults.
const (
	DefaultPKEKCacheTTL   = 900 * time.Second
	DefaultPKEKCacheLimit = 100
)

// pkekCache keeps unwrapped pKEK handles so that a project's secrets are not each preceded by an HMAC verify
// and an unwrap. Entries expire after a TTL and the oldest go first when the cache is full; an entry that
// leaves is destroyed in the HSM (an unwrapped key is a session object that would otherwise live as long as
// its session), but only once no operation still uses it.
type pkekCache struct {
	ttl   time.Duration
	limit int
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]*pkekEntry
	order   *list.List // of *pkekEntry, oldest first

	hits, misses atomic.Int64
}

type pkekEntry struct {
	id      string
	handle  pkcs11.ObjectHandle
	gen     uint64
	expires time.Time
	users   int
	gone    bool // out of the cache: destroyed when the last user is done
	elem    *list.Element
}

func newPKEKCache(ttl time.Duration, limit int) *pkekCache {
	return &pkekCache{ttl: ttl, limit: limit, now: time.Now, entries: map[string]*pkekEntry{}, order: list.New()}
}

// get returns the live entry cached under id, in use by the caller until done.
func (c *pkekCache) get(id string, s *Session) (*pkekEntry, bool) {
	c.mu.Lock()
	e, ok := c.entries[id]
	var destroy *pkekEntry
	switch {
	case !ok:
	case e.gen != s.gen:
		c.removeLocked(e) // gone with its generation's sessions: nothing to destroy
		ok = false
	case !c.now().Before(e.expires):
		destroy = c.evictLocked(e)
		ok = false
	default:
		e.users++
	}
	c.mu.Unlock()
	if destroy != nil {
		s.destroy(destroy.handle)
	}
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return e, true
}

// put caches a handle s created under id and returns its entry, in use by the caller until done. An entry
// already under id, expired entries and, at the limit, the oldest entries leave the cache.
func (c *pkekCache) put(id string, h pkcs11.ObjectHandle, s *Session) *pkekEntry {
	e := &pkekEntry{id: id, handle: h, gen: s.gen, users: 1}
	var destroy []*pkekEntry
	c.mu.Lock()
	now := c.now()
	e.expires = now.Add(c.ttl)
	if old, ok := c.entries[id]; ok {
		destroy = appendEntry(destroy, c.evictLocked(old))
	}
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		if old := el.Value.(*pkekEntry); !now.Before(old.expires) || len(c.entries) >= c.limit {
			destroy = appendEntry(destroy, c.evictLocked(old))
		}
		el = next
	}
	if c.limit > 0 {
		e.elem = c.order.PushBack(e)
		c.entries[id] = e
	} else {
		e.gone = true // caching disabled: destroyed after this one use
	}
	c.mu.Unlock()
	for _, d := range destroy {
		s.destroy(d.handle)
	}
	return e
}

// done ends one use of e; an entry that left the cache meanwhile is destroyed by its last user.
func (c *pkekCache) done(e *pkekEntry, s *Session) {
	c.mu.Lock()
	e.users--
	destroy := e.gone && e.users == 0 && e.gen == s.gen
	c.mu.Unlock()
	if destroy {
		s.destroy(e.handle)
	}
}

// evictLocked takes e out of the cache and returns it when the caller must destroy it now (nobody uses it).
func (c *pkekCache) evictLocked(e *pkekEntry) *pkekEntry {
	c.removeLocked(e)
	if e.users > 0 {
		return nil
	}
	return e
}

func (c *pkekCache) removeLocked(e *pkekEntry) {
	if e.gone {
		return
	}
	e.gone = true
	delete(c.entries, e.id)
	c.order.Remove(e.elem)
}

// drop evicts the entry of id, if any, and says whether the caller must destroy it.
func (c *pkekCache) drop(id string) *pkekEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[id]; ok {
		return c.evictLocked(e)
	}
	return nil
}

// forget empties the cache after a re-initialisation closed every session, and with them the handles.
func (c *pkekCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		e.gone = true
	}
	clear(c.entries)
	c.order.Init()
}

func (c *pkekCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func appendEntry(list []*pkekEntry, e *pkekEntry) []*pkekEntry {
	if e == nil {
		return list
	}
	return append(list, e)
}

// CacheStats are the pKEK cache's figures for metrics.
type CacheStats struct {
	Entries      int
	Hits, Misses int64
}

// CacheStats reports the pKEK cache's figures.
func (m *Module) CacheStats() CacheStats {
	c := m.cache
	return CacheStats{Entries: c.len(), Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// ForgetPKEK evicts the unwrapped pKEK cached under id and destroys it in the HSM when unused.
func (m *Module) ForgetPKEK(ctx context.Context, id string) error {
	e := m.cache.drop(id)
	if e == nil {
		return nil
	}
	return m.Do(ctx, "destroy_pkek", func(s *Session) error {
		if e.gen == s.gen {
			s.destroy(e.handle)
		}
		return nil
	})
}
