package server

import (
	"log/slog"

	"github.com/keymanager-io/keymanager/server/config"
)

// warnExposedNoAuth repeats at every start what --insecure-noauth-any-address accepted, so the choice stays
// visible in the logs of a deployment that made it once and forgot.
func warnExposedNoAuth(cfg config.Config, log *slog.Logger) {
	if cfg.ListenIsLoopback() {
		return
	}
	log.Warn("serving no-auth on a non-loopback address (--insecure-noauth-any-address): every client that "+
		"reaches it acts as the project and roles it names in headers, and as admin without X-Roles; "+
		"keep it on a trusted network", slog.String("listen", cfg.Listen))
}
