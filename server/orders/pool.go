// Package orders processes Barbican orders off the request path. The API commits an order PENDING and answers
// 202; a pool of workers claims PENDING orders from the database, generates their keys and, in one transaction,
// stores the secrets (and the container of a key pair) and makes the order ACTIVE -- or ERROR with the
// reference's status code and reason.
//
// The database is the queue. A new order wakes a worker at once (Notify); the pool also polls, for orders left
// PENDING by a crash, a restart or another server. Claims are leases (store.ClaimOrders), so several servers can
// share one MariaDB, and completion is conditional on the order still being PENDING, so an order processed
// twice -- by two servers, or again after a crash between generation and commit -- gets one result.
package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keymanager-io/keymanager/server/crypto/storecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// Defaults of Options.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultClaimLease   = 30 * time.Second
	maxDefaultWorkers   = 16
)

// DefaultWorkers is twice GOMAXPROCS, at most 16: RSA and DSA generation keep a core busy, and symmetric keys
// mostly wait on the database, so a few more workers than cores keep both fed without crowding the API.
func DefaultWorkers() int {
	return min(2*runtime.GOMAXPROCS(0), maxDefaultWorkers)
}

// Options configure a Pool. The zero value selects the defaults.
type Options struct {
	// Workers is how many orders are processed at once.
	Workers int
	// PollInterval is how often the pool looks for PENDING orders nobody notified it of.
	PollInterval time.Duration
	// ClaimLease is how long a claim holds without renewal: after a crash, a claimed order is taken again once
	// its lease has run out. Claims are renewed every third of it while a key is generated.
	ClaimLease time.Duration
	Logger     *slog.Logger
	// Registry receives the pool's metrics; nil keeps them private.
	Registry prometheus.Registerer
	// Now is the clock (UTC) of the leases; nil is the system clock. The store stamps rows with its own.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers()
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.ClaimLease <= 0 {
		o.ClaimLease = DefaultClaimLease
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = store.SystemClock
	}
}

// Pool is the order worker pool.
type Pool struct {
	db      *store.DB
	secrets *storecrypto.Store
	o       Options
	log     *slog.Logger
	metrics *metrics

	wake  chan struct{} // a new order was committed
	slots chan struct{} // one token per free worker
	stop  chan struct{} // closed by Stop: claim nothing more
	done  chan struct{} // closed when the dispatcher has returned

	// work is the context of the orders in flight: cancelled when Stop gives up waiting for them.
	work     context.Context
	cancel   context.CancelFunc
	inflight sync.WaitGroup

	startOnce, stopOnce sync.Once
}

// New returns a pool that has not started.
func New(db *store.DB, secrets *storecrypto.Store, o Options) (*Pool, error) {
	if db == nil || secrets == nil {
		return nil, errors.New("orders: a database and a secret store are required")
	}
	o.setDefaults()
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, fmt.Errorf("registering the order metrics: %w", err)
	}
	p := &Pool{db: db, secrets: secrets, o: o, log: o.Logger, metrics: m,
		wake: make(chan struct{}, 1), slots: make(chan struct{}, o.Workers),
		stop: make(chan struct{}), done: make(chan struct{})}
	for range o.Workers {
		p.slots <- struct{}{}
	}
	p.work, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// Start starts the dispatcher; it first looks for orders a previous run left PENDING.
func (p *Pool) Start() {
	p.startOnce.Do(func() { go p.run() })
}

// Notify tells the pool that an order was committed. It never blocks.
func (p *Pool) Notify() {
	select {
	case p.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Stop stops claiming orders and waits for those in flight until ctx ends; then it cancels them and returns
// ctx's error. An order whose work is cut off stays PENDING and is taken again after its lease, by the next run
// or by another server.
func (p *Pool) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { close(p.stop) })
	p.Start() // a pool that never started has a dispatcher to stop too
	<-p.done
	drained := make(chan struct{})
	go func() {
		p.inflight.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		p.cancel()
		return nil
	case <-ctx.Done():
		p.cancel()
		p.log.Warn("orders still in progress at the shutdown deadline were cut off; they stay PENDING and are redone")
		return ctx.Err()
	}
}

// run is the dispatcher: it claims orders for free workers when woken and at every poll.
func (p *Pool) run() {
	defer close(p.done)
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		case <-poll.C:
			p.observeQueue()
			poll.Reset(p.o.PollInterval)
		}
		p.dispatch()
	}
}

// dispatch claims orders as long as there are claimable orders and free workers to take them.
func (p *Pool) dispatch() {
	for {
		n := p.acquire()
		if n == 0 {
			return
		}
		ids, err := p.claim(n)
		for range n - len(ids) {
			p.slots <- struct{}{}
		}
		for _, id := range ids {
			p.inflight.Add(1)
			p.metrics.inProgress.Inc()
			go func() {
				defer func() {
					p.metrics.inProgress.Dec()
					p.slots <- struct{}{}
					p.inflight.Done()
				}()
				p.process(p.work, id)
			}()
		}
		if err != nil || len(ids) < n {
			return // nothing more to claim now (or the database failed: the next poll tries again)
		}
	}
}

// acquire waits for a free worker and takes every free one; 0 when the pool stops.
func (p *Pool) acquire() int {
	select {
	case <-p.slots:
	case <-p.stop:
		return 0
	}
	n := 1
	for n < p.o.Workers {
		select {
		case <-p.slots:
			n++
		default:
			return n
		}
	}
	return n
}

// claim claims up to n orders in one transaction.
func (p *Pool) claim(n int) ([]string, error) {
	var ids []string
	err := p.db.Write(p.work, func(tx *store.Tx) error {
		var err error
		ids, err = tx.ClaimOrders(n, p.o.Now().Add(-p.o.ClaimLease))
		return err
	})
	if err != nil {
		p.log.Error("Claiming pending orders failed", slog.Any("error", err))
		return nil, err
	}
	return ids, nil
}

// observeQueue records how many orders are PENDING.
func (p *Pool) observeQueue() {
	n, err := p.db.Read(p.work).PendingOrders()
	if err != nil {
		p.log.Warn("Counting pending orders failed", slog.Any("error", err))
		return
	}
	p.metrics.pending.Set(float64(n))
}
