package store

import (
	"context"
	"fmt"
)

// PluginKEKs summarises the kek_data rows (project KEKs) of one crypto plugin.
type PluginKEKs struct {
	PluginName string
	// Total counts every row, soft-deleted ones included: any of them means a master key was in use.
	Total int64
	// Live counts rows not soft-deleted, and Projects the projects that have one.
	Live, Projects int64
}

// KEKCensus counts the kek_data rows of each crypto plugin. kek_data holds about one row per project and
// plugin, so one grouped scan is cheap even for a large deployment; it runs once, at start.
func (db *DB) KEKCensus(ctx context.Context) ([]PluginKEKs, error) {
	var out []PluginKEKs
	err := db.reader.WithContext(ctx).Raw(`SELECT plugin_name, COUNT(*) AS total,
  SUM(CASE WHEN deleted = 0 THEN 1 ELSE 0 END) AS live,
  COUNT(DISTINCT CASE WHEN deleted = 0 THEN project_id END) AS projects
FROM kek_data GROUP BY plugin_name ORDER BY plugin_name`).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("count project KEKs: %w", classify(err))
	}
	return out, nil
}

// SampleKEKs returns up to newest+random distinct live, bound project KEKs of a plugin: the newest by
// created_at (what the latest writers used) and rows found from random points of the primary key — ids are
// random UUIDs, so the next id after a random one is a uniform pick — without reading the table into memory.
func (db *DB) SampleKEKs(ctx context.Context, pluginName string, newest, random int) ([]KEKDatum, error) {
	const bound = "plugin_name = ? AND deleted = ? AND bind_completed = ? AND plugin_meta IS NOT NULL AND plugin_meta <> ''"
	var out []KEKDatum
	err := db.reader.WithContext(ctx).Where(bound, pluginName, false, true).
		Order("created_at DESC").Order("id DESC").Limit(newest).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("sample project KEKs: %w", classify(err))
	}
	seen := map[string]bool{}
	for _, k := range out {
		seen[k.ID] = true
	}
	for range random {
		var pick []KEKDatum
		from := NewID()
		err := db.reader.WithContext(ctx).Where(bound+" AND id >= ?", pluginName, false, true, from).
			Order("id").Limit(1).Find(&pick).Error
		if err == nil && len(pick) == 0 {
			// Past the last id: wrap around to the first.
			err = db.reader.WithContext(ctx).Where(bound, pluginName, false, true).Order("id").Limit(1).Find(&pick).Error
		}
		if err != nil {
			return nil, fmt.Errorf("sample project KEKs: %w", classify(err))
		}
		for _, k := range pick {
			if !seen[k.ID] {
				seen[k.ID] = true
				out = append(out, k)
			}
		}
	}
	return out, nil
}
