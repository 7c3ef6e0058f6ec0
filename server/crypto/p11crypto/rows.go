package p11crypto

import (
	"context"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/server/store"
)

// EachWrapped calls fn with every p11_crypto kek_data row and its decoded plugin_meta (or the decoding error),
// in id order; an error from fn stops the walk.
func EachWrapped(ctx context.Context, db *store.DB, fn func(row store.KEKMeta, w hsm.WrappedKey, err error) error) error {
	return db.EachKEKMeta(ctx, ClassPath, func(r store.KEKMeta) error {
		w, err := decodePluginMeta(r.PluginMeta)
		return fn(r, w, err)
	})
}
