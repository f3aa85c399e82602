package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// CreateSource stores a new source.
func (db *DB) CreateSource(ctx context.Context, s *kith.Source) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO sources (id, name, kind, write_key, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?)`, s.ID, s.Name, string(s.Kind), s.WriteKey, s.CreatedAt.UnixNano(), nanos(s.RevokedAt))
	if err != nil {
		return fmt.Errorf("create source %s: %w", s.Name, classify(err, "a source with this name or write key"))
	}
	return nil
}

const sourceCols = "id, name, kind, write_key, created_at, revoked_at"

func scanSource(row interface{ Scan(...any) error }) (*kith.Source, error) {
	var s kith.Source
	var kind string
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&s.ID, &s.Name, &kind, &s.WriteKey, &created, &revoked); err != nil {
		return nil, err
	}
	s.Kind = kith.Kind(kind)
	s.CreatedAt = time.Unix(0, created).UTC()
	s.RevokedAt = fromNanos(revoked)
	return &s, nil
}

// Sources lists every source, oldest first.
func (db *DB) Sources(ctx context.Context) ([]kith.Source, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+sourceCols+" FROM sources ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	defer rows.Close()
	var out []kith.Source
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, fmt.Errorf("list sources: %w", err)
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}

// SourceByWriteKey returns the source with that write key.
func (db *DB) SourceByWriteKey(ctx context.Context, writeKey string) (*kith.Source, error) {
	s, err := scanSource(db.r.QueryRowContext(ctx, "SELECT "+sourceCols+" FROM sources WHERE write_key = ?", writeKey))
	if err != nil {
		return nil, classify(err, "source")
	}
	return s, nil
}

// RevokeSource marks the source with that id or name revoked.
func (db *DB) RevokeSource(ctx context.Context, idOrName string, at time.Time) (*kith.Source, error) {
	// An id wins over a name, so one call never revokes two sources.
	s, err := scanSource(db.w.QueryRowContext(ctx, `UPDATE sources SET revoked_at = coalesce(revoked_at, ?)
		WHERE id = coalesce((SELECT id FROM sources WHERE id = ?), (SELECT id FROM sources WHERE name = ?))
		RETURNING `+sourceCols, at.UnixNano(), idOrName, idOrName))
	if err != nil {
		return nil, fmt.Errorf("revoke source %s: %w", idOrName, classify(err, "source "+idOrName))
	}
	return s, nil
}

// CreateAPIKey stores a new API key.
func (db *DB) CreateAPIKey(ctx context.Context, k *kith.APIKey) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO api_keys (id, name, scopes, hash, hint, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, k.ID, k.Name, joinScopes(k.Scopes), k.Hash, k.Hint, k.CreatedAt.UnixNano(), nanos(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.Name, classify(err, "an API key with this name or secret"))
	}
	return nil
}

const keyCols = "id, name, scopes, hash, hint, created_at, revoked_at"

func scanKey(row interface{ Scan(...any) error }) (*kith.APIKey, error) {
	var k kith.APIKey
	var scopes string
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.Name, &scopes, &k.Hash, &k.Hint, &created, &revoked); err != nil {
		return nil, err
	}
	for _, s := range strings.Fields(scopes) {
		k.Scopes = append(k.Scopes, kith.Scope(s))
	}
	k.CreatedAt = time.Unix(0, created).UTC()
	k.RevokedAt = fromNanos(revoked)
	return &k, nil
}

func joinScopes(ss []kith.Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, " ")
}

// APIKeys lists every API key, oldest first.
func (db *DB) APIKeys(ctx context.Context) ([]kith.APIKey, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+keyCols+" FROM api_keys ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var out []kith.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list api keys: %w", err)
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

// APIKeyByHash returns the key whose secret hashes to hash.
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (*kith.APIKey, error) {
	k, err := scanKey(db.r.QueryRowContext(ctx, "SELECT "+keyCols+" FROM api_keys WHERE hash = ?", hash))
	if err != nil {
		return nil, classify(err, "API key")
	}
	return k, nil
}

// RevokeAPIKey marks the key with that id or name revoked.
func (db *DB) RevokeAPIKey(ctx context.Context, idOrName string, at time.Time) (*kith.APIKey, error) {
	k, err := scanKey(db.w.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?)
		WHERE id = coalesce((SELECT id FROM api_keys WHERE id = ?), (SELECT id FROM api_keys WHERE name = ?))
		RETURNING `+keyCols, at.UnixNano(), idOrName, idOrName))
	if err != nil {
		return nil, fmt.Errorf("revoke api key %s: %w", idOrName, classify(err, "API key "+idOrName))
	}
	return k, nil
}
