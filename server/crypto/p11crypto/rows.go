package p11crypto

import (
	"context"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/server/store"
)

// pageSize is how many kek_data rows EachWrapped reads at once.
const pageSize = 500

// EachWrapped calls fn with every p11_crypto kek_data row and its decoded plugin_meta (or the decoding error),
// in id order, a page at a time; an error from fn stops the walk.
func EachWrapped(ctx context.Context, db *store.DB, fn func(row store.KEKMeta, w hsm.WrappedKey, err error) error) error {
	after := ""
	for {
		rows, err := db.KEKMetas(ctx, ClassPath, after, pageSize)
		if err != nil {
			return err
		}
		for _, r := range rows {
			w, derr := decodePluginMeta(r.PluginMeta)
			if err := fn(r, w, derr); err != nil {
				return err
			}
		}
		if len(rows) < pageSize {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}
