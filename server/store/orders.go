package store

import (
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Order types (orders.type, spec §4.9).
const (
	OrderKey        = "key"
	OrderAsymmetric = "asymmetric"
)

// OrderClaim is the sub_status of a PENDING order while an order worker generates its key. Barbican's orders
// table has no claim column: sub_status is free while an order is PENDING (the reference sets it on success),
// and updated_at, stamped by the claim and renewed while the work lasts, is the lease. A claim older than the
// lease was left by a worker that died, and the order may be claimed again. The API does not show it.
const OrderClaim = "keymanager: generating"

// ErrOrderNotPending means an order is no longer PENDING (another worker finished it, or it was deleted): the
// work done for it must be dropped.
var ErrOrderNotPending = errors.New("order is no longer pending")

// OrderView is an order with the Keystone id of its project.
type OrderView struct {
	Order
	ProjectExternalID string
}

// Owner returns the order's owner for policy targets.
func (v *OrderView) Owner() Owner {
	return Owner{ProjectExternalID: v.ProjectExternalID, CreatorID: v.CreatorID}
}

// CreateOrder inserts o PENDING (its ID and timestamps are filled when empty); o.ProjectID is the internal id.
func (tx *Tx) CreateOrder(o *Order) error {
	if err := tx.writing("create order"); err != nil {
		return err
	}
	o.init(tx.now, StatusPending)
	o.CreatedAt, o.UpdatedAt = tx.time(o.CreatedAt), tx.time(o.UpdatedAt)
	if err := tx.insert(o); err != nil {
		return fmt.Errorf("create order: %w", err)
	}
	return nil
}

// Order returns a non-deleted order of a project (by Keystone id), or ErrNotFound: orders are looked up within
// the caller's project, so another project's order is not found (spec §2.6).
func (tx *Tx) Order(id, projectExternalID string) (*OrderView, error) {
	projectID, err := tx.ProjectID(projectExternalID)
	if err != nil {
		return nil, err
	}
	var o Order
	err = tx.g.Where("id = ? AND project_id = ? AND deleted = ?", id, projectID, false).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("order: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up order: %w", classify(err))
	}
	return &OrderView{Order: o, ProjectExternalID: projectExternalID}, nil
}

// OrderForProcessing returns a non-deleted order of any project with its project's Keystone id, or ErrNotFound.
func (tx *Tx) OrderForProcessing(id string) (*OrderView, error) {
	var o Order
	err := tx.g.Where("id = ? AND deleted = ?", id, false).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("order: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up order: %w", classify(err))
	}
	var external []*string
	if err := tx.scan(&external, "SELECT external_id FROM projects WHERE id = ?", o.ProjectID); err != nil {
		return nil, fmt.Errorf("look up the order's project: %w", err)
	}
	if len(external) == 0 || external[0] == nil {
		return nil, fmt.Errorf("project %s of order %s: %w", o.ProjectID, id, ErrNotFound)
	}
	return &OrderView{Order: o, ProjectExternalID: *external[0]}, nil
}

// OrderQuery selects a page of a project's orders.
type OrderQuery struct {
	// ProjectID is the internal project id.
	ProjectID string
	// MetaContains, when not empty, keeps the orders whose meta JSON text contains it (SQL LIKE, as the
	// reference's meta.contains(); the caller encodes the value as the reference's JSON column would).
	MetaContains  string
	Offset, Limit int
}

// ListOrders returns a page of a project's non-deleted orders, oldest first, and how many match in all.
func (tx *Tx) ListOrders(q OrderQuery) ([]Order, int, error) {
	where, args := "project_id = ? AND deleted = 0", []any{q.ProjectID}
	if q.MetaContains != "" {
		where, args = where+" AND meta LIKE ?", append(args, "%"+q.MetaContains+"%")
	}
	total, err := tx.count("SELECT COUNT(*) FROM orders WHERE "+where, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count orders: %w", err)
	}
	var orders []Order
	err = tx.g.Where(where, args...).Order("created_at, id").Limit(q.Limit).Offset(q.Offset).Find(&orders).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", classify(err))
	}
	return orders, total, nil
}

