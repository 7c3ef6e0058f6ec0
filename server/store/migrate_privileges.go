package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrPrivileges means the database account lacks a privilege that a pending schema step uses. Upgrade returns
// it before its first statement, so the schema is unchanged.
var ErrPrivileges = errors.New("missing database privileges")

// grants are the privileges of the current MySQL account (and its enabled roles), by level.
type grants struct {
	global, schema map[string]bool
	table          map[string]map[string]bool // table -> privileges
}

func (g grants) has(n need) bool {
	if g.global[n.privilege] || g.global["ALL PRIVILEGES"] || g.schema[n.privilege] {
		return true
	}
	return n.table != "" && g.table[n.table][n.privilege]
}

// binlogState is what decides whether creating a trigger needs SUPER.
type binlogState struct {
	logBin, trustCreators bool
}

// checkPrivileges checks, before Upgrade changes anything, that the account may run every pending step.
func (m *migrator) checkPrivileges(ctx context.Context, p upgradePlan) error {
	needs, triggers := p.needs()
	var account, dbName string
	if err := m.g.WithContext(ctx).Raw("SELECT CURRENT_USER(), DATABASE()").Row().Scan(&account, &dbName); err != nil {
		return fmt.Errorf("check privileges: %w", classify(err))
	}
	g, err := m.readGrants(ctx, account)
	if err != nil {
		return err
	}
	var bl binlogState
	if triggers {
		if err := m.g.WithContext(ctx).Raw("SELECT @@GLOBAL.log_bin, @@GLOBAL.log_bin_trust_function_creators").
			Row().Scan(&bl.logBin, &bl.trustCreators); err != nil {
			return fmt.Errorf("check privileges: read binary log settings: %w", classify(err))
		}
	}
	return privilegeErrors(quoteAccount(account), dbName, g, needs, triggers, bl)
}

// needs lists the privileges of the plan's steps, in the order they first appear.
func (p upgradePlan) needs() (needs []need, triggers bool) {
	for _, i := range p.barbican {
		needs = append(needs, barbicanSteps[i].needs...)
		if i == 0 && !p.alembicTable {
			needs = append(needs, need{"CREATE", "alembic_version"})
		}
	}
	needs = append(needs, migrationsTableNeeds...)
	for _, s := range p.keymanager {
		needs = append(needs, s.needs...)
		triggers = triggers || s.triggers
	}
	return needs, triggers
}

// privilegeErrors names what is missing and the statements an administrator runs to grant it.
func privilegeErrors(account, dbName string, g grants, needs []need, triggers bool, bl binlogState) error {
	var missing []string
	for _, n := range needs {
		if !g.has(n) && !slices.Contains(missing, n.privilege) {
			missing = append(missing, n.privilege)
		}
	}
	var errs []error
	if len(missing) > 0 {
		list := strings.Join(missing, ", ")
		errs = append(errs, fmt.Errorf("%w: the database account %s lacks %s on database %s, which the schema "+
			"upgrade needs; nothing was changed. As a database administrator run\n  GRANT %s ON `%s`.* TO %s;\n"+
			"then run the upgrade again", ErrPrivileges, account, list, dbName, list, grantPattern(dbName), account))
	}
	if triggers && bl.logBin && !bl.trustCreators && !g.global["SUPER"] && !g.global["ALL PRIVILEGES"] {
		errs = append(errs, fmt.Errorf("%w: binary logging is on and log_bin_trust_function_creators is off, so "+
			"creating keymanager's triggers needs the SUPER privilege, which %s lacks; nothing was changed. As a "+
			"database administrator run\n  SET GLOBAL log_bin_trust_function_creators = 1;\n(and set "+
			"log_bin_trust_function_creators = 1 under [mysqld] in the server configuration so that it survives a "+
			"restart) or\n  GRANT SUPER ON *.* TO %s;\nthen run the upgrade again", ErrPrivileges, account, account))
	}
	return errors.Join(errs...)
}

// readGrants reads the account's privileges from information_schema, where MySQL and MariaDB list grants per
// privilege (ALL PRIVILEGES expanded). Privileges of enabled roles count too.
func (m *migrator) readGrants(ctx context.Context, account string) (grants, error) {
	g := grants{global: map[string]bool{}, schema: map[string]bool{}, table: map[string]map[string]bool{}}
	grantees := []string{quoteAccount(account)}
	var roles []string
	// ENABLED_ROLES is missing before MariaDB 10.0.5 / MySQL 8.0.19; without it only direct grants count.
	if err := m.g.WithContext(ctx).Raw("SELECT ROLE_NAME FROM information_schema.ENABLED_ROLES").Scan(&roles).Error; err == nil {
		for _, r := range roles {
			grantees = append(grantees, "'"+strings.ReplaceAll(r, "'", "''")+"'@''")
		}
	}
	var rows []struct {
		Level, TableName, Privilege string
	}
	// A schema-level grant names a LIKE pattern (`barbican\_%`), hence DATABASE() LIKE TABLE_SCHEMA.
	q := `SELECT 'global' AS level, '' AS table_name, PRIVILEGE_TYPE AS privilege
  FROM information_schema.USER_PRIVILEGES WHERE GRANTEE IN ?
UNION ALL SELECT 'schema', '', PRIVILEGE_TYPE
  FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE IN ? AND DATABASE() LIKE TABLE_SCHEMA
UNION ALL SELECT 'table', TABLE_NAME, PRIVILEGE_TYPE
  FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE IN ? AND TABLE_SCHEMA = DATABASE()`
	if err := m.g.WithContext(ctx).Raw(q, grantees, grantees, grantees).Scan(&rows).Error; err != nil {
		return g, fmt.Errorf("check privileges: read grants: %w", classify(err))
	}
	for _, r := range rows {
		p := strings.ToUpper(r.Privilege)
		switch r.Level {
		case "global":
			g.global[p] = true
		case "schema":
			g.schema[p] = true
		default:
			if g.table[r.TableName] == nil {
				g.table[r.TableName] = map[string]bool{}
			}
			g.table[r.TableName][p] = true
		}
	}
	return g, nil
}

// quoteAccount turns CURRENT_USER()'s user@host into the 'user'@'host' form of GRANT and information_schema.
func quoteAccount(account string) string {
	i := strings.LastIndexByte(account, '@')
	if i < 0 {
		return "'" + account + "'"
	}
	return "'" + account[:i] + "'@'" + account[i+1:] + "'"
}

// grantPattern escapes the LIKE wildcards of a database name, so that the GRANT an error suggests covers this
// database only (unescaped, `_` in `my_db` matches any character).
func grantPattern(dbName string) string {
	return strings.NewReplacer(`_`, `\_`, `%`, `\%`).Replace(dbName)
}
