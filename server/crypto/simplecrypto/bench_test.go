package simplecrypto

import (
	"context"
	"testing"

	"github.com/fernet/fernet-go"
)

// benchPayload is a 256-bit key: the typical castellan/cinder secret.
var benchPayload = []byte("0123456789abcdef0123456789abcdef")

// BenchmarkEncrypt measures Encrypt with the pKEK cached (every create after
// a project's first).
func BenchmarkEncrypt(b *testing.B) {
	p := newPlugin(b, newKeys(b, 2), Options{})
	kek := boundKEK(b, p, "bench")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Encrypt(ctx, kek, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecrypt measures Decrypt with the pKEK cached (every payload get).
func BenchmarkDecrypt(b *testing.B) {
	p := newPlugin(b, newKeys(b, 2), Options{})
	kek := boundKEK(b, p, "bench")
	ctx := context.Background()
	tok, _, err := p.Encrypt(ctx, kek, benchPayload)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		pt, err := p.Decrypt(ctx, kek, tok, "")
		if err != nil {
			b.Fatal(err)
		}
		clear(pt)
	}
}

// BenchmarkUnwrapPKEK measures a cache miss: unwrapping plugin_meta with the
// master KEKs. The pKEK is wrapped by the second (retired) KEK, the worst
// case, in which MultiFernet first tries the active one.
func BenchmarkUnwrapPKEK(b *testing.B) {
	keys := newKeys(b, 2)
	kek := boundKEK(b, newPlugin(b, keys[1:], Options{}), "bench")
	p := newPlugin(b, keys, Options{CacheSize: -1})
	var pkek fernet.Key
	b.ReportAllocs()
	for b.Loop() {
		if err := p.unwrap(&kek, &pkek); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptParallel measures cached decrypts from all CPUs at once,
// the contention the cache's mutex sees under load.
func BenchmarkDecryptParallel(b *testing.B) {
	p := newPlugin(b, newKeys(b, 1), Options{})
	kek := boundKEK(b, p, "bench")
	ctx := context.Background()
	tok, _, err := p.Encrypt(ctx, kek, benchPayload)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Decrypt(ctx, kek, tok, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
