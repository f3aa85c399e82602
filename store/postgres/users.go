package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

// CreateUser stores a new console user; ECONFLICT if the name is taken.
func (db *DB) CreateUser(ctx context.Context, u *kith.User) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO users (id, name, role, password_hash, created_at, updated_at, disabled_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, u.ID, u.Name, string(u.Role), u.PasswordHash, u.CreatedAt.UnixNano(),
		u.UpdatedAt.UnixNano(), nanos(u.DisabledAt))
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, classify(err, "a user named "+u.Name))
	}
	return nil
}

const userCols = "id, name, role, password_hash, created_at, updated_at, disabled_at"

func scanUser(row pgx.Row) (*kith.User, error) {
	var u kith.User
	var role string
	var created, updated int64
	var disabled *int64
	if err := row.Scan(&u.ID, &u.Name, &role, &u.PasswordHash, &created, &updated, &disabled); err != nil {
		return nil, err
	}
	u.Role = kith.Role(role)
	u.CreatedAt = time.Unix(0, created).UTC()
	u.UpdatedAt = time.Unix(0, updated).UTC()
	u.DisabledAt = fromNanos(disabled)
	return &u, nil
}

func collectUsers(rows pgx.Rows) ([]kith.User, error) {
	defer rows.Close()
	var out []kith.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// Users lists every user by name.
func (db *DB) Users(ctx context.Context) ([]kith.User, error) {
	rows, err := db.pool.Query(ctx, "SELECT "+userCols+" FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out, err := collectUsers(rows)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// UserByName returns the user with that sign-in name, or ENOTFOUND.
func (db *DB) UserByName(ctx context.Context, name string) (*kith.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE name = $1", name))
	if err != nil {
		return nil, classify(err, "user "+name)
	}
	return u, nil
}

// UserByID returns the user with that id, or ENOTFOUND.
func (db *DB) UserByID(ctx context.Context, id string) (*kith.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
	if err != nil {
		return nil, classify(err, "user "+id)
	}
	return u, nil
}

// ChangeUser runs change on the named user, given every user, and stores
// the role, password hash, disabled time and updated time it leaves.
//
// The transaction first locks every user row, in name order (FOR NO KEY
// UPDATE: it changes no key, so signing in, which inserts a session
// referencing a user, does not wait). Two ChangeUser calls, on any nodes,
// therefore run one after the other, and the second reads what the first
// stored: a rule over all users, such as keeping one admin, holds. A user
// created meanwhile is not in all; creating one never breaks such a rule.
// change may run more than once if the database aborts a try; an error it
// returns stores nothing and is returned as it is.
func (db *DB) ChangeUser(ctx context.Context, name string, change func(u *kith.User, all []kith.User) error) (*kith.User, error) {
	var out *kith.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+userCols+" FROM users ORDER BY name FOR NO KEY UPDATE")
		if err != nil {
			return fmt.Errorf("change user %s: %w", name, err)
		}
		all, err := collectUsers(rows)
		if err != nil {
			return fmt.Errorf("change user %s: %w", name, err)
		}
		i := slices.IndexFunc(all, func(u kith.User) bool { return u.Name == name })
		if i < 0 {
			return kith.Errorf(kith.ENOTFOUND, "user %s not found", name)
		}
		u := all[i]
		if err := change(&u, all); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET role = $1, password_hash = $2, updated_at = $3, disabled_at = $4 WHERE id = $5`,
			string(u.Role), u.PasswordHash, u.UpdatedAt.UnixNano(), nanos(u.DisabledAt), u.ID); err != nil {
			return fmt.Errorf("change user %s: %w", name, classify(err, "user "+name))
		}
		out = &u
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateSession stores a new console session; ECONFLICT if the hash is taken.
func (db *DB) CreateSession(ctx context.Context, s *kith.Session) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at, addr, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, s.Hash, s.UserID, s.CSRF, s.CreatedAt.UnixNano(), s.ExpiresAt.UnixNano(),
		storable(s.Addr), storable(s.UserAgent))
	if err != nil {
		return fmt.Errorf("create session: %w", classify(err, "session"))
	}
	return nil
}

// SessionByHash returns the session whose secret hashes to hash, expired
// or not, or ENOTFOUND.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (*kith.Session, error) {
	var s kith.Session
	var created, expires int64
	err := db.pool.QueryRow(ctx, `SELECT hash, user_id, csrf, created_at, expires_at, addr, user_agent
		FROM sessions WHERE hash = $1`, hash).Scan(&s.Hash, &s.UserID, &s.CSRF, &created, &expires, &s.Addr, &s.UserAgent)
	if err != nil {
		return nil, classify(err, "session")
	}
	s.CreatedAt = time.Unix(0, created).UTC()
	s.ExpiresAt = time.Unix(0, expires).UTC()
	return &s, nil
}

// DeleteSession removes one session; removing a missing one is not an error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := db.pool.Exec(ctx, "DELETE FROM sessions WHERE hash = $1", hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of a user and says how many.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	tag, err := db.pool.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions of %s: %w", userID, err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteExpiredSessions removes sessions that expired before t.
func (db *DB) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, "DELETE FROM sessions WHERE expires_at < $1", t.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
