package rewrapsummary

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "termination-log")
	// A previous, longer content is replaced, not overwritten in part.
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 300)), 0o644); err != nil {
		t.Fatal(err)
	}
	want := Summary{Total: 7, Rewrapped: 5, Failed: 2, Remaining: 2}
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"total":7,"rewrapped":5,"failed":2,"remaining":2}`+"\n" {
		t.Errorf("written %q", b)
	}
	got, err := Parse(string(b))
	if err != nil || got != want {
		t.Errorf("Parse = %+v, %v; want %+v", got, err, want)
	}
}

func TestParseRejects(t *testing.T) {
	for _, text := range []string{
		"",
		"Error: connection refused",
		`{"total":1,"rewrapped":1,"failed":0}`,
		`{"total":1,"rewrapped":1,"failed":0,"remaining":0,"key":"x"}`,
		`{"total":-1,"rewrapped":0,"failed":0,"remaining":0}`,
		`{"total":1,"rewrapped":1,"failed":0,"remaining":0} {}`,
		`{"total":1,"rewrapped":1,"failed":0,"remaining":0` + strings.Repeat(" ", MaxSize) + `}`,
		`{"total":"1","rewrapped":1,"failed":0,"remaining":0}`,
		`[1,2,3,4]`,
	} {
		if s, err := Parse(text); err == nil {
			t.Errorf("Parse(%.60q) = %+v, want an error", text, s)
		}
	}
}
