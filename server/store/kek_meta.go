package store

import (
	"context"
	"fmt"
)

// KEKMeta is a bound kek_data row's plugin_meta, for the tools that read every project KEK of a plugin (the
// PKCS#11 label check at start, rewrap).
type KEKMeta struct {
	ID         string `gorm:"column:id"`
	PluginMeta string `gorm:"column:plugin_meta"`
}

// kekMetaPage is how many kek_data rows EachKEKMeta reads at once.
const kekMetaPage = 500

// EachKEKMeta calls fn with the id and plugin_meta of every bound kek_data row of a crypto plugin, soft-deleted
// ones included (their secrets may still be read), in id order, reading a page of rows at a time; an error from
// fn stops the walk.
func (db *DB) EachKEKMeta(ctx context.Context, pluginName string, fn func(KEKMeta) error) error {
	after := ""
	for {
		var rows []KEKMeta
		err := db.reader.WithContext(ctx).Model(&KEKDatum{}).Select("id", "plugin_meta").
			Where("plugin_name = ? AND id > ? AND plugin_meta IS NOT NULL AND plugin_meta <> ''", pluginName, after).
			Order("id").Limit(kekMetaPage).Find(&rows).Error
		if err != nil {
			return fmt.Errorf("list project KEKs of %s: %w", pluginName, classify(err))
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(rows) < kekMetaPage {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// ReplaceKEKMeta sets a kek_data row's plugin_meta to next if it still is prev, and reports whether it was:
// a rewrap that lost a race (another run, a server binding the row) changes nothing.
func (tx *Tx) ReplaceKEKMeta(id, prev, next string) (bool, error) {
	if err := tx.writing("replace project KEK metadata"); err != nil {
		return false, err
	}
	n, err := tx.exec("UPDATE kek_data SET plugin_meta = ?, updated_at = ? WHERE id = ? AND plugin_meta = ?",
		next, tx.stamp(tx.now), id, prev)
	if err != nil {
		return false, fmt.Errorf("replace project KEK metadata: %w", err)
	}
	return n == 1, nil
}
