package store

import (
	"context"
	"fmt"
	"time"
)

// detailRow is one row of the side query that loads, for a set of secrets,
// their store metadata ('m'), encrypted data content types ('e'), read ACL
// users ('a') and consumers ('c') in one round trip.
type detailRow struct {
	SecretID  string     `gorm:"column:secret_id"`
	Src       string     `gorm:"column:src"`
	C1        *string    `gorm:"column:c1"`
	C2        *string    `gorm:"column:c2"`
	C3        *string    `gorm:"column:c3"`
	C4        *string    `gorm:"column:c4"`
	C5        *string    `gorm:"column:c5"`
	C6        *string    `gorm:"column:c6"`
	Flag      int64      `gorm:"column:flag"`
	CreatedAt *time.Time `gorm:"column:created_at;serializer:kmtime"`
	UpdatedAt *time.Time `gorm:"column:updated_at;serializer:kmtime"`
}

const (
	detailStoreMeta = "m"
	detailData      = "e"
	detailACL       = "a"
	detailConsumer  = "c"
)

func detailsSQL(dialect string, consumers bool) string {
	key := quote(dialect, "key")
	q := "SELECT secret_id, 'm' AS src, " + key + " AS c1, value AS c2, NULL AS c3, NULL AS c4, NULL AS c5, " +
		"NULL AS c6, 0 AS flag, created_at, updated_at FROM secret_store_metadata WHERE secret_id IN ? AND deleted = 0" +
		" UNION ALL SELECT secret_id, 'e', content_type, NULL, NULL, NULL, NULL, NULL, 0, created_at, updated_at " +
		"FROM encrypted_data WHERE secret_id IN ? AND deleted = 0" +
		" UNION ALL SELECT a.secret_id, 'a', a.id, u.user_id, NULL, NULL, NULL, NULL, a.project_access, " +
		"a.created_at, a.updated_at FROM secret_acls a LEFT JOIN secret_acl_users u ON u.acl_id = a.id " +
		"WHERE a.secret_id IN ? AND a.operation = 'read'"
	if consumers {
		q += " UNION ALL SELECT secret_id, 'c', id, service, resource_type, resource_id, project_id, status, 0, " +
			"created_at, updated_at FROM secret_consumer_metadata WHERE secret_id IN ? AND deleted = 0"
	}
	// c1 last: consumers created in the same instant still come out in a
	// stable order, and ACL users sort by user id.
	return q + " ORDER BY secret_id, src, created_at, c1, c2"
}

// loadSecretDetails fills ContentType, HasPayload, ReadACL and (optionally)
// Consumers of views with one query, whatever the number of secrets.
func (db *DB) loadSecretDetails(ctx context.Context, views []SecretView, consumers bool) error {
	if len(views) == 0 {
		return nil
	}
	ids := make([]string, len(views))
	byID := make(map[string]*SecretView, len(views))
	for i := range views {
		ids[i] = views[i].ID
		byID[views[i].ID] = &views[i]
	}
	args := []any{ids, ids, ids}
	if consumers {
		args = append(args, ids)
	}
	var rows []detailRow
	if err := db.read(ctx).Raw(detailsSQL(db.dialect, consumers), args...).Scan(&rows).Error; err != nil {
		return fmt.Errorf("load secret details: %w", classify(err))
	}
	dataType := map[string]string{}
	for _, r := range rows {
		v := byID[r.SecretID]
		if v == nil {
			continue
		}
		switch r.Src {
		case detailStoreMeta:
			v.HasPayload = true
			if deref(r.C1) == "content_type" && v.ContentType == "" {
				v.ContentType = deref(r.C2)
			}
		case detailData:
			v.HasPayload = true
			if _, seen := dataType[r.SecretID]; !seen {
				dataType[r.SecretID] = deref(r.C1)
			}
		case detailACL:
			if v.ReadACL == nil {
				v.ReadACL = &ACL{ID: deref(r.C1), ProjectAccess: r.Flag != 0, Users: []string{}}
				v.ReadACL.CreatedAt, v.ReadACL.UpdatedAt = derefTime(r.CreatedAt), derefTime(r.UpdatedAt)
			}
			if r.C2 != nil {
				v.ReadACL.Users = append(v.ReadACL.Users, *r.C2)
			}
		case detailConsumer:
			c := SecretConsumerMetadatum{SecretID: r.SecretID, ProjectID: r.C5, Service: deref(r.C2),
				ResourceType: deref(r.C3), ResourceID: deref(r.C4)}
			c.ID, c.Status = deref(r.C1), deref(r.C6)
			c.CreatedAt, c.UpdatedAt = derefTime(r.CreatedAt), derefTime(r.UpdatedAt)
			v.Consumers = append(v.Consumers, c)
		}
	}
	for i := range views {
		v := &views[i]
		if v.ContentType == "" {
			v.ContentType = dataType[v.ID]
		}
		if consumers && v.Consumers == nil {
			v.Consumers = []SecretConsumerMetadatum{}
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
