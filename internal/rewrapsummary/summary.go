// Package rewrapsummary is the one-line JSON a rewrap command leaves for the operator: counts only, never a
// key, a label of a key being unwrapped, or a row id. `manage hsm rewrap-pkek` and `manage simple-crypto
// rewrap` write it with --summary-file (a Job sets /dev/termination-log, which the kubelet copies into the
// pod's status), and the KeyRotation controller parses it from there into the rotation's counts.
package rewrapsummary

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// MaxSize bounds what Parse accepts: a summary is well under 200 bytes, and the kubelet keeps at most 4096
// bytes of a termination message, so anything larger is not one.
const MaxSize = 1024

// Summary is what one run of a rewrap command did.
type Summary struct {
	// Total is how many project KEKs were not under the active key when the run started.
	Total int64 `json:"total"`
	// Rewrapped is how many it moved under the active key (with --dry-run or --verify: how many it checked
	// and would move).
	Rewrapped int64 `json:"rewrapped"`
	// Failed is how many could not be unwrapped, rewrapped or written.
	Failed int64 `json:"failed"`
	// Remaining is how many were still not under the active key when the run ended, counted again.
	Remaining int64 `json:"remaining"`
}

// Write replaces the content of path with s as one line of JSON. The file is written in place, not
// replaced by a rename, because /dev/termination-log is a bind mount the process may write but not replace.
func Write(path string, s Summary) error {
	line, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding the rewrap summary: %w", err)
	}
	if err := os.WriteFile(path, append(line, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the rewrap summary: %w", err)
	}
	return nil
}

// Parse reads a summary written by Write. Anything else — empty, truncated, another program's message,
// negative counts, unknown fields — is an error, so a caller never records counts it cannot trust.
func Parse(text string) (Summary, error) {
	if len(text) > MaxSize {
		return Summary{}, errors.New("not a rewrap summary: too long")
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimSpace([]byte(text))))
	dec.DisallowUnknownFields()
	var s struct {
		Total     *int64 `json:"total"`
		Rewrapped *int64 `json:"rewrapped"`
		Failed    *int64 `json:"failed"`
		Remaining *int64 `json:"remaining"`
	}
	if err := dec.Decode(&s); err != nil {
		return Summary{}, fmt.Errorf("not a rewrap summary: %w", err)
	}
	if dec.More() {
		return Summary{}, errors.New("not a rewrap summary: more than one value")
	}
	if s.Total == nil || s.Rewrapped == nil || s.Failed == nil || s.Remaining == nil {
		return Summary{}, errors.New("not a rewrap summary: a count is missing")
	}
	out := Summary{Total: *s.Total, Rewrapped: *s.Rewrapped, Failed: *s.Failed, Remaining: *s.Remaining}
	if out.Total < 0 || out.Rewrapped < 0 || out.Failed < 0 || out.Remaining < 0 {
		return Summary{}, errors.New("not a rewrap summary: a count is negative")
	}
	return out, nil
}
