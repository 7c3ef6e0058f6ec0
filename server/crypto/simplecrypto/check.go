package simplecrypto

import (
	"context"
	"fmt"

	"github.com/fernet/fernet-go"

	"github.com/keymanager-io/keymanager/server/crypto"
)

var _ crypto.KEKChecker = (*Plugin)(nil)

// CheckKEK implements crypto.KEKChecker: it unwraps the row's plugin_meta with the configured master KEKs,
// bypassing the cache (a cached pKEK proves nothing about the keys configured now), and forgets the result.
func (p *Plugin) CheckKEK(_ context.Context, kek crypto.KEK) error {
	if kek.PluginMeta == "" {
		return fmt.Errorf("simple_crypto KEK %s: %w", kek.Label, crypto.ErrKEKNotBound)
	}
	var pkek fernet.Key
	defer clear(pkek[:])
	if err := p.unwrapUncached(kek.PluginMeta, &pkek); err != nil {
		return fmt.Errorf("simple_crypto KEK %s: %w", kek.Label, err)
	}
	return nil
}
