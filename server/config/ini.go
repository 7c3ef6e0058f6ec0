package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// iniFile is a configuration file as oslo.config's iniparser reads it: sections of options, each option with
// every value it was given in file order (a MultiStrOpt uses them all, a single-valued option the last).
type iniFile struct {
	sections map[string]map[string][]string
	order    []string // section names in file order
}

// errINI is the parse error; messages give the line number and the kind of mistake, never the line, which may
// hold a password or a key.
var errINI = errors.New("malformed configuration file")

// parseINI follows oslo_config.iniparser.BaseParser: "[section]" lines; "key = value" or "key: value" (whichever
// separator comes first); values stripped, with one pair of matching surrounding quotes removed; lines starting
// with whitespace continue the previous value (joined by newlines) until a blank line; lines starting with '#'
// or ';' are comments, and nothing is an inline comment. Section names are normalised like oslo's groups:
// lower-cased, except DEFAULT.
func parseINI(r io.Reader) (*iniFile, error) {
	f := &iniFile{sections: map[string]map[string][]string{}}
	var section, key string
	var value []string
	flush := func() {
		if key != "" {
			f.sections[section][key] = append(f.sections[section][key], strings.Join(value, "\n"))
		}
		key, value = "", nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r\n\v\f")
		switch {
		case line == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if key == "" {
				return nil, fmt.Errorf("%w: line %d continues a value but follows no option", errINI, n)
			}
			value = append(value, strings.TrimLeft(line, " \t"))
		case line[0] == '[':
			flush()
			if !strings.HasSuffix(line, "]") || len(line) <= 2 {
				return nil, fmt.Errorf("%w: line %d: a section header must be [name]", errINI, n)
			}
			section = line[1 : len(line)-1]
			if section != "DEFAULT" {
				section = strings.ToLower(section)
			}
			if _, ok := f.sections[section]; !ok {
				f.sections[section] = map[string][]string{}
				f.order = append(f.order, section)
			}
		case line[0] == '#' || line[0] == ';':
			flush()
		default:
			flush()
			if section == "" {
				return nil, fmt.Errorf("%w: line %d sets an option before any [section]", errINI, n)
			}
			eq, colon := strings.IndexByte(line, '='), strings.IndexByte(line, ':')
			sep := eq
			if eq < 0 || (colon >= 0 && colon < eq) {
				sep = colon
			}
			if sep < 0 {
				return nil, fmt.Errorf("%w: line %d is neither a section, an option nor a comment", errINI, n)
			}
			key = strings.TrimSpace(line[:sep])
			if key == "" {
				return nil, fmt.Errorf("%w: line %d has an empty option name", errINI, n)
			}
			v := strings.TrimSpace(line[sep+1:])
			if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
				v = v[1 : len(v)-1]
			}
			value = []string{v}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	flush()
	return f, nil
}

// values returns every value of section/key in file order (nil when unset).
func (f *iniFile) values(section, key string) []string { return f.sections[section][key] }

// last returns the value a single-valued option takes: the last one given.
func (f *iniFile) last(section, key string) (string, bool) {
	v := f.values(section, key)
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}
