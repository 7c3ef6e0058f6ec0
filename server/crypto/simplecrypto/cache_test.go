package simplecrypto

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/fernet/fernet-go"

	"github.com/keymanager-io/keymanager/server/crypto"
)

func TestPKEKCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newPKEKCache(2)
	a, b, d := cacheKeyOf("a"), cacheKeyOf("b"), cacheKeyOf("d")
	ka, kb, kd := fernet.Key{1}, fernet.Key{2}, fernet.Key{3}
	c.put(a, &ka)
	c.put(b, &kb)
	var got fernet.Key
	if !c.get(a, &got) || got != ka { // a is now the most recently used
		t.Fatal("a cached pKEK should be returned")
	}
	evicted := c.entries[b]
	c.put(d, &kd)
	if c.get(b, &got) {
		t.Error("the least recently used pKEK should be evicted")
	}
	if !c.get(a, &got) || !c.get(d, &got) {
		t.Error("recently used pKEKs should stay cached")
	}
	if c.len() != 2 {
		t.Errorf("cache should hold at most 2 entries, got %d", c.len())
	}
	if evicted.pkek != kd {
		t.Error("the evicted entry should be reused, its pKEK overwritten")
	}
	ka[0] = 9
	if c.get(a, &got); got[0] != 1 {
		t.Error("the cache should hold its own copy of a pKEK")
	}
}

func TestPKEKCacheDisabled(t *testing.T) {
	ctx := context.Background()
	p := newPlugin(t, newKeys(t, 1), Options{CacheSize: -1})
	kek := boundKEK(t, p, "a")
	tok, _, err := p.Encrypt(ctx, kek, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.Decrypt(ctx, kek, tok, ""); err != nil || string(got) != "x" {
		t.Errorf("a plugin without cache should still work (err %v)", err)
	}
	if p.cache.len() != 0 {
		t.Errorf("a disabled cache should stay empty, got %d", p.cache.len())
	}
}

// TestPluginConcurrentUse hammers one plugin from many goroutines with more
// projects than cache slots, so hits, misses, duplicate fills and evictions
// interleave; run it with -race.
func TestPluginConcurrentUse(t *testing.T) {
	ctx := context.Background()
	const (
		projects   = 24
		cacheSize  = 8
		goroutines = 48
		rounds     = 200
	)
	p := newPlugin(t, newKeys(t, 2), Options{CacheSize: cacheSize})
	keks := make([]crypto.KEK, projects)
	for i := range keks {
		// Bind through a cacheless twin so every first use here is a miss.
		twin := newPlugin(t, masterKeysOf(p), Options{CacheSize: -1})
		keks[i] = boundKEK(t, twin, fmt.Sprintf("project-%d", i))
	}

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				kek := keks[(g*7+r)%projects]
				pt := fmt.Appendf(nil, "goroutine %d round %d", g, r)
				tok, _, err := p.Encrypt(ctx, kek, pt)
				if err != nil {
					errs <- err
					return
				}
				got, err := p.Decrypt(ctx, kek, tok, "")
				if err != nil || !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("round %d of goroutine %d: payload should round-trip: %w", r, g, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := p.cache.len(); n > cacheSize {
		t.Errorf("cache should hold at most %d pKEKs, got %d", cacheSize, n)
	}
}

// masterKeysOf returns p's master KEKs as Keys, so a twin plugin shares them.
func masterKeysOf(p *Plugin) []Key {
	keys := make([]Key, len(p.keks))
	for i, k := range p.keks {
		keys[i] = Key{k: *k}
	}
	return keys
}
