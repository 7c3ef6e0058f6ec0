package store

import (
	"bytes"
	"fmt"
	"math"
	"slices"
)

// Container reads follow the secrets' pattern (secrets_details.go): one query returns the container rows with
// flags saying which have an ACL and consumers, and the details of a whole page cost one query each -- secret
// references, consumers, ACLs -- whatever the page size, and none when no row of the page has any.

// maxRows stands for "no limit" in LIMIT clauses.
const maxRows = math.MaxInt32

// ContainerView is a container with what the API renders alongside it.
type ContainerView struct {
	Container
	ProjectExternalID string
	// ReadACL is nil when the container has no 'read' ACL row.
	ReadACL *ACL
	// SecretRefs are the live secret references (loaded with details), oldest first, then by name and secret id:
	// the reference has no order at all (its relationship has no ORDER BY), this one is stable.
	SecretRefs []ContainerSecret
	// Consumers are the live consumers (loaded with details), by name as the consumer list is.
	Consumers []ContainerConsumerMetadatum
}

// Owner returns the container's owner for policy targets.
func (v *ContainerView) Owner() Owner {
	return Owner{ProjectExternalID: v.ProjectExternalID, CreatorID: v.CreatorID, ReadACL: v.ReadACL}
}

// containerRow is a container with its project's Keystone id and what it has besides.
type containerRow struct {
	Container
	ProjectExternalID string `gorm:"column:project_external_id"`
	HasACL            bool   `gorm:"column:has_acl"`
	HasConsumers      bool   `gorm:"column:has_consumers"`
}

const containerSelect = "SELECT c.id, c.created_at, c.updated_at, c.deleted_at, c.deleted, c.status, c.name, c.type, " +
	"c.project_id, c.creator_id, p.external_id AS project_external_id, " +
	"EXISTS (SELECT 1 FROM container_acls a WHERE a.container_id = c.id AND a.operation = 'read') AS has_acl, " +
	"EXISTS (SELECT 1 FROM container_consumer_metadata m WHERE m.container_id = c.id AND m.deleted = 0) AS has_consumers " +
	"FROM containers c JOIN projects p ON p.id = c.project_id "

// Container returns a live container of any project, or ErrNotFound. With details it carries its secret
// references and consumers; its read ACL is always loaded (the policy needs it).
func (tx *Tx) Container(id string, details bool) (*ContainerView, error) {
	views, err := tx.queryContainers("WHERE c.id = ? AND c.deleted = 0", []any{id}, details)
	if err != nil {
		return nil, fmt.Errorf("look up container: %w", err)
	}
	if len(views) == 0 {
		return nil, fmt.Errorf("container: %w", ErrNotFound)
	}
	return &views[0], nil
}

// queryContainers runs containerSelect with the given tail and completes the views.
func (tx *Tx) queryContainers(tail string, args []any, details bool) ([]ContainerView, error) {
	var rows []containerRow
	if err := tx.scan(&rows, containerSelect+tail, args...); err != nil {
		return nil, err
	}
	views := make([]ContainerView, len(rows))
	ids := make([]string, len(rows))
	var withACL, withConsumers []string
	for i, r := range rows {
		views[i] = ContainerView{Container: r.Container, ProjectExternalID: r.ProjectExternalID}
		ids[i] = r.ID
		if r.HasACL {
			withACL = append(withACL, r.ID)
		}
		if r.HasConsumers {
			withConsumers = append(withConsumers, r.ID)
		}
	}
	byID := make(map[string]*ContainerView, len(views))
	for i := range views {
		byID[views[i].ID] = &views[i]
		if details {
			views[i].SecretRefs = []ContainerSecret{}
			views[i].Consumers = []ContainerConsumerMetadatum{}
		}
	}
	acls, err := tx.readACLs(ContainerACLs, withACL)
	if err != nil {
		return nil, err
	}
	for id, acl := range acls {
		byID[id].ReadACL = acl
	}
	if !details || len(ids) == 0 {
		return views, nil
	}
	var refs []ContainerSecret
	if err := tx.g.Where("container_id IN ? AND deleted = ?", ids, false).Find(&refs).Error; err != nil {
		return nil, fmt.Errorf("load container secrets: %w", classify(err))
	}
	slices.SortFunc(refs, compareRefs)
	for _, ref := range refs {
		v := byID[ref.ContainerID]
		v.SecretRefs = append(v.SecretRefs, ref)
	}
	if len(withConsumers) == 0 {
		return views, nil
	}
	var consumers []ContainerConsumerMetadatum
	if err := tx.g.Where("container_id IN ? AND deleted = ?", withConsumers, false).
		Order("container_id, name, created_at, id").Find(&consumers).Error; err != nil {
		return nil, fmt.Errorf("load container consumers: %w", classify(err))
	}
	for _, c := range consumers {
		v := byID[c.ContainerID]
		v.Consumers = append(v.Consumers, c)
	}
	return views, nil
}

// compareRefs orders secret references: by creation, then by name (unnamed first, bytes compared so that both
// databases agree), then by secret id.
func compareRefs(a, b ContainerSecret) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	switch {
	case a.Name == nil && b.Name != nil:
		return -1
	case a.Name != nil && b.Name == nil:
		return 1
	case a.Name != nil:
		if c := bytes.Compare([]byte(*a.Name), []byte(*b.Name)); c != 0 {
			return c
		}
	}
	if c := bytes.Compare([]byte(a.SecretID), []byte(b.SecretID)); c != 0 {
		return c
	}
	return bytes.Compare([]byte(a.ID), []byte(b.ID))
}
