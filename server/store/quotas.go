package store

import (
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// ErrQuotaReached means a create would go over the project's quota of that resource; the API answers 403.
var ErrQuotaReached = errors.New("quota reached")

// QuotaValues are a project's configured quotas (project_quotas), nil where unset.
type QuotaValues struct {
	Secrets, Orders, Containers, Consumers, CAs *int
}

// ProjectQuotasView is a project_quotas row with its project's Keystone id.
type ProjectQuotasView struct {
	ProjectExternalID string
	QuotaValues
}

func quotaValues(q *ProjectQuotas) QuotaValues {
	return QuotaValues{Secrets: q.Secrets, Orders: q.Orders, Containers: q.Containers, Consumers: q.Consumers, CAs: q.CAs}
}

// ProjectQuotas returns a project's configured quotas, or ErrNotFound when it has none. projectID is the
// internal id.
func (tx *Tx) ProjectQuotas(projectID string) (QuotaValues, error) {
	var row ProjectQuotas
	err := tx.g.Where("project_id = ? AND deleted = ?", projectID, false).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return QuotaValues{}, fmt.Errorf("project quotas: %w", ErrNotFound)
	}
	if err != nil {
		return QuotaValues{}, fmt.Errorf("look up project quotas: %w", classify(err))
	}
	return quotaValues(&row), nil
}

// ListProjectQuotas returns a page of the configured project quotas, oldest first, and their total.
func (tx *Tx) ListProjectQuotas(offset, limit int) ([]ProjectQuotasView, int, error) {
	total, err := tx.count("SELECT COUNT(*) FROM project_quotas WHERE deleted = 0")
	if err != nil {
		return nil, 0, fmt.Errorf("count project quotas: %w", err)
	}
	var rows []struct {
		ProjectQuotas
		ExternalID string `gorm:"column:external_id"`
	}
	err = tx.g.Raw("SELECT q.*, p.external_id FROM project_quotas q JOIN projects p ON p.id = q.project_id "+
		"WHERE q.deleted = 0 ORDER BY q.created_at, q.id LIMIT ? OFFSET ?", limit, offset).Scan(&rows).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list project quotas: %w", classify(err))
	}
	out := make([]ProjectQuotasView, len(rows))
	for i := range rows {
		out[i] = ProjectQuotasView{ProjectExternalID: rows[i].ExternalID, QuotaValues: quotaValues(&rows[i].ProjectQuotas)}
	}
	return out, total, nil
}

// SetProjectQuotas sets the given (non-nil) quotas of a project: the first call creates its row (the others
// unset), later calls change only what they give.
func (tx *Tx) SetProjectQuotas(projectID string, q QuotaValues) error {
	if err := tx.writing("set project quotas"); err != nil {
		return err
	}
	cols := map[string]*int{"secrets": q.Secrets, "orders": q.Orders, "containers": q.Containers,
		"consumers": q.Consumers, "cas": q.CAs}
	updates := map[string]any{"updated_at": tx.stamp(tx.now)}
	for c, v := range cols {
		if v != nil {
			updates[c] = *v
		}
	}
	res := tx.g.Model(&ProjectQuotas{}).Where("project_id = ? AND deleted = ?", projectID, false).Updates(updates)
	if res.Error != nil {
		return fmt.Errorf("set project quotas: %w", classify(res.Error))
	}
	if res.RowsAffected > 0 {
		return nil
	}
	row := ProjectQuotas{ProjectID: projectID, Secrets: q.Secrets, Orders: q.Orders, Containers: q.Containers,
		Consumers: q.Consumers, CAs: q.CAs}
	row.init(tx.time(tx.now), StatusActive)
	if err := tx.insert(&row); err != nil {
		return fmt.Errorf("set project quotas: %w", err)
	}
	return nil
}

// DeleteProjectQuotas removes a project's configured quotas (hard delete, as the reference); ErrNotFound when it
// has none.
func (tx *Tx) DeleteProjectQuotas(projectID string) error {
	if err := tx.writing("delete project quotas"); err != nil {
		return err
	}
	n, err := tx.exec("DELETE FROM project_quotas WHERE project_id = ?", projectID)
	if err != nil {
		return fmt.Errorf("delete project quotas: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("project quotas: %w", ErrNotFound)
	}
	return nil
}

// CheckQuota returns ErrQuotaReached when a project already has limit live rows of a resource (Barbican's
// QuotaEnforcer: a negative limit is unlimited, 0 disables creation). Secrets count without the expired ones.
// The count is read from the trigger-kept counters; two creates racing on MariaDB can both pass at limit-1, as
// in the reference.
func (tx *Tx) CheckQuota(projectID, resource string, limit int) error {
	switch {
	case limit < 0:
		return nil
	case limit == 0:
		return fmt.Errorf("%s quota is 0: %w", resource, ErrQuotaReached)
	}
	var n int
	var err error
	if resource == CountSecrets {
		n, err = tx.projectSecretTotal(projectID)
	} else {
		n, err = tx.ProjectCount(projectID, resource)
	}
	if errors.Is(err, ErrNotFound) {
		n, err = tx.scanCount(projectID, resource)
	}
	if err != nil {
		return fmt.Errorf("check the %s quota: %w", resource, err)
	}
	if n >= limit {
		return fmt.Errorf("%d %s of %d allowed: %w", n, resource, limit, ErrQuotaReached)
	}
	return nil
}

// scanCount counts a resource by scanning, for a database whose counters are not there yet.
func (tx *Tx) scanCount(projectID, resource string) (int, error) {
	for _, c := range countedTables {
		if c.resource == resource {
			q := "SELECT COUNT(*) FROM " + c.table + " WHERE project_id = ? AND deleted = 0"
			args := []any{projectID}
			if resource == CountSecrets {
				q += " AND (expiration IS NULL OR expiration > ?)"
				args = append(args, formatTime(tx.now))
			}
			return tx.count(q, args...)
		}
	}
	return 0, fmt.Errorf("unknown counted resource %q", resource)
}
