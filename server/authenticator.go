package server

import (
	"fmt"
	"log/slog"

	"github.com/keymanager-io/keymanager/server/auth"
	"github.com/keymanager-io/keymanager/server/config"
)

// newAuthenticator builds what --auth selects.
func newAuthenticator(cfg config.Config, log *slog.Logger) (auth.Authenticator, error) {
	switch cfg.Auth.Mode {
	case config.AuthNoAuth, "":
		warnExposedNoAuth(cfg, log)
		return auth.NoAuth{AdminRole: cfg.AdminRole}, nil
	case config.AuthKeystone:
		k := cfg.Auth.Keystone
		ks, err := auth.NewKeystone(auth.KeystoneConfig{
			AuthURL:            k.AuthURL,
			WWWAuthenticateURI: k.WWWAuthenticateURI,
			Username:           k.Username,
			Password:           string(k.Password),
			UserDomainName:     k.UserDomainName,
			ProjectName:        k.ProjectName,
			ProjectDomainName:  k.ProjectDomainName,
			UserDomainID:       k.UserDomainID,
			ProjectDomainID:    k.ProjectDomainID,
			CacheTime:          k.CacheTime,
			CacheSize:          k.CacheSize,
			Timeout:            k.Timeout,
			AdminRole:          cfg.AdminRole,
			Logger:             log,
		})
		if err != nil {
			return nil, err
		}
		log.Info("validating tokens with Keystone", slog.String("keystone", k.AuthURL),
			slog.String("service_user", k.Username), slog.Duration("token_cache_time", k.CacheTime))
		return ks, nil
	case config.AuthTokenFile:
		f, err := auth.NewTokenFile(auth.TokenFileConfig{Path: cfg.Auth.TokenFile, AdminRole: cfg.AdminRole, Logger: log})
		if err != nil {
			return nil, err
		}
		log.Info("authenticating with static tokens", slog.String("token_file", cfg.Auth.TokenFile),
			slog.Int("tokens", f.Len()))
		return f, nil
	}
	return nil, fmt.Errorf("--auth %q: want noauth, keystone or token-file", cfg.Auth.Mode)
}
