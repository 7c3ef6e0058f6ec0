package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Sentinel errors callers branch on.
var (
	// ErrUnknownAction is returned by Enforce for an action Barbican does
	// not register; it is a programming error in the caller, not a denial.
	ErrUnknownAction = errors.New("unknown policy action")
	// ErrRuleCycle is wrapped by NewEnforcer when rules refer to each other
	// in a loop, which oslo.policy would only discover as a recursion error
	// at request time.
	ErrRuleCycle = errors.New("policy rules refer to each other in a cycle")
)

// Options selects the rule set and an optional policy file.
type Options struct {
	EnforceNewDefaults bool   // secure-RBAC rule set (admin/member/reader); default false = legacy rules
	PolicyFile         string // optional YAML (or JSON) file: action or rule name -> rule string, overrides by name
}

// Enforcer decides whether a caller may perform an action on a target. It is
// immutable after NewEnforcer and safe for concurrent use.
type Enforcer struct {
	newDefaults bool
	// rules holds every named rule (base rules, actions and file-only
	// names) after overrides; actions holds the registered actions only.
	rules   map[string]*node
	actions map[string]*node
	sources map[string]string
	names   []string
}

// NewEnforcer parses Barbican's default rules and the policy file, if any,
// once. Errors name the file, the rule and the position within it.
func NewEnforcer(opts Options) (*Enforcer, error) {
	var file map[string]fileRule
	if opts.PolicyFile != "" {
		var err error
		if file, err = loadPolicyFile(opts.PolicyFile); err != nil {
			return nil, err
		}
	}
	e := &Enforcer{
		newDefaults: opts.EnforceNewDefaults,
		rules:       make(map[string]*node, len(baseRules)+len(actionDefaults)+len(file)),
		actions:     make(map[string]*node, len(actionDefaults)),
		sources:     make(map[string]string, len(baseRules)+len(actionDefaults)+len(file)),
	}
	for name, src := range baseRules {
		if err := e.addDefault(name, src); err != nil {
			return nil, err
		}
	}
	for _, a := range actionDefaults {
		if err := e.addAction(a); err != nil {
			return nil, err
		}
	}
	// File entries replace defaults by name. For an action this drops the
	// OR with the deprecated rule, as oslo.policy does for overridden rules.
	for name, fr := range file {
		e.rules[name] = fr.root
		e.sources[name] = fr.source
		if _, ok := e.actions[name]; ok {
			e.actions[name] = fr.root
		}
	}
	for _, root := range e.rules {
		e.link(root)
	}
	if err := e.checkCycles(); err != nil {
		if opts.PolicyFile != "" {
			return nil, fmt.Errorf("%w %q: %w", ErrPolicyFile, opts.PolicyFile, err)
		}
		return nil, err
	}
	for name := range e.actions {
		e.names = append(e.names, name)
	}
	slices.Sort(e.names)
	return e, nil
}

// addDefault parses one built-in base rule.
func (e *Enforcer) addDefault(name, src string) error {
	root, err := parseRule(src)
	if err != nil {
		return fmt.Errorf("default rule %q: %w", name, err)
	}
	e.rules[name], e.sources[name] = root, src
	return nil
}

// addAction registers one action with its effective default rule: the
// guarded secure-RBAC rule alone when new defaults are enforced, otherwise
// "new or legacy", in which the false guard leaves the legacy rule in charge.
func (e *Enforcer) addAction(a actionDefault) error {
	newSrc := a.guardedNewRule()
	newRoot, err := parseRule(newSrc)
	if err != nil {
		return fmt.Errorf("default rule %q: %w", a.name, err)
	}
	root, src := newRoot, newSrc
	if !e.newDefaults {
		legacyRoot, err := parseRule(a.legacyRule)
		if err != nil {
			return fmt.Errorf("deprecated default rule %q: %w", a.name, err)
		}
		root = &node{kind: nodeOr, children: []*node{newRoot, legacyRoot}}
		src = "(" + newSrc + ") or (" + a.legacyRule + ")"
	}
	name := string(a.name)
	e.rules[name], e.sources[name], e.actions[name] = root, src, root
	return nil
}

// link resolves every rule:NAME below n to the named rule's root. Names that
// are not defined stay nil and evaluate to false, as in oslo.policy.
func (e *Enforcer) link(n *node) {
	if n.kind == nodeRule {
		n.ref = e.rules[n.ruleName]
		return
	}
	for _, ch := range n.children {
		e.link(ch)
	}
}

// checkCycles fails when following rule references from any rule can lead
// back to it.
func (e *Enforcer) checkCycles() error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(e.rules))
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case visiting:
			start := slices.Index(path, name)
			return fmt.Errorf("%w: %s", ErrRuleCycle, strings.Join(append(path[start:], name), " -> "))
		case done:
			return nil
		}
		state[name] = visiting
		path = append(path, name)
		for _, ref := range references(e.rules[name], nil) {
			if _, ok := e.rules[ref]; !ok {
				continue
			}
			if err := visit(ref); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	names := make([]string, 0, len(e.rules))
	for name := range e.rules {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := visit(name); err != nil {
			return err
		}
	}
	return nil
}

// references appends the rule names that n refers to directly.
func references(n *node, acc []string) []string {
	if n.kind == nodeRule {
		return append(acc, n.ruleName)
	}
	for _, ch := range n.children {
		acc = references(ch, acc)
	}
	return acc
}

// Enforce reports whether creds may perform action on target. The error is
// non-nil only for an action that is not registered (ErrUnknownAction);
// names that a policy file defines but Barbican does not register are rules,
// not actions. target may be nil for collection actions.
func (e *Enforcer) Enforce(action Action, creds Credentials, target Target) (bool, error) {
	root, ok := e.actions[string(action)]
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrUnknownAction, action)
	}
	c := evalCtx{creds: &creds, target: target, newDefaults: e.newDefaults}
	return root.eval(&c), nil
}

// Actions returns the registered action names, sorted.
func (e *Enforcer) Actions() []string {
	return slices.Clone(e.names)
}

// RuleString returns the effective rule text of a named rule or action, as
// configured (defaults, the new-or-legacy combination, or the file's text),
// for documentation and diagnostics.
func (e *Enforcer) RuleString(name string) (string, bool) {
	s, ok := e.sources[name]
	return s, ok
}
