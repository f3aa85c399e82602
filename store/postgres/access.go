package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

// CreateSource stores a new source; ECONFLICT if its name or write key is
// taken. The unique constraints decide between nodes creating one name at once.
func (db *DB) CreateSource(ctx context.Context, s *kith.Source) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO sources (id, name, kind, write_key, created_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, s.ID, s.Name, string(s.Kind), s.WriteKey, s.CreatedAt.UnixNano(), nanos(s.RevokedAt))
	if err != nil {
		return fmt.Errorf("create source %s: %w", s.Name, classify(err, "a source with this name or write key"))
	}
	return nil
}

const sourceCols = "id, name, kind, write_key, created_at, revoked_at"

func scanSource(row pgx.Row) (*kith.Source, error) {
	var s kith.Source
	var kind string
	var created int64
	var revoked *int64
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
	rows, err := db.pool.Query(ctx, "SELECT "+sourceCols+" FROM sources ORDER BY created_at, id")
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return out, nil
}

// SourceByWriteKey returns the source with that write key, or ENOTFOUND.
func (db *DB) SourceByWriteKey(ctx context.Context, writeKey string) (*kith.Source, error) {
	s, err := scanSource(db.pool.QueryRow(ctx, "SELECT "+sourceCols+" FROM sources WHERE write_key = $1", writeKey))
	if err != nil {
		return nil, classify(err, "source")
	}
	return s, nil
}

// RevokeSource marks the source with that id or name revoked at the given
// time, keeping an earlier revocation; ENOTFOUND if there is none. An id
// wins over a name, so one call never revokes two sources.
func (db *DB) RevokeSource(ctx context.Context, idOrName string, at time.Time) (*kith.Source, error) {
	s, err := scanSource(db.pool.QueryRow(ctx, `UPDATE sources SET revoked_at = coalesce(revoked_at, $1)
		WHERE id = coalesce((SELECT id FROM sources WHERE id = $2), (SELECT id FROM sources WHERE name = $2))
		RETURNING `+sourceCols, at.UnixNano(), idOrName))
	if err != nil {
		return nil, fmt.Errorf("revoke source %s: %w", idOrName, classify(err, "source "+idOrName))
	}
	return s, nil
}

// CreateAPIKey stores a new API key; ECONFLICT if its name or hash is taken.
func (db *DB) CreateAPIKey(ctx context.Context, k *kith.APIKey) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO api_keys (id, name, scopes, hash, hint, created_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.Name, scopeStrings(k.Scopes), k.Hash, k.Hint,
		k.CreatedAt.UnixNano(), nanos(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.Name, classify(err, "an API key with this name or secret"))
	}
	return nil
}

const keyCols = "id, name, scopes, hash, hint, created_at, revoked_at"

func scanKey(row pgx.Row) (*kith.APIKey, error) {
	var k kith.APIKey
	var scopes []string
	var created int64
	var revoked *int64
	if err := row.Scan(&k.ID, &k.Name, &scopes, &k.Hash, &k.Hint, &created, &revoked); err != nil {
		return nil, err
	}
	for _, s := range scopes {
		k.Scopes = append(k.Scopes, kith.Scope(s))
	}
	k.CreatedAt = time.Unix(0, created).UTC()
	k.RevokedAt = fromNanos(revoked)
	return &k, nil
}

func scopeStrings(ss []kith.Scope) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// APIKeys lists every API key, oldest first.
func (db *DB) APIKeys(ctx context.Context) ([]kith.APIKey, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+keyCols+" FROM api_keys ORDER BY created_at, id")
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// APIKeyByHash returns the key whose secret hashes to hash, or ENOTFOUND.
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (*kith.APIKey, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, "SELECT "+keyCols+" FROM api_keys WHERE hash = $1", hash))
	if err != nil {
		return nil, classify(err, "API key")
	}
	return k, nil
}

// RevokeAPIKey marks the key with that id or name revoked, keeping an
// earlier revocation; ENOTFOUND if there is none. An id wins over a name.
func (db *DB) RevokeAPIKey(ctx context.Context, idOrName string, at time.Time) (*kith.APIKey, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1)
		WHERE id = coalesce((SELECT id FROM api_keys WHERE id = $2), (SELECT id FROM api_keys WHERE name = $2))
		RETURNING `+keyCols, at.UnixNano(), idOrName))
	if err != nil {
		return nil, fmt.Errorf("revoke api key %s: %w", idOrName, classify(err, "API key "+idOrName))
	}
	return k, nil
}
