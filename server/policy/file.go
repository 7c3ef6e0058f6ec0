package policy

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// ErrPolicyFile is wrapped by every error about the content of a policy file
// (as opposed to failing to read it).
var ErrPolicyFile = errors.New("invalid policy file")

// fileRule is one parsed entry of a policy file.
type fileRule struct {
	root   *node
	source string
}

// loadPolicyFile reads and parses a policy file: a YAML or JSON mapping from
// rule or action name to a rule string. The old list-of-lists form
// ([["role:a", "role:b"], ["role:c"]] meaning (a and b) or c) is accepted too,
// because JSON policy files from older deployments still use it.
func loadPolicyFile(path string) (map[string]fileRule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy file: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w %q: not a mapping of rule names to rules: %w", ErrPolicyFile, path, err)
	}
	// Sorted so that the first error reported is the same on every start.
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names)
	rules := make(map[string]fileRule, len(raw))
	for _, name := range names {
		fr, err := parseFileRule(raw[name])
		if err != nil {
			return nil, fmt.Errorf("%w %q: rule %q: %w", ErrPolicyFile, path, name, err)
		}
		rules[name] = fr
	}
	return rules, nil
}

// parseFileRule parses one value of a policy file.
func parseFileRule(v any) (fileRule, error) {
	switch x := v.(type) {
	case string:
		root, err := parseRule(x)
		if err != nil {
			return fileRule{}, err
		}
		return fileRule{root: root, source: x}, nil
	case []any:
		return parseListRule(x)
	case nil:
		return fileRule{}, errors.New("empty value (use \"\" to allow everyone or \"!\" to allow no one)")
	default:
		return fileRule{}, fmt.Errorf("value must be a rule string, not %T", v)
	}
}

// parseListRule parses the legacy list-of-lists syntax the way oslo.policy
// does: an empty list always passes; each inner entry (a check or a list of
// checks, and-ed) is or-ed; empty inner lists are skipped, and if nothing is
// left the rule never passes. Entries are single checks, not expressions.
func parseListRule(list []any) (fileRule, error) {
	if len(list) == 0 {
		return fileRule{root: &node{kind: nodeTrue}, source: ""}, nil
	}
	var ors []*node
	var texts []string
	for i, inner := range list {
		var checks []any
		switch x := inner.(type) {
		case string:
			checks = []any{x}
		case []any:
			checks = x
		default:
			return fileRule{}, fmt.Errorf("list entry %d must be a check or a list of checks, not %T", i, inner)
		}
		if len(checks) == 0 {
			continue
		}
		var ands []*node
		var andTexts []string
		for j, c := range checks {
			s, ok := c.(string)
			if !ok {
				return fileRule{}, fmt.Errorf("list entry %d.%d must be a check string, not %T", i, j, c)
			}
			n, err := parseCheck(s, 0)
			if err != nil {
				return fileRule{}, fmt.Errorf("list entry %d.%d: %w", i, j, err)
			}
			ands = append(ands, n)
			andTexts = append(andTexts, s)
		}
		if len(ands) == 1 {
			ors = append(ors, ands[0])
		} else {
			ors = append(ors, &node{kind: nodeAnd, children: ands})
		}
		texts = append(texts, "("+strings.Join(andTexts, " and ")+")")
	}
	switch len(ors) {
	case 0:
		return fileRule{root: &node{kind: nodeFalse}, source: "!"}, nil
	case 1:
		return fileRule{root: ors[0], source: texts[0]}, nil
	}
	return fileRule{root: &node{kind: nodeOr, children: slices.Clip(ors)}, source: strings.Join(texts, " or ")}, nil
}
