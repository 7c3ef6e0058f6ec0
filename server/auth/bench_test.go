package auth

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// BenchmarkKeystoneCachedToken is the cost a warm token adds to every request: hashing it and one cache look-up.
func BenchmarkKeystoneCachedToken(b *testing.B) {
	k, err := NewKeystone(KeystoneConfig{AuthURL: "http://127.0.0.1:1/v3", Username: "u", Password: "p",
		ProjectName: "service", CacheTime: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tokens := make([]string, 1000)
	for i := range tokens {
		// Fernet tokens are about 180 characters.
		tokens[i] = "gAAAAAB" + strconv.Itoa(i) + string(make([]byte, 170))
		k.cache.put(cacheEntry{key: keyOf(tokens[i]), caller: &Context{ProjectID: "p", UserID: "u"},
			until: now.Add(time.Hour)}, now)
	}
	reqs := make([]*http.Request, len(tokens))
	for i, tok := range tokens {
		reqs[i] = httptest.NewRequest(http.MethodGet, "/v1/secrets", nil)
		reqs[i].Header.Set("X-Auth-Token", tok)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := k.Authenticate(reqs[i%len(reqs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkKeystoneCacheMiss is a validation at the real test Keystone: what a request with a token not yet in
// the cache waits for. With -cpu 8 (parallel clients) it gives the validations per second Keystone sustains.
func BenchmarkKeystoneCacheMiss(b *testing.B) {
	ks := testbed.StartKeystone(b)
	k, err := NewKeystone(KeystoneConfig{AuthURL: ks.URL, Username: testbed.KeystoneServiceUser,
		Password: testbed.KeystonePassword, UserDomainID: "default", ProjectName: testbed.KeystoneServiceProject,
		ProjectDomainID: "default"})
	if err != nil {
		b.Fatal(err)
	}
	k.cfg.CacheTime, k.cache = 0, newTokenCache(0) // every request goes to Keystone
	token, _ := ks.Token(b, "km-creator", "km-a")
	if _, err := authenticate(k, token); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := authenticate(k, token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
