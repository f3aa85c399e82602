package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migration is one numbered .sql file of migrations/.
type migration struct {
	version int
	name    string
	body    string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	var out []migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: the name must start with its number", base)
		}
		if other, ok := seen[v]; ok {
			return nil, fmt.Errorf("postgres: migrations %s and %s have the same number", other, base)
		}
		seen[v] = base
		body, err := migrations.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %s: %w", base, err)
		}
		out = append(out, migration{version: v, name: base, body: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies, in order, the migrations the database has not recorded
// in schema_migrations. Each runs in its own transaction that first takes
// a transaction-level advisory lock of the schema, so nodes starting at
// once take turns: the first applies a migration, the others then find it
// recorded. A failing migration leaves nothing of itself behind.
func migrate(ctx context.Context, conn *pgx.Conn) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	err = migrationTx(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version     INTEGER PRIMARY KEY,
			name        TEXT NOT NULL,
			applied_at  BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, m := range ms {
		err := migrationTx(ctx, conn, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			// No arguments: pgx sends the file with the simple protocol,
			// which runs several statements.
			if _, err := tx.Exec(ctx, m.body); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.version, m.name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// migrationTx runs fn in a transaction holding the schema's migration lock.
func migrationTx(ctx context.Context, conn *pgx.Conn, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Keyed by the schema that unqualified names create tables in, so
		// migrations of two schemas of one database do not wait for each
		// other.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('kith migrations ' || coalesce(current_schema(), ''), 0))`); err != nil {
			return err
		}
		return fn(tx)
	})
}
