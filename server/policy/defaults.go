package policy

// baseRules are Barbican's named helper rules (spec §5.3): the shared ones
// used by the secure-RBAC defaults and the legacy ones used by the deprecated
// rules. All are registered in both modes, as Barbican does, so a policy file
// may reference or redefine any of them.
var baseRules = map[string]string{ //nolint:gosec // policy rule text, not credentials
	"secret_project_match":     "project_id:%(target.secret.project_id)s",
	"secret_project_reader":    "role:reader and rule:secret_project_match",
	"secret_project_member":    "role:member and rule:secret_project_match",
	"secret_project_admin":     "role:admin and rule:secret_project_match",
	"secret_owner":             "user_id:%(target.secret.creator_id)s",
	"secret_is_not_private":    "True:%(target.secret.read_project_access)s",
	"secret_acl_read":          "'read':%(target.secret.read)s",
	"container_project_match":  "project_id:%(target.container.project_id)s",
	"container_project_member": "role:member and rule:container_project_match",
	"container_project_admin":  "role:admin and rule:container_project_match",
	"container_owner":          "user_id:%(target.container.creator_id)s",
	"container_is_not_private": "True:%(target.container.read_project_access)s",
	"container_acl_read":       "'read':%(target.container.read)s",
	"order_project_match":      "project_id:%(target.order.project_id)s",
	"order_project_member":     "role:member and rule:order_project_match",

	"audit":                           "role:audit",
	"observer":                        "role:observer",
	"creator":                         "role:creator",
	"admin":                           "role:admin",
	"service_admin":                   "role:key-manager:service-admin",
	"all_users":                       "rule:admin or rule:observer or rule:creator or rule:audit or rule:service_admin",
	"all_but_audit":                   "rule:admin or rule:observer or rule:creator",
	"admin_or_creator":                "rule:admin or rule:creator",
	"secret_creator_user":             "user_id:%(target.secret.creator_id)s",
	"secret_private_read":             "'False':%(target.secret.read_project_access)s",
	"secret_non_private_read":         "rule:all_users and rule:secret_project_match and not rule:secret_private_read",
	"secret_decrypt_non_private_read": "rule:all_but_audit and rule:secret_project_match and not rule:secret_private_read",
	"secret_project_creator":          "rule:creator and rule:secret_project_match and rule:secret_creator_user",
	"secret_project_creator_role":     "rule:creator and rule:secret_project_match",
	"container_private_read":          "'False':%(target.container.read_project_access)s",
	"container_creator_user":          "user_id:%(target.container.creator_id)s",
	"container_non_private_read":      "rule:all_users and rule:container_project_match and not rule:container_private_read",
	"container_project_creator":       "rule:creator and rule:container_project_match and rule:container_creator_user",
	"container_project_creator_role":  "rule:creator and rule:container_project_match",
}

// Building blocks of the secure-RBAC action rules (spec §5.4 abbreviations).
const (
	sADM = "rule:secret_project_admin"
	sOWN = "(rule:secret_project_member and rule:secret_owner)"
	sNP  = "(rule:secret_project_member and rule:secret_is_not_private)"
	sACL = "rule:secret_acl_read"
	cADM = "rule:container_project_admin"
	cOWN = "(rule:container_project_member and rule:container_owner)"
	cNP  = "(rule:container_project_member and rule:container_is_not_private)"
	cACL = "rule:container_acl_read"

	newSecretRead       = sADM + " or " + sOWN + " or " + sNP + " or " + sACL
	newSecretWrite      = sADM + " or " + sOWN + " or " + sNP
	newContainerRead    = cADM + " or " + cOWN + " or " + cNP + " or " + cACL
	newContainerWrite   = cADM + " or " + cOWN + " or " + cNP
	legacySecretRead    = "rule:secret_non_private_read or rule:secret_project_creator or rule:secret_project_admin or rule:secret_acl_read"
	legacySecretWrite   = "rule:secret_project_admin or rule:secret_project_creator or (rule:secret_project_creator_role and rule:secret_non_private_read)"
	legacyContainerRead = "rule:container_non_private_read or rule:container_project_creator or rule:container_project_admin or rule:container_acl_read"
	// Barbican writes container_secret:* without the parentheses; "and"
	// binds tighter than "or", so the meaning is the same.
	legacyContainerWrite = "rule:container_project_admin or rule:container_project_creator or (rule:container_project_creator_role and rule:container_non_private_read)"
)

// actionDefault is one registered action: its secure-RBAC rule (without the
// enforce_new_defaults guard, which newDefaultGuard adds) and the deprecated
// legacy rule that governs unless new defaults are enforced.
type actionDefault struct {
	name                Action
	newRule, legacyRule string
}

