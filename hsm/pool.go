package hsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
)

// ErrNoSession is what a caller gets when no session came free within the wait (the API answers 503): the
// token's session cap is a hard limit, so callers queue rather than open more.
var ErrNoSession = errors.New("no PKCS#11 session came free in time")

// ErrClosed means the Module was closed.
var ErrClosed = errors.New("PKCS#11 module is closed")

// WaitError is ErrNoSession with the figures an operator needs: the cap and how long the caller waited.
type WaitError struct {
	Cap    int
	Waited time.Duration
	Cause  error // the context's error when the caller's own deadline ended the wait, else nil
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("all %d PKCS#11 sessions stayed busy for %s (raise the session cap or the wait)", e.Cap,
		e.Waited.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrNoSession) true.
func (e *WaitError) Is(target error) bool { return target == ErrNoSession }

// Unwrap returns the context's error, if it ended the wait.
func (e *WaitError) Unwrap() error { return e.Cause }

// Stats are the pool's figures for metrics.
type Stats struct {
	Cap     int
	Open    int // sessions open at the token, busy or idle
	InUse   int
	Waiting int
}

// pool hands out logged-in sessions, never more than its cap. A caller takes a permit (one of cap) before it
// takes an idle session or opens one, and a session is opened only when none is idle, so the sessions open at
// the token never outnumber the permits.
type pool struct {
	m       *Module
	cap     int
	wait    time.Duration
	permits chan struct{}
	closed  chan struct{}
	once    sync.Once

	mu   sync.Mutex
	idle []*Session
	open int

	inUse   atomic.Int64
	waiting atomic.Int64
}

// Session is a logged-in session lent to one caller for one operation.
type Session struct {
	m      *Module
	handle pkcs11.SessionHandle
	gen    uint64
}

func newPool(m *Module, capacity int, wait time.Duration) *pool {
	return &pool{m: m, cap: capacity, wait: wait, permits: make(chan struct{}, capacity), closed: make(chan struct{})}
}

func (p *pool) stats() Stats {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	return Stats{Cap: p.cap, Open: open, InUse: int(p.inUse.Load()), Waiting: int(p.waiting.Load())}
}

// acquire waits for a permit (until the caller's context or the pool's wait ends) and returns a session.
func (p *pool) acquire(ctx context.Context) (*Session, error) {
	select {
	case <-p.closed:
		return nil, ErrClosed
	default:
	}
	select {
	case p.permits <- struct{}{}:
	default:
		if err := p.waitPermit(ctx); err != nil {
			return nil, err
		}
	}
	p.inUse.Add(1)
	s, err := p.take()
	if err != nil {
		p.inUse.Add(-1)
		<-p.permits
		return nil, err
	}
	return s, nil
}

func (p *pool) waitPermit(ctx context.Context) error {
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	start := time.Now()
	var expired <-chan time.Time
	if p.wait > 0 {
		t := time.NewTimer(p.wait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case p.permits <- struct{}{}:
		return nil
	case <-p.closed:
		return ErrClosed
	case <-expired:
		return &WaitError{Cap: p.cap, Waited: time.Since(start)}
	case <-ctx.Done():
		return &WaitError{Cap: p.cap, Waited: time.Since(start), Cause: ctx.Err()}
	}
}

// take returns an idle session of the current generation or opens and logs in a new one.
func (p *pool) take() (*Session, error) {
	gen := p.m.generation()
	p.mu.Lock()
	for len(p.idle) > 0 {
		s := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if s.gen == gen {
			p.mu.Unlock()
			return s, nil
		}
		p.open-- // of a generation whose sessions re-initialisation closed
	}
	p.open++
	p.mu.Unlock()
	s, err := p.openSession(gen)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		return nil, err
	}
	return s, nil
}

func (p *pool) openSession(gen uint64) (*Session, error) {
	m := p.m
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if !m.cfg.ReadOnlySessions {
		flags |= pkcs11.CKF_RW_SESSION
	}
	slot := m.Slot()
	m.lock()
	defer m.unlock()
	h, err := m.lib.ctx.OpenSession(slot, flags)
	if err != nil {
		return nil, fmt.Errorf("opening a PKCS#11 session on slot %d: %w", slot, err)
	}
	// Login is per application and token: the first session logs in, later ones find it done.
	if err := m.lib.ctx.Login(h, pkcs11.CKU_USER, string(m.cfg.PIN)); err != nil &&
		!isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = m.lib.ctx.CloseSession(h)
		// The error carries only the return value (e.g. CKR_PIN_INCORRECT), never the PIN.
		return nil, fmt.Errorf("logging in to the PKCS#11 token on slot %d: %w", slot, err)
	}
	return &Session{m: m, handle: h, gen: gen}, nil
}

