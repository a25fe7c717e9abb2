package vectors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/apron-edge/apron/app"
)

// ApplyControl applies a batch of user, token and proposal changes and
// commands from the control topic and moves the control consumer's position to upto in one
// transaction. Each change carries the whole record, so a later one
// replaces an earlier one; a changed password or a disabled user ends the
// user's sessions, as the local changes did.
func (s *Store) ApplyControl(ctx context.Context, changes []app.ControlChange, upto uint64, uptoTime time.Time) error {
	return s.commitWithPosition(ctx, app.ControlConsumer, app.TopicControl, upto, uptoTime, func(tx *txc, cur uint64) error {
		for _, ch := range changes {
			if ch.Offset <= cur {
				continue
			}
			var err error
			switch {
			case ch.User != nil:
				err = applyUser(ctx, tx, ch.User, ch.Offset)
			case ch.Token != nil:
				err = applyToken(ctx, tx, ch.Token, ch.Offset)
			case ch.Proposal != nil:
				err = applyProposalChange(ctx, tx.Tx, ch.Proposal, ch.Offset)
			case ch.Command != nil:
				err = applyCommand(ctx, tx.Tx, ch.Command, ch.Offset)
			}
			if err != nil {
				return fmt.Errorf("%s@%d: %w", ch.Type, ch.Offset, err)
			}
		}
		return nil
	})
}

func applyUser(ctx context.Context, tx *txc, u *app.UserData, offset uint64) error {
	disabled := 0
	if u.Disabled {
		disabled = 1
	}
	var id int64
	var hash string
	err := tx.QueryRowContext(ctx, `SELECT id, password_hash FROM users WHERE name = ?`, u.Name).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, disabled, created_at, log_offset) VALUES (?,?,?,?,?,?)`,
			u.Name, u.Role, u.PasswordHash, disabled, ts(u.CreatedAt), offset)
		return err
	} else if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, password_hash = ?, disabled = ?, log_offset = ? WHERE id = ?`,
		u.Role, u.PasswordHash, disabled, offset, id); err != nil {
		return err
	}
	if u.Disabled || hash != u.PasswordHash {
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id)
	}
	return err
}

func applyToken(ctx context.Context, tx *txc, t *app.TokenData, offset uint64) error {
	revoked := ""
	if !t.RevokedAt.IsZero() {
		revoked = ts(t.RevokedAt)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (name, role, hash, created_at, revoked_at, log_offset) VALUES (?,?,?,?,?,?)
		ON CONFLICT (hash) DO UPDATE SET name = excluded.name, role = excluded.role, revoked_at = excluded.revoked_at, log_offset = excluded.log_offset`,
		t.Name, t.Role, t.Hash, ts(t.CreatedAt), revoked, offset)
	return err
}

// UserRecord returns a user's whole record by id. Returns ENOTFOUND.
func (s *Store) UserRecord(ctx context.Context, id int64) (app.UserData, error) {
	var u app.UserData
	var created string
	var disabled int
	err := s.rdb.QueryRowContext(ctx, `SELECT name, role, password_hash, disabled, created_at FROM users WHERE id = ?`, id).
		Scan(&u.Name, &u.Role, &u.PasswordHash, &disabled, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return u, app.Errorf(app.ENOTFOUND, "user %d not found", id)
	} else if err != nil {
		return u, fmt.Errorf("look up user %d: %w", id, err)
	}
	u.Disabled, u.CreatedAt = disabled == 1, parseTS(created)
	return u, nil
}

// TokenRecord returns a token's whole record by id. Returns ENOTFOUND.
func (s *Store) TokenRecord(ctx context.Context, id int64) (app.TokenData, error) {
	var t app.TokenData
	var created, revoked string
	err := s.rdb.QueryRowContext(ctx, `SELECT hash, name, role, created_at, revoked_at FROM api_tokens WHERE id = ?`, id).
		Scan(&t.Hash, &t.Name, &t.Role, &created, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return t, app.Errorf(app.ENOTFOUND, "token %d not found", id)
	} else if err != nil {
		return t, fmt.Errorf("look up token %d: %w", id, err)
	}
	t.CreatedAt, t.RevokedAt = parseTS(created), parseTS(revoked)
	return t, nil
}

// TokenByHash returns the token whose secret hashes to hash. Returns
// ENOTFOUND.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*app.APIToken, error) {
	var t app.APIToken
	var c, r, u string
	err := s.rdb.QueryRowContext(ctx, `SELECT id, name, role, created_at, revoked_at, last_used FROM api_tokens WHERE hash = ?`, hash).
		Scan(&t.ID, &t.Name, &t.Role, &c, &r, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "no token with that hash")
	} else if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	t.CreatedAt, t.RevokedAt, t.LastUsed = parseTS(c), parseTS(r), parseTS(u)
	return &t, nil
}

// UnloggedAccounts returns the users and tokens that were made before
// they went through the log (log_offset 0), in the order they were made,
// so that the node can put them on the log.
func (s *Store) UnloggedAccounts(ctx context.Context) ([]app.UserData, []app.TokenData, error) {
	var users []app.UserData
	var tokens []app.TokenData
	ids, err := s.idsWhere(ctx, `SELECT id FROM users WHERE log_offset = 0 ORDER BY id`)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		u, err := s.UserRecord(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		users = append(users, u)
	}
	if ids, err = s.idsWhere(ctx, `SELECT id FROM api_tokens WHERE log_offset = 0 ORDER BY id`); err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		t, err := s.TokenRecord(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		tokens = append(tokens, t)
	}
	return users, tokens, nil
}

func (s *Store) idsWhere(ctx context.Context, q string) ([]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("accounts not on the log: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("accounts not on the log: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// QueueEvents puts events in the outbox, for the node to append to the
// log (a command that changes accounts while the node runs).
func (s *Store) QueueEvents(ctx context.Context, events []*app.Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue events: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := addOutbox(ctx, tx, events); err != nil {
		return err
	}
	return tx.Commit()
}
