// Package hsm is keymanager's PKCS#11 layer, written against github.com/miekg/pkcs11 and knowing nothing of the
// server: it loads a vendor library, selects a token, keeps a bounded pool of logged-in sessions, finds and
// generates the master keys (MKEK and HMAC key), wraps, signs, verifies and unwraps project KEKs (pKEKs), and
// encrypts and decrypts secrets under them in the formats of Barbican's p11_crypto plugin (spec §7.4).
//
// It is layered like go-kms-wrapping's pkcs11 wrapper, by lifetime: the library (loaded and initialised once per
// process, finalised with its last user), the Module (a token, its session pool and its key handles, rebuilt
// once when the token or a session fails) and the operations on top.
package hsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// PIN is a token's user PIN. It prints and logs redacted, so that a Config can be logged or wrapped into an
// error without the PIN.
type PIN string

// String redacts the PIN.
func (PIN) String() string { return "[redacted]" }

// LogValue redacts the PIN in slog output.
func (PIN) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// GoString redacts the PIN in %#v.
func (PIN) GoString() string { return `"[redacted]"` }

// Config says which library and token to use and how many sessions the token may hold.
type Config struct {
	// LibraryPath is the vendor PKCS#11 module (.so).
	LibraryPath string
	// Token selection, in Barbican's precedence: TokenSerial, else the first token whose label is one of
	// TokenLabels, else SlotID.
	TokenSerial string
	TokenLabels []string
	SlotID      uint
	// PIN logs the user in (CKU_USER).
	PIN PIN
	// ReadOnlySessions opens sessions without CKF_RW_SESSION (Barbican's rw_session = False).
	ReadOnlySessions bool
	// OSLockingOK passes CKF_OS_LOCKING_OK to C_Initialize, telling the library it will be called from several
	// threads at once. Without it the library may assume one caller at a time, so the Module then serialises
	// every call into it.
	OSLockingOK bool
	// MaxSessions is a hard cap on the sessions open at the token (the HSM's connection budget for this
	// process); at least 1.
	MaxSessions int
	// SessionWait bounds how long a caller waits for a free session before ErrNoSession; 0 waits only as long
	// as the caller's context allows.
	SessionWait time.Duration
	// PKEKCacheTTL and PKEKCacheLimit bound the cache of unwrapped pKEKs (Barbican's pkek_cache_ttl and
	// pkek_cache_limit; 0 selects their defaults, a negative limit disables the cache).
	PKEKCacheTTL   time.Duration
	PKEKCacheLimit int
	// Seed, if set, is passed to C_SeedRandom once the token is open (Barbican's seed_file).
	Seed []byte
	// Observe, if set, receives the duration and outcome of every HSM operation, by name (metrics).
	Observe func(op string, d time.Duration, err error)
}

func (c *Config) validate() error {
	if c.LibraryPath == "" {
		return errors.New("no PKCS#11 library path")
	}
	if c.MaxSessions < 1 {
		return fmt.Errorf("the session cap must be at least 1, not %d", c.MaxSessions)
	}
	if c.PKEKCacheTTL == 0 {
		c.PKEKCacheTTL = DefaultPKEKCacheTTL
	}
	if c.PKEKCacheLimit == 0 {
		c.PKEKCacheLimit = DefaultPKEKCacheLimit
	}
	if c.PIN == "" {
		return errors.New("no PIN to log in to the token")
	}
	return nil
}

// Module is one token of one PKCS#11 library with its session pool. It is safe for concurrent use.
type Module struct {
	cfg    Config
	lib    *library
	pool   *pool
	serial sync.Mutex // held around every library call when the library may not be called concurrently

	mu   sync.Mutex // guards slot, gen and keys
	slot uint
	gen  uint64 // bumped by every re-initialisation; handles of an older generation are gone
	// finalized is the first generation after the last C_Finalize: sessions of older ones died with it.
	finalized uint64
	keys      map[masterKeyID]pkcs11.ObjectHandle

	cache *pkekCache

	reinit    sync.Mutex // one re-initialisation (or Close) at a time
	closeOnce sync.Once
	closeErr  error
}

// Open loads the library (once per process), selects the token and logs a first session in, so that a wrong
// PIN or token selector fails here rather than on the first request.
func Open(ctx context.Context, cfg Config) (*Module, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("PKCS#11 configuration: %w", err)
	}
	lib, err := acquireLibrary(cfg.LibraryPath, cfg.OSLockingOK)
	if err != nil {
		return nil, err
	}
	m := &Module{cfg: cfg, lib: lib, keys: map[masterKeyID]pkcs11.ObjectHandle{}}
	m.pool = newPool(m, cfg.MaxSessions, cfg.SessionWait)
	m.cache = newPKEKCache(cfg.PKEKCacheTTL, cfg.PKEKCacheLimit)
	if m.slot, err = selectSlot(lib.ctx, cfg); err != nil {
		_ = lib.release() // the error that stopped Open is the one to report
		return nil, err
	}
	// One session proves the token is there and the PIN is right (it stays in the pool); the random number
	// generator is seeded if asked and checked, as Barbican checks it at start.
	if err := m.Do(ctx, "open", func(s *Session) error { return s.checkRandom(cfg.Seed) }); err != nil {
		m.pool.closeIdle()
		_ = lib.release() // the error that stopped Open is the one to report
		return nil, err
	}
	return m, nil
}

