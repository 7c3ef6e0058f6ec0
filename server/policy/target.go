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

const keyEnforceNewDefaults = "enforce_new_defaults"

// Kind is the entity kind of a target: the middle word of its keys, as Barbican's controllers name them
// (target.<kind>.project_id, spec §5.2).
type Kind string

// The entity kinds Barbican's rules refer to.
const (
	KindSecret    Kind = "secret"
	KindContainer Kind = "container"
	KindOrder     Kind = "order"
)

// kindKeys are a kind's flattened keys, built once.
type kindKeys struct{ projectID, creatorID, read, readProjectAccess string }

var keysOf = map[Kind]kindKeys{}

func init() {
	for _, k := range []Kind{KindSecret, KindContainer, KindOrder} {
		p := "target." + string(k) + "."
		keysOf[k] = kindKeys{projectID: p + "project_id", creatorID: p + "creator_id", read: p + "read",
			readProjectAccess: p + "read_project_access"}
	}
}

// aclReadOperation is the value Barbican puts under target.<kind>.read when
// the caller is on the entity's read ACL (the ACL operation name itself).
const aclReadOperation = "read"

// Entity is what a target says about one entity: the one builder of every target kind.
type Entity struct {
	Kind Kind
	// ProjectID is the owning project's Keystone id.
	ProjectID string
	// CreatorID is nil for entities created without a user id.
	CreatorID *string
	// Reader, when not nil, adds the 'read' ACL keys: the single-entity actions of secrets and containers
	// (secret:*, secret_meta:*, secret_consumers:*, container:*, container_secret:*, container_consumers:*,
	// consumer:get) carry them; the ACL actions and the order actions do not (spec §5.2).
	Reader *Reader
}

// Reader is an entity's 'read' ACL as one caller meets it.
type Reader struct {
	// UserID is the caller's user id; a caller without one is never on an ACL (Barbican compares None against
	// user ids).
	UserID string
	// ACLUsers are the users of the entity's 'read' ACL.
	ACLUsers []string
	// ProjectAccess is the ACL's project_access flag; callers pass true for an entity without ACL rows, which
	// Barbican treats as readable by its project.
	ProjectAccess bool
}

// Target flattens e.
func (e Entity) Target() Target {
	keys := keysOf[e.Kind]
	t := make(Target, 4)
	t[keys.projectID] = e.ProjectID
	t[keys.creatorID] = optional(e.CreatorID)
	if e.Reader != nil {
		t[keys.readProjectAccess] = e.Reader.ProjectAccess
		if onACL(e.Reader.UserID, e.Reader.ACLUsers) {
			t[keys.read] = aclReadOperation
		}
	}
	return t
}

// optional turns a nullable column into the target's nil-or-string value.
func optional(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

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