// release returns a session; a broken one (its operation failed with a session or token error) is closed.
func (p *pool) release(s *Session, broken bool) {
	p.inUse.Add(-1)
	defer func() { <-p.permits }()
	if broken || s.gen != p.m.generation() {
		// A session from before a C_Finalize is gone already, and its handle number may belong to a new one.
		if !p.m.finalizedSince(s.gen) {
			p.m.lock()
			_ = p.m.lib.ctx.CloseSession(s.handle)
			p.m.unlock()
		}
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	p.idle = append(p.idle, s)
	p.mu.Unlock()
}

// drain takes every permit, waiting for the sessions in use to come back; false if the pool is closed.
func (p *pool) drain() bool {
	select {
	case <-p.closed:
		return false
	default:
	}
	for range p.cap {
		p.permits <- struct{}{}
	}
	return true
}

// undrain gives the permits drain took back.
func (p *pool) undrain() {
	for range p.cap {
		<-p.permits
	}
}

// closeIdle closes the idle sessions (re-initialisation); busy ones are closed when released.
func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	p.mu.Unlock()
	p.m.lock()
	defer p.m.unlock()
	for _, s := range idle {
		_ = p.m.lib.ctx.CloseSession(s.handle)
	}
}

// close stops new acquisitions, wakes the waiters, waits for the sessions in use to come back (the library
// must not be finalised under a running call) and closes them all.
func (p *pool) close() {
	first := false
	p.once.Do(func() { close(p.closed); first = true })
	if first {
		for range p.cap { // the sessions in use come back before they are closed
			p.permits <- struct{}{}
		}
	}
	p.closeIdle()
}

// Do runs fn with a logged-in session. When fn fails with a session or token error, the module is
// re-initialised, and after a stale handle the handles are forgotten; then fn runs once more on a fresh session
// (Barbican's one retry). fn must therefore be safe to repeat and take handles through the Module's lookups, and
// must not call Do itself (a re-initialisation waits for every session, the caller's included).
func (m *Module) Do(ctx context.Context, op string, fn func(*Session) error) error {
	start := time.Now()
	err := m.do(ctx, fn)
	if err != nil && recoveryFor(err) != recoverNone {
		err = m.do(ctx, fn)
	}
	if m.cfg.Observe != nil {
		m.cfg.Observe(op, time.Since(start), err)
	}
	if err != nil {
		return fmt.Errorf("HSM %s: %w", op, err)
	}
	return nil
}

func (m *Module) do(ctx context.Context, fn func(*Session) error) error {
	s, err := m.pool.acquire(ctx)
	if err != nil {
		if recoveryFor(err) == recoverModule {
			if rerr := m.reinitialise(m.generation()); rerr != nil {
				return errors.Join(err, rerr)
			}
		}
		return err
	}
	err = fn(s)
	r := recoveryFor(err)
	m.pool.release(s, r == recoverModule)
	switch r {
	case recoverModule:
		if rerr := m.reinitialise(s.gen); rerr != nil {
			return errors.Join(err, rerr)
		}
	case recoverHandles:
		m.forgetHandles(s.gen)
	}
	return err
}

// Stats reports the session pool's figures.
func (m *Module) Stats() Stats { return m.pool.stats() }
