// Command keymanager is a Barbican-compatible key manager: the API server, its management commands and the
// Kubernetes operator that runs it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keymanager-io/keymanager/cmd/manage"
	"github.com/keymanager-io/keymanager/cmd/operator"
	"github.com/keymanager-io/keymanager/cmd/serve"
	"github.com/keymanager-io/keymanager/server"
)

func main() {
	root := &cobra.Command{
		Use:   "keymanager",
		Short: "A Barbican-compatible key manager",
		Long: `keymanager serves the OpenStack Key Manager (Barbican) v1 API: the barbican and openstack CLIs,
castellan and gophercloud work against it unchanged, and it reads and writes Barbican's database schema
and simple_crypto format, so it can take over an existing Barbican deployment.

Start with 'keymanager serve --help'; on Kubernetes, 'keymanager operator --help'.`,
		Version:       server.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	serve.AddCommandTo(root)
	manage.AddCommandTo(root)
	operator.AddCommandTo(root)
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		os.Exit(1)
	}
}
