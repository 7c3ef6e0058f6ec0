package policy

// Credentials is the caller as the policy engine sees it (oslo.context
// to_policy_values). Empty strings stand for Python's None, so a rule such as
// user_id:%(target.secret.creator_id)s matches a caller without a user id
// against a resource whose creator_id is nil, as Barbican does in no-auth mode.
type Credentials struct {
	UserID, ProjectID                       string
	DomainID, UserDomainID, ProjectDomainID string
	Roles                                   []string // as given; compared case-insensitively
	SystemScope                             string
	IsAdminProject                          bool
	ServiceUserID                           string
	ServiceRoles                            []string
}

// Target is the flattened policy target: keys such as
// "target.secret.project_id"; values are string, bool or nil (other values are
// stringified like Python's str() where sensible). Enforce adds
// "enforce_new_defaults" itself.
type Target map[string]any

// Flattened target keys, as Barbican's controllers name them (spec §5.2).
const (
	keyEnforceNewDefaults = "enforce_new_defaults"

	keySecretProjectID     = "target.secret.project_id"
	keySecretCreatorID     = "target.secret.creator_id"
	keySecretRead          = "target.secret.read"
	keySecretProjectAccess = "target.secret.read_project_access"

	keyContainerProjectID     = "target.container.project_id"
	keyContainerCreatorID     = "target.container.creator_id"
	keyContainerRead          = "target.container.read"
	keyContainerProjectAccess = "target.container.read_project_access"

	keyOrderProjectID = "target.order.project_id"
	keyOrderCreatorID = "target.order.creator_id"
)

// aclReadOperation is the value Barbican puts under target.<entity>.read when
// the caller is on the entity's read ACL (the ACL operation name itself).
const aclReadOperation = "read"

// SecretTarget builds the target for the single-secret actions (secret:*,
// secret_meta:*, secret_consumers:*). projectID is the owning project's
// Keystone id; creatorID is nil for secrets created without a user id.
// aclUsers are the users of the secret's "read" ACL and projectAccess is that
// ACL's project_access flag — callers pass true when the secret has no ACL rows,
// because Barbican treats a secret without ACLs as readable by the project.
func SecretTarget(projectID string, creatorID *string, callerUserID string, aclUsers []string, projectAccess bool) Target {
	t := Target{
		keySecretProjectID:     projectID,
		keySecretCreatorID:     optional(creatorID),
		keySecretProjectAccess: projectAccess,
	}
	if onACL(callerUserID, aclUsers) {
		t[keySecretRead] = aclReadOperation
	}
	return t
}

// SecretACLTarget builds the target for the secret ACL actions (secret_acls:*),
// which Barbican gives only the project and creator: read and
// read_project_access are deliberately absent (spec §5.2).
func SecretACLTarget(projectID string, creatorID *string) Target {
	return Target{
		keySecretProjectID: projectID,
		keySecretCreatorID: optional(creatorID),
	}
}

// ContainerTarget builds the target for the single-container actions
// (container:*, container_secret:*, container_consumers:*, consumer:get). The
// parameters mean what they mean for SecretTarget.
func ContainerTarget(projectID string, creatorID *string, callerUserID string, aclUsers []string, projectAccess bool) Target {
	t := Target{
		keyContainerProjectID:     projectID,
		keyContainerCreatorID:     optional(creatorID),
		keyContainerProjectAccess: projectAccess,
	}
	if onACL(callerUserID, aclUsers) {
		t[keyContainerRead] = aclReadOperation
	}
	return t
}

// ContainerACLTarget builds the target for the container ACL actions
// (container_acls:*): only the project and creator, like SecretACLTarget.
func ContainerACLTarget(projectID string, creatorID *string) Target {
	return Target{
		keyContainerProjectID: projectID,
		keyContainerCreatorID: optional(creatorID),
	}
}

// OrderTarget builds the target for the single-order actions (order:get,
// order:delete).
func OrderTarget(projectID string, creatorID *string) Target {
	return Target{
		keyOrderProjectID: projectID,
		keyOrderCreatorID: optional(creatorID),
	}
}

// optional turns a nullable column into the target's nil-or-string value.
func optional(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// onACL reports whether the caller is one of the ACL's users. A caller without
// a user id is never on an ACL (Barbican compares None against user ids).
func onACL(callerUserID string, aclUsers []string) bool {
	if callerUserID == "" {
		return false
	}
	for _, u := range aclUsers {
		if u == callerUserID {
			return true
		}
	}
	return false
}
