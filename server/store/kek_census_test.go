package store

import (
	"context"
	"fmt"
	"testing"
)

func TestKEKCensusAndSample(t *testing.T) {
	rawDialects(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if err := db.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		const plugin, other = "example.SimpleCryptoPlugin", "example.OtherPlugin"
		var stmts []string
		row := func(id, pluginName string, day, deleted, bound int, meta string) {
			project := fmt.Sprintf("p-%d", len(stmts))
			stmts = append(stmts,
				fmt.Sprintf("INSERT INTO projects (id, created_at, updated_at, deleted, status, external_id) "+
					"VALUES ('%s', '2024-01-01', '2024-01-01', 0, 'ACTIVE', '%s')", project, project),
				fmt.Sprintf("INSERT INTO kek_data (id, created_at, updated_at, deleted, status, plugin_name, "+
					"project_id, active, bind_completed, plugin_meta) VALUES ('%s', '2024-01-%02d 00:00:00', "+
					"'2024-01-01', %d, 'ACTIVE', '%s', '%s', 1, %d, %s)", id, day, deleted, pluginName, project, bound, meta))
		}
		for i := range 20 {
			row(fmt.Sprintf("%08x-0000-4000-8000-000000000000", i*0x0ccccccc), plugin, 1+i, 0, 1, "'m'")
		}
		// Never sampled: the newest rows, but deleted, unbound or of another plugin.
		row("deleted", plugin, 28, 1, 1, "'m'")
		row("unbound", plugin, 28, 0, 0, "NULL")
		row("empty", plugin, 28, 0, 1, "''")
		row("other", other, 28, 0, 1, "'m'")
		exec(t, db, stmts...)

		census, err := db.KEKCensus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []PluginKEKs{{PluginName: other, Total: 1, Live: 1, Projects: 1},
			{PluginName: plugin, Total: 23, Live: 22, Projects: 22}}
		if fmt.Sprint(census) != fmt.Sprint(want) {
			t.Fatalf("KEKCensus = %+v, want %+v", census, want)
		}

		sample, err := db.SampleKEKs(ctx, plugin, 3, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(sample) < 3 || len(sample) > 8 {
			t.Fatalf("sampled %d rows, want between 3 and 8", len(sample))
		}
		seen := map[string]bool{}
		for i, k := range sample {
			if seen[k.ID] || k.PluginName != plugin || k.Deleted || !k.BindCompleted || k.PluginMeta == nil || *k.PluginMeta == "" {
				t.Fatalf("sample %d is a duplicate or not a live bound row of the plugin: %+v", i, k)
			}
			seen[k.ID] = true
		}
		for i, day := range []int{20, 19, 18} {
			if got := sample[i].CreatedAt.Day(); got != day {
				t.Errorf("sample %d was created on day %d, want the newest rows first (day %d)", i, got, day)
			}
		}
		none, err := db.SampleKEKs(ctx, "example.Unused", 3, 5)
		if err != nil || len(none) != 0 {
			t.Fatalf("a plugin without rows: %v, %v", none, err)
		}
	})
}
