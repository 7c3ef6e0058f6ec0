package store

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	cases := map[string]struct {
		url, dialect, path, addr, db string
	}{
		"a sqlite url with three slashes is an absolute path": {"sqlite:///var/lib/km.db", "sqlite", "/var/lib/km.db", "", ""},
		"a sqlite url with four slashes (barbican.conf) too":  {"sqlite:////var/lib/km.db", "sqlite", "/var/lib/km.db", "", ""},
		"sqlite in memory":                         {"sqlite:///:memory:", "sqlite", ":memory:", "", ""},
		"a bare path is a sqlite file":             {"/tmp/x.db", "sqlite", "/tmp/x.db", "", ""},
		"a mysql url":                              {"mysql://u:p@db:3307/barbican", "mysql", "", "db:3307", "barbican"},
		"barbican's pymysql url with default port": {"mysql+pymysql://u:p@db/barbican?charset=utf8", "mysql", "", "db:3306", "barbican"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := parseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if got.dialect != tc.dialect || got.path != tc.path {
				t.Errorf("got %s %q", got.dialect, got.path)
			}
			if got.mysql != nil && (got.mysql.Addr != tc.addr || got.mysql.DBName != tc.db) {
				t.Errorf("got addr %q db %q", got.mysql.Addr, got.mysql.DBName)
			}
			if strings.Contains(got.redacted, ":p@") {
				t.Errorf("redacted url should hide the password: %s", got.redacted)
			}
		})
	}
	for _, bad := range []string{"", "postgres://x/y", "mysql://u:secretpw@h/"} {
		if _, err := parseURL(bad); err == nil || strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%q should fail without echoing the password, got %v", bad, err)
		}
	}
}