// Close closes the pool's sessions (which destroys the session objects such as unwrapped pKEKs) and, when this
// is the library's last user, calls C_Finalize and unloads it. Callers still waiting for a session get
// ErrClosed.
// Closing again does nothing.
func (m *Module) Close() error {
	m.closeOnce.Do(func() {
		m.reinit.Lock() // not while a re-initialisation holds the sessions
		defer m.reinit.Unlock()
		m.pool.close()
		m.closeErr = m.lib.release()
	})
	return m.closeErr
}

// Slot is the slot of the selected token.
func (m *Module) Slot() uint {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.slot
}

// TokenInfo describes the selected token.
func (m *Module) TokenInfo() (pkcs11.TokenInfo, error) {
	slot := m.Slot() // before the library lock: reinitialise takes the two the other way round
	m.lock()
	defer m.unlock()
	return m.lib.ctx.GetTokenInfo(slot)
}

func (m *Module) lock() {
	if !m.cfg.OSLockingOK {
		m.serial.Lock()
	}
}

func (m *Module) unlock() {
	if !m.cfg.OSLockingOK {
		m.serial.Unlock()
	}
}

// reinitialise rebuilds the module after a token or session error seen in generation gen: it closes every
// session, finalises and re-initialises the library when no other Module uses it, selects the token again and
// forgets every handle. A caller that saw an older generation finds the work done.
func (m *Module) reinitialise(gen uint64) error {
	m.reinit.Lock()
	defer m.reinit.Unlock()
	if m.generation() != gen {
		return nil
	}
	// The library must not be finalised under a running call: wait for the operations in flight (their
	// sessions come back; new callers queue) before anything is closed.
	if !m.pool.drain() {
		return ErrClosed
	}
	defer m.pool.undrain()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	clear(m.keys)
	m.cache.forget()
	m.pool.closeIdle()
	m.lock()
	defer m.unlock()
	restarted, err := m.lib.restart()
	if restarted {
		m.finalized = m.gen
	}
	if err != nil {
		return err
	}
	slot, err := selectSlot(m.lib.ctx, m.cfg)
	if err != nil {
		return err
	}
	m.slot = slot
	return nil
}

// forgetHandles drops the cached master-key handles and pKEKs after one proved stale in generation gen. The
// pKEKs are not destroyed: one of them may be the stale handle, and the rest are unreachable without the cache.
func (m *Module) forgetHandles(gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == gen {
		clear(m.keys)
		m.cache.forget()
	}
}

// finalizedSince reports whether the library was finalised after generation gen began.
func (m *Module) finalizedSince(gen uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return gen < m.finalized
}

func (m *Module) generation() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

// selectSlot finds the token in Barbican's order of precedence: serial number, then token labels (the first
// slot whose token has one of them), then the slot id. Labels and serials are compared without their blank
// padding.
func selectSlot(ctx *pkcs11.Ctx, cfg Config) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("listing the PKCS#11 slots with a token: %w", err)
	}
	if cfg.TokenSerial == "" && len(cfg.TokenLabels) == 0 {
		for _, s := range slots {
			if s == cfg.SlotID {
				return s, nil
			}
		}
		return 0, fmt.Errorf("no token in PKCS#11 slot %d (%d slots have a token)", cfg.SlotID, len(slots))
	}
	for _, s := range slots {
		info, err := ctx.GetTokenInfo(s)
		if err != nil {
			return 0, fmt.Errorf("reading the token of PKCS#11 slot %d: %w", s, err)
		}
		if cfg.TokenSerial != "" {
			if strings.TrimSpace(info.SerialNumber) == strings.TrimSpace(cfg.TokenSerial) {
				return s, nil
			}
			continue
		}
		for _, l := range cfg.TokenLabels {
			if strings.TrimSpace(info.Label) == strings.TrimSpace(l) {
				return s, nil
			}
		}
	}
	if cfg.TokenSerial != "" {
		return 0, fmt.Errorf("no PKCS#11 token with serial number %q", cfg.TokenSerial)
	}
	return 0, fmt.Errorf("no PKCS#11 token labelled %s", strings.Join(cfg.TokenLabels, " or "))
}
