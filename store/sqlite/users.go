package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/kithhq/kith"
)

// CreateUser stores a new console user.
func (db *DB) CreateUser(ctx context.Context, u *kith.User) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO users (id, name, role, password_hash, created_at, updated_at, disabled_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, u.ID, u.Name, string(u.Role), u.PasswordHash, u.CreatedAt.UnixNano(),
		u.UpdatedAt.UnixNano(), nanos(u.DisabledAt))
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, classify(err, "a user named "+u.Name))
	}
	return nil
}

const userCols = "id, name, role, password_hash, created_at, updated_at, disabled_at"

func scanUser(row interface{ Scan(...any) error }) (*kith.User, error) {
	var u kith.User
	var role string
	var created, updated int64
	var disabled sql.NullInt64
	if err := row.Scan(&u.ID, &u.Name, &role, &u.PasswordHash, &created, &updated, &disabled); err != nil {
		return nil, err
	}
	u.Role = kith.Role(role)
	u.CreatedAt = time.Unix(0, created).UTC()
	u.UpdatedAt = time.Unix(0, updated).UTC()
	u.DisabledAt = fromNanos(disabled)
	return &u, nil
}

// Users lists every user by name.
func (db *DB) Users(ctx context.Context) ([]kith.User, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []kith.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// UserByName returns the user with that sign-in name.
func (db *DB) UserByName(ctx context.Context, name string) (*kith.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE name = ?", name))
	if err != nil {
		return nil, classify(err, "user "+name)
	}
	return u, nil
}

// UserByID returns the user with that id.
func (db *DB) UserByID(ctx context.Context, id string) (*kith.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	if err != nil {
		return nil, classify(err, "user "+id)
	}
	return u, nil
}

// ChangeUser changes a user inside one immediate transaction on the single
// write connection: SQLite's write lock keeps other changes, from this
// process or another, out until it commits.
func (db *DB) ChangeUser(ctx context.Context, name string, change func(u *kith.User, all []kith.User) error) (*kith.User, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("change user %s: %w", name, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("change user %s: %w", name, err)
	}
	var all []kith.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("change user %s: %w", name, err)
		}
		all = append(all, *u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("change user %s: %w", name, err)
	}
	i := slices.IndexFunc(all, func(u kith.User) bool { return u.Name == name })
	if i < 0 {
		return nil, kith.Errorf(kith.ENOTFOUND, "user %s not found", name)
	}
	u := all[i]
	if err := change(&u, all); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, password_hash = ?, updated_at = ?, disabled_at = ? WHERE id = ?`,
		string(u.Role), u.PasswordHash, u.UpdatedAt.UnixNano(), nanos(u.DisabledAt), u.ID); err != nil {
		return nil, fmt.Errorf("change user %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("change user %s: %w", name, err)
	}
	return &u, nil
}

// CreateSession stores a new console session.
func (db *DB) CreateSession(ctx context.Context, s *kith.Session) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at, addr, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, s.Hash, s.UserID, s.CSRF, s.CreatedAt.UnixNano(), s.ExpiresAt.UnixNano(), s.Addr, s.UserAgent)
	if err != nil {
		return fmt.Errorf("create session: %w", classify(err, "session"))
	}
	return nil
}

// SessionByHash returns the session whose secret hashes to hash.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (*kith.Session, error) {
	var s kith.Session
	var created, expires int64
	err := db.r.QueryRowContext(ctx, `SELECT hash, user_id, csrf, created_at, expires_at, addr, user_agent
		FROM sessions WHERE hash = ?`, hash).Scan(&s.Hash, &s.UserID, &s.CSRF, &created, &expires, &s.Addr, &s.UserAgent)
	if err != nil {
		return nil, classify(err, "session")
	}
	s.CreatedAt = time.Unix(0, created).UTC()
	s.ExpiresAt = time.Unix(0, expires).UTC()
	return &s, nil
}

// DeleteSession removes one session.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE hash = ?", hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of a user.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	res, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions of %s: %w", userID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteExpiredSessions removes sessions that expired before t.
func (db *DB) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	res, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at < ?", t.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
