package hsm

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// openSessions counts the sessions open at the token, asking the library itself: SoftHSM2 reports no session
// count in its token info, but answers C_GetSessionInfo for every open handle, and hands out handles from one
// increasing counter (objects included).
func openSessions(m *Module, maxHandle uint) int {
	n := 0
	for h := uint(1); h <= maxHandle; h++ {
		if _, err := m.lib.ctx.GetSessionInfo(pkcs11.SessionHandle(h)); err == nil {
			n++
		}
	}
	return n
}

func TestPoolNeverExceedsItsCap(t *testing.T) {
	const capacity = 3
	f := newFixture(t, func(c *Config) { c.MaxSessions = capacity })
	ctx := context.Background()
	w, err := f.m.NewPKEK(ctx, "kek", f.set)
	if err != nil {
		t.Fatal(err)
	}
	const maxHandle = 5000
	var (
		wg      sync.WaitGroup
		done    = make(chan struct{})
		peak    atomic.Int64
		samples atomic.Int64
		failed  atomic.Int64
		sampled = make(chan struct{})
	)
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			default:
			}
			if n := int64(openSessions(f.m, maxHandle)); n > peak.Load() {
				peak.Store(n)
			}
			samples.Add(1)
		}
	}()
	// Four times as many callers as sessions.
	for range 4 * capacity {
		wg.Go(func() {
			for range 60 {
				ct, err := f.m.Encrypt(ctx, "kek", w, f.set, []byte("payload"))
				if err == nil {
					_, err = f.m.Decrypt(ctx, "kek", w, f.set, ct)
				}
				if err != nil {
					failed.Add(1)
					t.Error(err)
					return
				}
				if s := f.m.Stats(); s.Open > capacity || s.InUse > capacity {
					t.Errorf("pool figures beyond the cap: %+v", s)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	<-sampled // before the module closes under the sampler
	if failed.Load() > 0 {
		return
	}
	if p := peak.Load(); p > capacity {
		t.Errorf("%d sessions were open at the token at once, cap %d", p, capacity)
	}
	// The pool's own count agrees with the token's.
	if got, want := openSessions(f.m, maxHandle), f.m.Stats().Open; got != want {
		t.Errorf("the token has %d sessions open, the pool counts %d", got, want)
	}
	t.Logf("peak %d open sessions over %d samples, cap %d", peak.Load(), samples.Load(), capacity)
}

func TestWaiterGetsTypedErrorWhenNoSessionComesFree(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxSessions, c.SessionWait = 1, 20*time.Millisecond })
	ctx := context.Background()
	held, release := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- f.m.Do(ctx, "hold", func(*Session) error { close(held); <-release; return nil })
	}()
	<-held

	err := f.m.Do(ctx, "wait", func(*Session) error { return nil })
	var we *WaitError
	if !errors.Is(err, ErrNoSession) || !errors.As(err, &we) || we.Cap != 1 || we.Cause != nil {
		t.Fatalf("waiting past the pool's wait: %v, want a *WaitError for cap 1", err)
	}
	// The caller's own deadline ends a wait too, and says so.
	f.m.pool.wait = 0
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err = f.m.Do(dctx, "wait", func(*Session) error { return nil })
	if !errors.Is(err, ErrNoSession) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past the caller's deadline: %v", err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := f.m.Do(ctx, "after", func(*Session) error { return nil }); err != nil {
		t.Fatalf("once the session is free: %v", err)
	}
}

