package testbed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordingTB captures how Require ended a test instead of ending the real one.
type recordingTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func (r *recordingTB) Skipf(format string, args ...any) { r.skip = fmt.Sprintf(format, args...) }

func TestRequire(t *testing.T) {
	cases := map[string]struct {
		ci        string
		err       error
		wantFatal bool
		wantSkip  bool
	}{
		"a usable component lets the test go on under CI":     {ci: "true"},
		"a usable component lets the test go on locally":      {ci: ""},
		"a missing component fails the test under CI":         {ci: "true", err: ErrNotConfigured, wantFatal: true},
		"a missing component skips the test locally":          {ci: "", err: ErrNotConfigured, wantSkip: true},
		"a CI value other than true counts as a local run":    {ci: "1", err: ErrNotConfigured, wantSkip: true},
		"the message names the component and the error cause": {ci: "true", err: errors.New("boom"), wantFatal: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			rec := &recordingTB{TB: t}
			Require(rec, "Widget", tc.err)
			if got := rec.fatal != ""; got != tc.wantFatal {
				t.Errorf("fatal = %q, want fatal: %v", rec.fatal, tc.wantFatal)
			}
			if got := rec.skip != ""; got != tc.wantSkip {
				t.Errorf("skip = %q, want skip: %v", rec.skip, tc.wantSkip)
			}
			msg := rec.fatal + rec.skip
			if tc.err != nil && (!strings.Contains(msg, "Widget") || !strings.Contains(msg, tc.err.Error())) {
				t.Errorf("message %q should name the component and the error", msg)
			}
		})
	}
}

func TestDBURLMissing(t *testing.T) {
	t.Setenv(EnvDBURL, "")
	t.Setenv("CI", "true")
	rec := &recordingTB{TB: t}
	DBURL(rec)
	if !strings.Contains(rec.fatal, EnvDBURL) {
		t.Errorf("an unset %s under CI should fail naming the variable, got %q", EnvDBURL, rec.fatal)
	}
}

func TestEnvtestAssetsChecksBinaries(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvEnvtestAssets, dir)
	t.Setenv("CI", "true")
	rec := &recordingTB{TB: t}
	EnvtestAssets(rec)
	if !strings.Contains(rec.fatal, "kube-apiserver") {
		t.Errorf("an assets dir without kube-apiserver should fail naming it, got %q", rec.fatal)
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rec = &recordingTB{TB: t}
	if got := EnvtestAssets(rec); got != dir || rec.fatal != "" {
		t.Errorf("EnvtestAssets() = %q (fatal %q), want %q", got, rec.fatal, dir)
	}
}

func TestDSN(t *testing.T) {
	cases := map[string]struct {
		url     string
		want    string
		wantErr bool
	}{
		"a full URL becomes a tcp DSN": {
			url:  "mysql://keymanager:keymanager@127.0.0.1:3306/keymanager_test",
			want: "keymanager:keymanager@tcp(127.0.0.1:3306)/keymanager_test",
		},
		"a URL without a port uses 3306": {
			url:  "mysql://u:p@db.example/x",
			want: "u:p@tcp(db.example:3306)/x",
		},
		"a URL without a database connects to none": {
			url:  "mysql://u:p@127.0.0.1:3307",
			want: "u:p@tcp(127.0.0.1:3307)/",
		},
		"an escaped password is unescaped": {
			url:  "mysql://u:p%40ss@127.0.0.1/x",
			want: "u:p@ss@tcp(127.0.0.1:3306)/x",
		},
		"query parameters become driver parameters": {
			url:  "mysql://u:p@127.0.0.1/x?parseTime=true",
			want: "u:p@tcp(127.0.0.1:3306)/x?parseTime=true",
		},
		"an IPv6 host is bracketed": {
			url:  "mysql://u:p@[::1]:3306/x",
			want: "u:p@tcp([::1]:3306)/x",
		},
		"another scheme is rejected":       {url: "postgres://u:p@127.0.0.1/x", wantErr: true},
		"a URL without a host is rejected": {url: "mysql:///x", wantErr: true},
		"an invalid parameter is rejected": {url: "mysql://u:p@127.0.0.1/x?parseTime=maybe", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := DSN(tc.url)
			if tc.wantErr {
				if !errors.Is(err, ErrBadURL) {
					t.Fatalf("DSN(%q) error = %v, want ErrBadURL", tc.url, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DSN(%q): %v", tc.url, err)
			}
			if got != tc.want {
				t.Errorf("DSN(%q) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
}

func TestDSNErrorHidesPassword(t *testing.T) {
	_, err := DSN("mysql://u:s3cret@127.0.0.1/x?parseTime=maybe")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("DSN error %v should exist and not contain the password", err)
	}
}
