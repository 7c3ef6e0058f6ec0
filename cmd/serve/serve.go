// Package serve is the `keymanager serve` command.
package serve

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/keymanager-io/keymanager/server"
	"github.com/keymanager-io/keymanager/server/config"
)

// AddCommandTo adds `serve` to parent.
func AddCommandTo(parent *cobra.Command) {
	cfg := config.Default()
	cmd := &cobra.Command{ //nolint:gosec // the examples show placeholder URLs, not credentials
		Use:   "serve",
		Short: "Run the Barbican-compatible key manager API server",
		Long: `Run the Barbican v1 API server.

With no flags it stores secrets in a SQLite database under --data-dir, encrypts them with the simple_crypto
plugin under a KEK generated into <data-dir>/kek (mode 0600) on first start, trusts the no-auth headers
X-Project-Id / X-Roles / X-User-Id, and listens on 127.0.0.1:9311:

  keymanager serve
  barbican --no-auth --endpoint http://127.0.0.1:9311 --os-project-id demo secret store --payload s3cr3t

No-auth makes every client that reaches the server the project it names, and admin without X-Roles, so the
server refuses a --listen address other than loopback: put an authenticating proxy in front of 127.0.0.1, or,
on a trusted network only, pass --insecure-noauth-any-address (it then warns at every start).

Behind Keystone (--auth keystone), X-Auth-Token is validated against Keystone's v3 API with a service user
(--keystone-auth-url, --keystone-username, --keystone-project-name, and the password in
--keystone-password-file or KEYMANAGER_KEYSTONE_PASSWORD); validated tokens are cached for
--keystone-token-cache-time (never past their expiry) and a Keystone that cannot be reached makes the API
answer 503. --auth token-file serves small installations with static tokens (--token-file). See
docs/keystone.md.

Taking over a Barbican deployment, --barbican-conf reads its barbican.conf: the database URL, the
[simple_crypto_plugin] kek lines, host_href, the size and paging limits, and [keystone_authtoken] (which
selects --auth keystone). Against a database that already
holds secrets the server checks that the KEKs unwrap them and never generates a KEK, and it changes the
schema of neither (unless it is SQLite or empty) without --db-auto-migrate=true or 'manage db upgrade'.

Every flag can also be set by an environment variable: --db-url is KEYMANAGER_DB_URL, and so on. Precedence:
defaults < barbican.conf < environment < command line. KEYMANAGER_KEK may hold the KEKs (comma or newline
separated, active first) instead of a file.`,
		Example: `  keymanager manage db upgrade --barbican-conf /etc/barbican/barbican.conf && keymanager serve --barbican-conf /etc/barbican/barbican.conf
  KEYMANAGER_DB_URL=mysql://barbican:PASSWORD@db:3306/barbican keymanager serve --host-href https://kms.example.com
  keymanager serve --listen 10.0.0.5:9311 --insecure-noauth-any-address   # trusted network only
  KEYMANAGER_KEYSTONE_PASSWORD=... keymanager serve --auth keystone --listen :9311 --keystone-auth-url http://keystone:5000/v3 --keystone-username barbican --keystone-project-name service`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Resolve(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			return cfg.Validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := server.NewLogger(cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.New(ctx, cfg, log)
			if err != nil {
				return err
			}
			return srv.Serve(ctx)
		},
	}
	cfg.AddFlags(cmd.Flags())
	parent.AddCommand(cmd)
}