func TestReinitialisesOnceAfterSessionsAreLost(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	w, err := f.m.NewPKEK(ctx, "kek", f.set)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := f.m.Encrypt(ctx, "kek", w, f.set, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	// Every session goes, and with them the cached pKEK (a session object): as after an HSM restart.
	if err := f.m.lib.ctx.CloseAllSessions(f.m.Slot()); err != nil {
		t.Fatal(err)
	}
	got, err := f.m.Decrypt(ctx, "kek", w, f.set, ct)
	if err != nil || string(got) != "payload" {
		t.Fatalf("decrypting after the sessions were lost: %q, %v", got, err)
	}
	if g := f.m.generation(); g != 1 {
		t.Errorf("generation %d after one loss, want 1", g)
	}
	// A failure that no re-initialisation mends is not retried forever.
	calls := 0
	err = f.m.Do(ctx, "broken", func(*Session) error { calls++; return pkcs11.Error(pkcs11.CKR_DEVICE_ERROR) })
	if !isRV(err, pkcs11.CKR_DEVICE_ERROR) || calls != 2 {
		t.Errorf("a persistent device error: %v after %d calls, want it after 2", err, calls)
	}
}

func TestWithoutOSLockingCallsAreSerialised(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.OSLockingOK = false })
	ctx := context.Background()
	w, err := f.m.NewPKEK(ctx, "kek", f.set)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := f.m.Encrypt(ctx, "kek", w, f.set, []byte("x")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestPKEKCacheDestroysWhatLeaves(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.PKEKCacheLimit = 2 })
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	f.m.cache.now = func() time.Time { return now }
	wrapped := map[string]WrappedKey{}
	handle := func(id string) pkcs11.ObjectHandle {
		f.m.cache.mu.Lock()
		defer f.m.cache.mu.Unlock()
		return f.m.cache.entries[id].handle
	}
	alive := func(h pkcs11.ObjectHandle) bool {
		var err error
		_ = f.m.Do(ctx, "test", func(s *Session) error {
			// The error stays out of Do, which would forget the cache on a stale handle.
			err = s.call(func(c *pkcs11.Ctx, sh pkcs11.SessionHandle) error {
				_, err := c.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil)})
				return err
			})
			return nil
		})
		if err != nil && !isRV(err, pkcs11.CKR_OBJECT_HANDLE_INVALID) {
			t.Fatal(err)
		}
		return err == nil
	}
	for _, id := range []string{"a", "b"} {
		w, err := f.m.NewPKEK(ctx, id, f.set)
		if err != nil {
			t.Fatal(err)
		}
		wrapped[id] = w
	}
	ha := handle("a")
	w, err := f.m.NewPKEK(ctx, "c", f.set)
	if err != nil {
		t.Fatal(err)
	}
	wrapped["c"] = w
	// Destroying a handle leaves SoftHSM2 answering for the handle number with nothing: the eviction checked.
	if alive(ha) {
		t.Error("the oldest pKEK stayed in the HSM after the cache evicted it at its limit")
	}
	if s := f.m.CacheStats(); s.Entries != 2 {
		t.Errorf("%d cached pKEKs, limit 2", s.Entries)
	}
	hb := handle("b")
	now = now.Add(DefaultPKEKCacheTTL)
	before := f.m.CacheStats()
	if _, err := f.m.Encrypt(ctx, "b", wrapped["b"], f.set, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if alive(hb) {
		t.Error("an expired pKEK stayed in the HSM after it was touched")
	}
	if after := f.m.CacheStats(); after.Misses != before.Misses+1 {
		t.Errorf("touching an expired pKEK: %d misses, want %d", after.Misses, before.Misses+1)
	}
	// Eviction waits for the operation that uses the pKEK.
	f.m.cache.now = func() time.Time { return now }
	err = f.m.Do(ctx, "test", func(s *Session) error {
		e, err := s.pkek("b", wrapped["b"], f.set)
		if err != nil {
			return err
		}
		if d := f.m.cache.drop("b"); d != nil {
			t.Error("a pKEK in use was handed out for destruction")
		}
		if _, err := s.encrypt(e.handle, f.set, []byte("still usable")); err != nil {
			return err
		}
		f.m.cache.done(e, s)
		if alive(e.handle) {
			t.Error("an evicted pKEK stayed in the HSM after its last use")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCloseWaitsForOperationsInFlight(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	started := make(chan struct{})
	opErr := make(chan error, 1)
	go func() {
		opErr <- f.m.Do(ctx, "in flight", func(s *Session) error {
			close(started)
			<-f.m.pool.closed // Close has begun
			_, err := s.random(16)
			return err
		})
	}()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- f.m.Close() }()
	if err := <-opErr; err != nil {
		t.Fatalf("an operation running while Close began: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	f.m = reopen(t, f)
}

// TestReinitialisationWaitsForOperationsInFlight loses the sessions while one operation is still running on
// another: the re-initialisation that the failed one starts waits for it, so the library is not finalised under
// a running call, and both end well.
func TestReinitialisationWaitsForOperationsInFlight(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	running, finish := make(chan struct{}), make(chan struct{})
	slow := make(chan error, 1)
	go func() {
		slow <- f.m.Do(ctx, "slow", func(s *Session) error {
			if s.gen == 0 {
				close(running)
				<-finish
			}
			_, err := s.random(16)
			return err
		})
	}()
	<-running
	if err := f.m.lib.ctx.CloseAllSessions(f.m.Slot()); err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	go func() {
		failed <- f.m.Do(ctx, "after the loss", func(s *Session) error { _, err := s.random(16); return err })
	}()
	close(finish)
	if err := <-slow; err != nil {
		t.Errorf("the operation in flight: %v", err)
	}
	if err := <-failed; err != nil {
		t.Errorf("the operation that met the loss: %v", err)
	}
	if g := f.m.generation(); g != 1 {
		t.Errorf("generation %d, want 1", g)
	}
}