// newDefaultGuard is how Barbican makes every secure-RBAC rule false unless
// [oslo_policy] enforce_new_defaults is set.
const newDefaultGuard = "True:%(enforce_new_defaults)s and "

// actionDefaults is every policy action Barbican registers (spec §5.4).
var actionDefaults = []actionDefault{
	{ActionSecretsPost, "role:member", "rule:admin_or_creator"},
	{ActionSecretsGet, "role:member", "rule:all_but_audit"},
	{ActionSecretGet, "role:admin or " + newSecretRead, legacySecretRead},
	{ActionSecretDecrypt, newSecretRead, "rule:secret_decrypt_non_private_read or rule:secret_project_creator or rule:secret_project_admin or rule:secret_acl_read"},
	{ActionSecretPut, newSecretWrite, "rule:admin_or_creator and rule:secret_project_match"},
	{ActionSecretDelete, "role:admin or " + newSecretWrite, "rule:secret_project_admin or rule:secret_project_creator or (rule:secret_project_creator_role and not rule:secret_private_read)"},

	{ActionSecretMetaGet, newSecretRead, legacySecretRead},
	{ActionSecretMetaPost, newSecretWrite, legacySecretWrite},
	{ActionSecretMetaPut, newSecretWrite, legacySecretWrite},
	{ActionSecretMetaDelete, newSecretWrite, legacySecretWrite},

	{ActionSecretACLsGet, newSecretWrite, "rule:all_but_audit and rule:secret_project_match"},
	{ActionSecretACLsPutPatch, newSecretWrite, legacySecretWrite},
	{ActionSecretACLsDelete, newSecretWrite, legacySecretWrite},

	{ActionSecretConsumersGet, newSecretRead, legacySecretRead},
	{ActionSecretConsumersPost, newSecretRead, legacySecretRead},
	{ActionSecretConsumersDelete, newSecretRead, legacySecretRead},

	{ActionContainersPost, "role:member", "rule:admin_or_creator"},
	{ActionContainersGet, "role:member", "rule:all_but_audit"},
	{ActionContainerGet, newContainerRead, legacyContainerRead},
	{ActionContainerDelete, newContainerWrite, "rule:container_project_admin or rule:container_project_creator"},
	{ActionContainerSecretPost, newContainerWrite, legacyContainerWrite},
	{ActionContainerSecretDelete, newContainerWrite, legacyContainerWrite},

	{ActionContainerACLsGet, newContainerWrite, "rule:all_but_audit and rule:container_project_match"},
	{ActionContainerACLsPutPatch, newContainerWrite, legacyContainerWrite},
	{ActionContainerACLsDelete, newContainerWrite, legacyContainerWrite},

	{ActionContainerConsumersGet, newContainerRead, legacyContainerRead},
	{ActionContainerConsumersPost, newContainerRead, legacyContainerRead},
	{ActionContainerConsumersDelete, newContainerRead, legacyContainerRead},
	{ActionConsumerGet, "role:admin or " + cOWN + " or " + cNP + " or " + cACL, "rule:admin or rule:observer or rule:creator or rule:audit or " + legacyContainerRead},

	{ActionOrdersGet, "role:member", "rule:all_but_audit"},
	{ActionOrdersPost, "role:member", "rule:admin_or_creator"},
	{ActionOrdersPut, "role:member", "rule:admin_or_creator"},
	{ActionOrderGet, "rule:order_project_member", "rule:all_users and project_id:%(target.order.project_id)s"},
	{ActionOrderDelete, "rule:order_project_member", "rule:admin and project_id:%(target.order.project_id)s"},

	{ActionQuotasGet, "role:reader", "rule:all_users"},
	{ActionProjectQuotasGet, "role:admin", "rule:service_admin"},
	{ActionProjectQuotasPut, "role:admin", "rule:service_admin"},
	{ActionProjectQuotasDelete, "role:admin", "rule:service_admin"},

	{ActionSecretStoresGet, "role:reader", "rule:all_users"},
	{ActionSecretStoresGetGlobalDefault, "role:reader", "rule:all_users"},
	{ActionSecretStoresGetPreferred, "role:reader", "rule:all_users"},
	{ActionSecretStoreGet, "role:reader", "rule:all_users"},
	{ActionSecretStorePreferredPost, "role:admin", "rule:admin"},
	{ActionSecretStorePreferredDelete, "role:admin", "rule:admin"},

	{ActionTransportKeyGet, "role:reader", "rule:all_users"},
	{ActionTransportKeyDelete, "role:admin", "rule:service_admin"},
	{ActionTransportKeysGet, "role:reader", "rule:all_users"},
	{ActionTransportKeysPost, "role:admin", "rule:service_admin"},
}

// guardedNewRule is the secure-RBAC rule as Barbican registers it.
func (a actionDefault) guardedNewRule() string {
	return newDefaultGuard + "(" + a.newRule + ")"
}
