package manage

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/spf13/cobra"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/store"
)

// TestDBUpgradeFromBarbicanConf runs `manage db upgrade --barbican-conf FILE`: the database comes from the
// file's [database] connection, as barbican-manage reads it.
func TestDBUpgradeFromBarbicanConf(t *testing.T) {
	for name, dbURL := range map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return "sqlite:///" + filepath.Join(t.TempDir(), "barbican.sqlite") },
		"mysql":  func(t *testing.T) string { return testbed.NewMySQLDatabase(t) },
	} {
		t.Run(name, func(t *testing.T) {
			url := dbURL(t)
			conf := filepath.Join(t.TempDir(), "barbican.conf")
			if err := os.WriteFile(conf, []byte("[database]\nconnection = "+url+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, sub := range []string{"upgrade", "current"} {
				root := &cobra.Command{Use: "keymanager"}
				AddCommandTo(root)
				var out bytes.Buffer
				root.SetOut(&out)
				root.SetArgs([]string{"manage", "db", sub, "--barbican-conf", conf})
				if err := root.Execute(); err != nil {
					t.Fatalf("manage db %s: %v", sub, err)
				}
				want := "8c74e2d7f1ff (barbican alembic head), keymanager schema " +
					strconv.Itoa(store.LatestKeymanagerVersion) + ", " + name + "\n"
				if out.String() != want {
					t.Fatalf("manage db %s printed %q, want %q", sub, out.String(), want)
				}
			}
		})
	}
}
