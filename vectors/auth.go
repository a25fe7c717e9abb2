package vectors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
)

func parseTS(s string) time.Time {
	t, _ := time.Parse(tsLayout, s)
	return t
}

// CreateUser adds a user. Returns ECONFLICT if the name is taken.
func (s *Store) CreateUser(ctx context.Context, name, role, passwordHash string) (*app.User, error) {
	now := s.Now().UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at) VALUES (?,?,?,?)`, name, role, passwordHash, ts(now))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return nil, app.Errorf(app.ECONFLICT, "name: user %q exists", name)
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	id, _ := res.LastInsertId()
	return &app.User{ID: id, Name: name, Role: role, CreatedAt: now}, nil
}

// UserByName returns the user and their password hash. Returns ENOTFOUND.
func (s *Store) UserByName(ctx context.Context, name string) (*app.User, string, error) {
	var u app.User
	var hash, created string
	var disabled int
	err := s.rdb.QueryRowContext(ctx, `SELECT id, name, role, password_hash, disabled, created_at FROM users WHERE name = ?`, name).
		Scan(&u.ID, &u.Name, &u.Role, &hash, &disabled, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", app.Errorf(app.ENOTFOUND, "user %q not found", name)
	} else if err != nil {
		return nil, "", fmt.Errorf("look up user %s: %w", name, err)
	}
	u.Disabled, u.CreatedAt = disabled == 1, parseTS(created)
	return &u, hash, nil
}

// Users lists every user.
func (s *Store) Users(ctx context.Context) ([]*app.User, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, name, role, disabled, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*app.User
	for rows.Next() {
		var u app.User
		var disabled int
		var created string
		if err := rows.Scan(&u.ID, &u.Name, &u.Role, &disabled, &created); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Disabled, u.CreatedAt = disabled == 1, parseTS(created)
		out = append(out, &u)
	}
	return out, rows.Err()
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetUserRole changes a user's role and enabled state; a disabled user's
// sessions end at once.
func (s *Store) SetUserRole(ctx context.Context, id int64, role string, disabled bool) error {
	d := 0
	if disabled {
		d = 1
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET role = ?, disabled = ? WHERE id = ?`, role, d, id)
	if err != nil {
		return fmt.Errorf("set role of user %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return app.Errorf(app.ENOTFOUND, "user %d not found", id)
	}
	if disabled {
		_, err = s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id)
	}
	if err != nil {
		return fmt.Errorf("end sessions of user %d: %w", id, err)
	}
	return nil
}

// SetPassword replaces a user's password hash and ends their sessions.
func (s *Store) SetPassword(ctx context.Context, id int64, passwordHash string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, passwordHash, id); err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("end sessions of user %d: %w", id, err)
	}
	return nil
}

// CreateSession records a new session by the hash of its id.
func (s *Store) CreateSession(ctx context.Context, idHash string, userID int64, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen) VALUES (?,?,?,?)`, idHash, userID, ts(now), ts(now)); err != nil {
		return fmt.Errorf("create session of user %d: %w", userID, err)
	}
	return nil
}

// SessionPrincipal returns who owns a live session, and touches it. An
// idle or too old session, or one of a disabled user, is deleted and
// ENOTFOUND returned.
func (s *Store) SessionPrincipal(ctx context.Context, idHash string, now time.Time, idle, absolute time.Duration) (*app.Principal, error) {
	var p app.Principal
	var created, seen string
	var disabled int
	err := s.rdb.QueryRowContext(ctx, `SELECT u.id, u.name, u.role, u.disabled, s.created_at, s.last_seen FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?`, idHash).
		Scan(&p.UserID, &p.Name, &p.Role, &disabled, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "no session")
	} else if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	c, l := parseTS(created), parseTS(seen)
	if disabled == 1 || now.Sub(l) > idle || now.Sub(c) > absolute {
		_, _ = s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
		return nil, app.Errorf(app.ENOTFOUND, "session expired")
	}
	// Touch at most once a minute: a page view should not always write.
	if now.Sub(l) > time.Minute {
		_, _ = s.db.ExecContext(ctx, `UPDATE sessions SET last_seen = ? WHERE id_hash = ?`, ts(now), idHash)
	}
	p.Session = &app.Session{ID: idHash, UserID: p.UserID, CreatedAt: c, LastSeen: l}
	return &p, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// CreateToken stores a new API token by its hash.
func (s *Store) CreateToken(ctx context.Context, name, role, hash string, now time.Time) (*app.APIToken, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?,?,?,?)`, name, role, hash, ts(now))
	if err != nil {
		return nil, fmt.Errorf("create token: %w", err)
	}
	id, _ := res.LastInsertId()
	return &app.APIToken{ID: id, Name: name, Role: role, CreatedAt: now}, nil
}

// TokenPrincipal returns the machine client of a live token. Returns
// ENOTFOUND for unknown or revoked tokens.
func (s *Store) TokenPrincipal(ctx context.Context, hash string, now time.Time) (*app.Principal, error) {
	var p app.Principal
	var revoked, used string
	err := s.rdb.QueryRowContext(ctx, `SELECT id, name, role, revoked_at, last_used FROM api_tokens WHERE hash = ?`, hash).Scan(&p.TokenID, &p.Name, &p.Role, &revoked, &used)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && revoked != "") {
		return nil, app.Errorf(app.ENOTFOUND, "unknown or revoked token")
	} else if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if now.Sub(parseTS(used)) > time.Minute {
		_, _ = s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ?`, ts(now), p.TokenID)
	}
	return &p, nil
}

// Tokens lists API tokens (never their secrets).
func (s *Store) Tokens(ctx context.Context) ([]*app.APIToken, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, name, role, created_at, revoked_at, last_used FROM api_tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*app.APIToken
	for rows.Next() {
		var t app.APIToken
		var c, r, u string
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &c, &r, &u); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.CreatedAt, t.RevokedAt, t.LastUsed = parseTS(c), parseTS(r), parseTS(u)
		out = append(out, &t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token. Returns ENOTFOUND.
func (s *Store) RevokeToken(ctx context.Context, id int64, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = ''`, ts(now), id)
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return app.Errorf(app.ENOTFOUND, "token %d not found or already revoked", id)
	}
	return nil
}