// DeleteOrder soft-deletes an order with its plugin and Barbican metadata rows (spec §6.3); the secrets and
// containers it generated stay. ErrNotFound if it is missing or already deleted.
func (tx *Tx) DeleteOrder(id string) error {
	if err := tx.writing("delete order"); err != nil {
		return err
	}
	ts := tx.stamp(tx.now)
	n, err := tx.exec("UPDATE orders SET deleted = 1, deleted_at = ?, updated_at = ? WHERE id = ? AND deleted = 0", ts, ts, id)
	if err != nil {
		return fmt.Errorf("delete order: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("order: %w", ErrNotFound)
	}
	for _, table := range []string{"order_plugin_metadata", "order_barbican_metadata"} {
		_, err := tx.exec("UPDATE "+table+" SET deleted = 1, deleted_at = ?, updated_at = ? WHERE order_id = ? AND deleted = 0",
			ts, ts, id)
		if err != nil {
			return fmt.Errorf("delete order: cascade to %s: %w", table, err)
		}
	}
	return nil
}

// claimable is the condition of an order a worker may claim: PENDING, not deleted, and either never claimed or
// claimed by a worker whose lease ran out (updated_at before the bound).
const claimable = "status = 'PENDING' AND deleted = 0 AND (sub_status IS NULL OR updated_at < ?)"

// ClaimOrders claims up to limit claimable orders, oldest first, for a worker, and returns their ids; a claim
// lease that started before staleBefore has expired. Each claim is a conditional UPDATE, so with several servers
// on one database an order is claimed by one of them only; the winner is whoever updates the row first.
func (tx *Tx) ClaimOrders(limit int, staleBefore time.Time) ([]string, error) {
	if err := tx.writing("claim orders"); err != nil {
		return nil, err
	}
	stale := tx.stamp(staleBefore)
	var ids []string
	if err := tx.scan(&ids, "SELECT id FROM orders WHERE "+claimable+" ORDER BY created_at, id LIMIT ?", stale, limit); err != nil {
		return nil, fmt.Errorf("find pending orders: %w", err)
	}
	claimed := ids[:0]
	now := tx.stamp(tx.now)
	for _, id := range ids {
		n, err := tx.exec("UPDATE orders SET sub_status = ?, updated_at = ? WHERE id = ? AND "+claimable,
			OrderClaim, now, id, stale)
		if err != nil {
			return nil, fmt.Errorf("claim order: %w", err)
		}
		if n == 1 {
			claimed = append(claimed, id)
		}
	}
	return claimed, nil
}

// RenewOrderClaim extends the lease of a claimed order; ErrOrderNotPending when it is no longer claimed.
func (tx *Tx) RenewOrderClaim(id string) error {
	if err := tx.writing("renew order claim"); err != nil {
		return err
	}
	n, err := tx.exec("UPDATE orders SET updated_at = ? WHERE id = ? AND status = 'PENDING' AND deleted = 0 AND sub_status = ?",
		tx.stamp(tx.now), id, OrderClaim)
	if err != nil {
		return fmt.Errorf("renew order claim: %w", err)
	}
	if n == 0 {
		return ErrOrderNotPending
	}
	return nil
}

// CompleteOrder makes a PENDING order ACTIVE with the secret or container it generated and the reference's
// sub-status "Unknown". ErrOrderNotPending when the order is no longer PENDING or was deleted: the caller's
// transaction must then roll back what it generated, so an order never gets two results.
func (tx *Tx) CompleteOrder(id string, secretID, containerID *string) error {
	if err := tx.writing("complete order"); err != nil {
		return err
	}
	const unknown = "Unknown"
	n, err := tx.exec("UPDATE orders SET status = ?, secret_id = ?, container_id = ?, sub_status = ?, sub_status_message = ?, "+
		"updated_at = ? WHERE id = ? AND status = 'PENDING' AND deleted = 0",
		StatusActive, secretID, containerID, unknown, unknown, tx.stamp(tx.now), id)
	if err != nil {
		return fmt.Errorf("complete order: %w", err)
	}
	if n == 0 {
		return ErrOrderNotPending
	}
	return nil
}

// FailOrder puts a PENDING order in ERROR with a status code and reason (truncated to the column's 255
// characters, as the reference does) and drops its claim. ErrOrderNotPending when it is no longer PENDING.
func (tx *Tx) FailOrder(id, statusCode, reason string) error {
	if err := tx.writing("fail order"); err != nil {
		return err
	}
	if r := []rune(reason); len(r) > 255 {
		reason = string(r[:255])
	}
	n, err := tx.exec("UPDATE orders SET status = ?, error_status_code = ?, error_reason = ?, sub_status = NULL, "+
		"updated_at = ? WHERE id = ? AND status = 'PENDING' AND deleted = 0",
		StatusError, statusCode, reason, tx.stamp(tx.now), id)
	if err != nil {
		return fmt.Errorf("fail order: %w", err)
	}
	if n == 0 {
		return ErrOrderNotPending
	}
	return nil
}

// PendingOrders counts the orders waiting for a worker or being processed.
func (tx *Tx) PendingOrders() (int, error) {
	n, err := tx.count("SELECT COUNT(*) FROM orders WHERE status = 'PENDING' AND deleted = 0")
	if err != nil {
		return 0, fmt.Errorf("count pending orders: %w", err)
	}
	return n, nil
}
