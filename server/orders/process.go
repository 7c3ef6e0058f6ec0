package orders

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/keymanager-io/keymanager/server/crypto/storecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// The reference's order task name, which starts every error reason (BeginTypeOrder.get_name()).
const taskName = "Process TypeOrder"

// process generates the key of one claimed order and records the outcome. Errors that say the database is
// unavailable (or the pool is stopping) leave the order PENDING: its claim runs out and it is redone; any other
// error puts it in ERROR, as the reference does.
func (p *Pool) process(ctx context.Context, id string) {
	start := time.Now()
	log := p.log.With(slog.String("order_id", id))
	v, err := p.db.Read(ctx).OrderForProcessing(id)
	if errors.Is(err, store.ErrNotFound) {
		return // deleted since it was claimed
	}
	if err != nil {
		log.Warn("Loading a claimed order failed; it is redone after its lease", slog.Any("error", err))
		return
	}
	if v.Status != store.StatusPending {
		return
	}
	stopRenewing := p.keepClaim(ctx, id, log)
	defer stopRenewing()

	result, err := p.generate(ctx, v)
	if err == nil {
		err = p.db.Write(ctx, func(tx *store.Tx) error { return result.commit(tx, v.ID) })
	}
	switch {
	case err == nil:
		p.metrics.done(v.Type, "active", time.Since(start))
		log.Debug("Order processed", slog.String("type", v.Type))
	case errors.Is(err, store.ErrOrderNotPending):
		// Another worker finished it, or it was deleted: what was generated here was rolled back.
		log.Debug("Order was finished elsewhere; this result was dropped")
	case transient(ctx, err):
		log.Warn("Order processing interrupted; it is redone after its lease", slog.Any("error", err))
	default:
		p.fail(ctx, v, err, log)
		p.metrics.done(v.Type, "error", time.Since(start))
	}
}

// transient reports whether err says the work could not be done now rather than that it cannot be done.
func transient(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fail puts the order in ERROR with the reference's status code and safe reason; the cause is logged (it names
// no key material: generation errors carry algorithms and lengths only).
func (p *Pool) fail(ctx context.Context, v *store.OrderView, cause error, log *slog.Logger) {
	code, reason := "500", taskName+" failure seen - please contact site administrator."
	var re *storecrypto.RequestError
	if errors.As(cause, &re) {
		code, reason = "400", taskName+" issue seen - "+re.Message+"."
	}
	log.Info("Order failed", slog.String("type", v.Type), slog.String("error_status_code", code),
		slog.Any("error", cause))
	err := p.db.Write(ctx, func(tx *store.Tx) error { return tx.FailOrder(v.ID, code, reason) })
	if err != nil && !errors.Is(err, store.ErrOrderNotPending) {
		log.Warn("Recording an order's failure failed; it is redone after its lease", slog.Any("error", err))
	}
}

// keepClaim renews the order's claim every third of the lease until the returned function is called, so that a
// long generation (a 4096-bit DSA key) is not taken over by another worker.
func (p *Pool) keepClaim(ctx context.Context, id string, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(p.o.ClaimLease / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				err := p.db.Write(ctx, func(tx *store.Tx) error { return tx.RenewOrderClaim(id) })
				if errors.Is(err, store.ErrOrderNotPending) {
					return
				}
				if err != nil {
					log.Warn("Renewing an order's claim failed", slog.Any("error", err))
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// typeLabel bounds the type label of the metrics to the order types there are.
func typeLabel(orderType string) string {
	switch t := strings.ToLower(orderType); t {
	case store.OrderKey, store.OrderAsymmetric:
		return t
	}
	return "other"
}
