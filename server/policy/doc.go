// Package policy evaluates OpenStack oslo.policy rules for the Barbican API.
//
// The evaluator is hand-written on purpose: no maintained Go implementation of
// the oslo.policy rule language is available to this project, and the subset
// Barbican needs is small. It reproduces oslo.policy's semantics:
//
//   - "and", "or", "not" (case-insensitive keywords; not > and > or) and
//     parentheses; "@" is always true, "!" is never true and an empty rule is
//     always true;
//   - "rule:NAME" evaluates another named rule; an undefined name is false;
//   - "role:NAME" is true when NAME is one of the caller's roles, compared
//     case-insensitively;
//   - any other "left:right" is a generic check: right is interpolated from the
//     target with %(key)s, and compared as a string with either a Python literal
//     on the left (True, 'read', "x", 42, None) or a credential attribute
//     (project_id, user_id, roles, ...). Values are stringified as Python's
//     str() would (true -> "True", nil -> "None"). A %(key)s reference to a key
//     absent from the target makes the check false;
//   - "http:" and "https:" checks (remote policy servers) are always false.
//
// Unlike oslo.policy, which logs an unparsable rule and treats it as "never",
// a rule that does not parse is an error at construction time, naming the
// file, the rule and the byte position, so a broken policy file is noticed at
// start-up rather than as a wall of 403s. Rule-reference cycles are also
// rejected at construction instead of recursing at request time.
//
// Barbican registers, for every action, a secure-RBAC rule guarded by
// "True:%(enforce_new_defaults)s" and a deprecated legacy rule. Like
// oslo.policy with enforce_new_defaults=False, the effective rule of an action
// that no policy file overrides is "new or legacy", so the legacy rule governs;
// with Options.EnforceNewDefaults only the new rule applies. A policy file
// entry for an action replaces that action's effective rule entirely.
//
// All rules are parsed once by NewEnforcer into a tree whose rule references
// are resolved to pointers, so Enforce neither parses nor looks rules up by
// name, and does not allocate for the default rule set.
package policy
