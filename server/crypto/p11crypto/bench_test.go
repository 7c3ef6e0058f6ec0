package p11crypto

import (
	"context"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/server/crypto"
)

// The plugin's encrypt and decrypt of a 32-byte secret on SoftHSM2 (GCM, 4 sessions, GOMAXPROCS callers), with
// the pKEK cached and, "Cold", with the cache off so every call verifies and unwraps the pKEK first. Compare
// with hsm's BenchmarkEncryptGCM / BenchmarkDecryptGCM, the raw HSM calls at the same session count.

func benchmarkPlugin(b *testing.B, decrypt bool, opts ...func(*hsm.Config)) {
	p := newPlugin(b, 4, time.Second, opts...)
	ctx := context.Background()
	kek := crypto.KEK{ID: "k", Label: "project-key"}
	if err := p.BindKEK(ctx, &kek); err != nil {
		b.Fatal(err)
	}
	secret := make([]byte, 32)
	ct, meta, err := p.Encrypt(ctx, kek, secret)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var err error
			if decrypt {
				_, err = p.Decrypt(ctx, kek, ct, meta)
			} else {
				_, _, err = p.Encrypt(ctx, kek, secret)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func noCache(c *hsm.Config) { c.PKEKCacheLimit = -1 }

func BenchmarkPluginEncrypt(b *testing.B)     { benchmarkPlugin(b, false) }
func BenchmarkPluginDecrypt(b *testing.B)     { benchmarkPlugin(b, true) }
func BenchmarkPluginEncryptCold(b *testing.B) { benchmarkPlugin(b, false, noCache) }
func BenchmarkPluginDecryptCold(b *testing.B) { benchmarkPlugin(b, true, noCache) }
