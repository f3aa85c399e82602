package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LinkKey returns the key that signs preference links, making it once.
func (db *DB) LinkKey(ctx context.Context) ([]byte, error) {
	key := make([]byte, 32)
	rand.Read(key)
	if _, err := db.pool.Exec(ctx, "INSERT INTO link_keys (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", key); err != nil {
		return nil, unreachable(fmt.Errorf("link key: %w", err))
	}
	var out []byte
	if err := db.pool.QueryRow(ctx, "SELECT key FROM link_keys WHERE id = 1").Scan(&out); err != nil {
		return nil, unreachable(fmt.Errorf("link key: %w", err))
	}
	return out, nil
}

// RevokeLinks moves a profile's revocation time forward.
func (db *DB) RevokeLinks(ctx context.Context, profileID string, before time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO link_revocations (profile_id, before) VALUES ($1, $2)
		ON CONFLICT (profile_id) DO UPDATE SET before = greatest(link_revocations.before, excluded.before)`, profileID, before.UnixNano())
	if err != nil {
		return unreachable(fmt.Errorf("revoke links of %s: %w", profileID, err))
	}
	return nil
}

// LinksRevokedBefore returns a profile's revocation time.
func (db *DB) LinksRevokedBefore(ctx context.Context, profileID string) (time.Time, error) {
	var n int64
	err := db.pool.QueryRow(ctx, "SELECT before FROM link_revocations WHERE profile_id = $1", profileID).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, unreachable(fmt.Errorf("links of %s: %w", profileID, err))
	}
	return time.Unix(0, n).UTC(), nil
}
