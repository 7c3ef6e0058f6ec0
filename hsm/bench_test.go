package hsm

import (
	"context"
	"testing"
)

// The HSM's hot paths on SoftHSM2: unwrapping a pKEK (HMAC verify + unwrap, what a cache miss costs), and
// encrypting and decrypting a 32-byte secret under a cached pKEK, from as many goroutines as GOMAXPROCS with
// the session cap at 4.

func BenchmarkUnwrapPKEK(b *testing.B) {
	f := newFixture(b, nil)
	ctx := context.Background()
	w, err := f.m.NewPKEK(ctx, "kek", f.set)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f.m.CheckPKEK(ctx, w, f.set); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchmarkCipher(b *testing.B, mech string, decrypt bool) {
	f := newFixture(b, nil)
	ctx := context.Background()
	set := f.set
	set.Encryption = mustFind(EncryptionMechanisms, mech)
	w, err := f.m.NewPKEK(ctx, "kek", set)
	if err != nil {
		b.Fatal(err)
	}
	secret := make([]byte, 32)
	ct, err := f.m.Encrypt(ctx, "kek", w, set, secret)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var err error
			if decrypt {
				_, err = f.m.Decrypt(ctx, "kek", w, set, ct)
			} else {
				_, err = f.m.Encrypt(ctx, "kek", w, set, secret)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkEncryptCBC(b *testing.B) { benchmarkCipher(b, "CKM_AES_CBC", false) }
func BenchmarkDecryptCBC(b *testing.B) { benchmarkCipher(b, "CKM_AES_CBC", true) }
func BenchmarkEncryptGCM(b *testing.B) { benchmarkCipher(b, "CKM_AES_GCM", false) }
func BenchmarkDecryptGCM(b *testing.B) { benchmarkCipher(b, "CKM_AES_GCM", true) }
