package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LinkKey returns the key that signs preference links, making it once.
func (db *DB) LinkKey(ctx context.Context) ([]byte, error) {
	key := make([]byte, 32)
	rand.Read(key)
	if _, err := db.w.ExecContext(ctx, "INSERT INTO link_keys (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING", key); err != nil {
		return nil, fmt.Errorf("link key: %w", err)
	}
	var out []byte
	if err := db.w.QueryRowContext(ctx, "SELECT key FROM link_keys WHERE id = 1").Scan(&out); err != nil {
		return nil, fmt.Errorf("link key: %w", err)
	}
	return out, nil
}

// RevokeLinks moves a profile's revocation time forward.
func (db *DB) RevokeLinks(ctx context.Context, profileID string, before time.Time) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO link_revocations (profile_id, before) VALUES (?, ?)
		ON CONFLICT (profile_id) DO UPDATE SET before = max(before, excluded.before)`, profileID, before.UnixNano())
	if err != nil {
		return fmt.Errorf("revoke links of %s: %w", profileID, err)
	}
	return nil
}

// LinksRevokedBefore returns a profile's revocation time.
func (db *DB) LinksRevokedBefore(ctx context.Context, profileID string) (time.Time, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, "SELECT before FROM link_revocations WHERE profile_id = ?", profileID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("links of %s: %w", profileID, err)
	}
	return time.Unix(0, n).UTC(), nil
}
