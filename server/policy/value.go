package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Python's str() of the constants that policy rules compare against.
const (
	pyNone  = "None"
	pyTrue  = "True"
	pyFalse = "False"
)

// pyBool renders a bool as Python's str() does.
func pyBool(b bool) string {
	if b {
		return pyTrue
	}
	return pyFalse
}

// pyOptional renders an optional credential string: oslo.context sends None
// for an attribute that is not set, and Credentials uses "" for that.
func pyOptional(s string) string {
	if s == "" {
		return pyNone
	}
	return s
}

// pyStr renders a target value as Python's str() would. The common cases
// (string, bool, nil) return without allocating.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return pyNone
	case string:
		return x
	case bool:
		return pyBool(x)
	case *string:
		if x == nil {
			return pyNone
		}
		return *x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case float64:
		return pyFloat(x)
	case float32:
		return pyFloat(float64(x))
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// pyFloat renders a float as Python's repr/str: the shortest round-tripping
// digits, positional between 1e-4 and 1e16 with at least one decimal, and
// scientific with a two-digit exponent otherwise.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-4 || abs >= 1e16) {
		// Go's 'e' format already uses a signed, at least two-digit
		// exponent, as Python does.
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}
