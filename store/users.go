package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/berthhq/berth"
	"github.com/google/uuid"
)

const userColumns = `id, username, role, password_hash, session_epoch, created_at, updated_at`

func scanUser(row scanner) (*berth.User, error) {
	var (
		u                berth.User
		role             string
		created, updated int64
	)
	if err := row.Scan(&u.ID, &u.Username, &role, &u.PasswordHash, &u.SessionEpoch, &created, &updated); err != nil {
		return nil, err
	}
	u.Role = berth.Role(role)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &u, nil
}

// CreateUser stores a new user (an ID is generated when empty). ECONFLICT
// on a duplicate username or ID.
func (s *Store) CreateUser(ctx context.Context, u *berth.User) error {
	if u.ID == "" {
		u.ID = "usr-" + uuid.NewString()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.CreatedAt, u.UpdatedAt = norm(u.CreatedAt), norm(u.UpdatedAt)
	_, err := s.x(ctx).ExecContext(ctx, s.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Username, string(u.Role), u.PasswordHash, u.SessionEpoch, micros(u.CreatedAt), micros(u.UpdatedAt))
	if isUnique(err) {
		return berth.Errorf(berth.ECONFLICT, "user %q already exists", u.Username)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Username, err)
	}
	return nil
}

// UpdateUser replaces username, role, password hash and session epoch.
// ENOTFOUND if missing, ECONFLICT if the new username is taken or the
// change would demote the last admin.
func (s *Store) UpdateUser(ctx context.Context, u *berth.User) error {
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = now()
	}
	u.UpdatedAt = norm(u.UpdatedAt)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if u.Role != berth.RoleAdmin {
			if err := s.keepAnAdmin(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET username = ?, role = ?, password_hash = ?, session_epoch = ?, updated_at = ? WHERE id = ?`),
			u.Username, string(u.Role), u.PasswordHash, u.SessionEpoch, micros(u.UpdatedAt), u.ID)
		if isUnique(err) {
			return berth.Errorf(berth.ECONFLICT, "user %q already exists", u.Username)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return berth.NotFound("user", u.ID)
		}
		return nil
	})
	if err != nil {
		return berth.Wrap(err, berth.EINTERNAL, "update user %s", u.ID)
	}
	return nil
}

// ErrLastAdmin answers a change that would leave no admin.
var ErrLastAdmin = berth.Errorf(berth.ECONFLICT, "this is the last admin: make another user admin first")

// keepAnAdmin refuses, inside tx, a change that takes the admin role from
// user id (a demotion or a deletion) when no other admin would remain.
// It locks every admin row (FOR UPDATE on PostgreSQL; SQLite's
// transactions take the write lock at BEGIN), so of two admins demoting
// each other at once the second waits for the first and then sees it gone.
func (s *Store) keepAnAdmin(ctx context.Context, tx *sql.Tx, id string) error {
	lock := ""
	if s.kind == Postgres {
		lock = " FOR UPDATE"
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id FROM users WHERE role = ? ORDER BY id`+lock), string(berth.RoleAdmin))
	if err != nil {
		return err
	}
	defer rows.Close()
	isAdmin, others := false, 0
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return err
		}
		if a == id {
			isAdmin = true
		} else {
			others++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if isAdmin && others == 0 {
		return ErrLastAdmin
	}
	return nil
}

// GetUser returns a user by id. ENOTFOUND if missing.
func (s *Store) GetUser(ctx context.Context, id string) (*berth.User, error) {
	u, err := scanUser(s.rdb.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, berth.NotFound("user", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}

// GetUserByUsername returns a user by username. ENOTFOUND if missing.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*berth.User, error) {
	u, err := scanUser(s.rdb.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE username = ?`), username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, berth.NotFound("user", username)
	}
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", username, err)
	}
	return u, nil
}

// ListUsers returns every user ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]*berth.User, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []*berth.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// DeleteUser removes a user and the user's API keys. ENOTFOUND if missing.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.keepAnAdmin(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM api_keys WHERE user_id = ?`), id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM users WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return berth.NotFound("user", id)
		}
		return nil
	})
	if err != nil {
		return berth.Wrap(err, berth.EINTERNAL, "delete user %s", id)
	}
	return nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

const apiKeyColumns = `id, name, user_id, role, secret_hash, created_at, expires_at, last_used_at` // #nosec G101 -- column names, not a credential

func scanAPIKey(row scanner) (*berth.APIKey, error) {
	var (
		k             berth.APIKey
		role          string
		created       int64
		expires, last sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Name, &k.UserID, &role, &k.SecretHash, &created, &expires, &last); err != nil {
		return nil, err
	}
	k.Role = berth.Role(role)
	k.CreatedAt = fromMicros(created)
	k.ExpiresAt, k.LastUsedAt = fromNullMicros(expires), fromNullMicros(last)
	return &k, nil
}

// CreateAPIKey stores a key; only the hash of its secret is kept.
// ECONFLICT if the ID exists.
func (s *Store) CreateAPIKey(ctx context.Context, k *berth.APIKey) error {
	if k.ID == "" {
		return berth.Invalid("id", "is required")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt = norm(k.CreatedAt), normPtr(k.ExpiresAt), normPtr(k.LastUsedAt)
	hash := k.SecretHash
	if hash == nil {
		hash = []byte{} // the column is NOT NULL
	}
	_, err := s.x(ctx).ExecContext(ctx, s.q(`INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		k.ID, k.Name, k.UserID, string(k.Role), hash, micros(k.CreatedAt), nullMicros(k.ExpiresAt), nullMicros(k.LastUsedAt))
	if isUnique(err) {
		return berth.Errorf(berth.ECONFLICT, "apikey %q already exists", k.ID)
	}
	if err != nil {
		return fmt.Errorf("create apikey %s: %w", k.ID, err)
	}
	return nil
}

// GetAPIKey returns a key by id. ENOTFOUND if missing.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*berth.APIKey, error) {
	k, err := scanAPIKey(s.rdb.QueryRowContext(ctx, s.q(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, berth.NotFound("apikey", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get apikey %s: %w", id, err)
	}
	return k, nil
}

// ListAPIKeys returns the keys of a user ("" = every user), oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, userID string) ([]*berth.APIKey, error) {
	query, args := `SELECT `+apiKeyColumns+` FROM api_keys`, []any{}
	if userID != "" {
		query, args = query+` WHERE user_id = ?`, append(args, userID)
	}
	rows, err := s.rdb.QueryContext(ctx, s.q(query+` ORDER BY created_at, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("list apikeys: %w", err)
	}
	defer rows.Close()
	out := []*berth.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list apikeys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list apikeys: %w", err)
	}
	return out, nil
}

// DeleteAPIKey removes a key. ENOTFOUND if missing.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	res, err := s.x(ctx).ExecContext(ctx, s.q(`DELETE FROM api_keys WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("delete apikey %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete apikey %s: %w", id, err)
	} else if n == 0 {
		return berth.NotFound("apikey", id)
	}
	return nil
}

// TouchAPIKey records the last use of a key. ENOTFOUND if missing.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.x(ctx).ExecContext(ctx, s.q(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`), micros(at), id)
	if err != nil {
		return fmt.Errorf("touch apikey %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("touch apikey %s: %w", id, err)
	} else if n == 0 {
		return berth.NotFound("apikey", id)
	}
	return nil
}

// RevokeToken records a session token id as revoked until it expires, and
// prunes revocations whose tokens have expired anyway.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM revoked_tokens WHERE expires_at < ?`), micros(time.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)
			ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at`), jti, micros(expiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// IsTokenRevoked reports whether a session token id was revoked.
func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.rdb.QueryRowContext(ctx, s.q(`SELECT 1 FROM revoked_tokens WHERE jti = ?`), jti).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check revoked token: %w", err)
	}
	return true, nil
}

// SaveTicket records a WebSocket ticket (by hash) and prunes expired ones.
func (s *Store) SaveTicket(ctx context.Context, hash []byte, a berth.Actor, expiresAt time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM ws_tickets WHERE expires_at <= ?`), micros(time.Now())); err != nil {
			return err
		}
		var sessExp int64
		if !a.Expires.IsZero() {
			sessExp = micros(a.Expires)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO ws_tickets (hash, user_id, username, role, key_id, expires_at,
			session_id, session_epoch, session_expires)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), hash, a.UserID, a.Username, string(a.Role), a.KeyID, micros(expiresAt),
			a.SessionID, a.SessionEpoch, sessExp)
		return err
	})
	if err != nil {
		return fmt.Errorf("save websocket ticket: %w", err)
	}
	return nil
}

// RedeemTicket deletes the ticket and returns its actor when it had not
// expired. One DELETE … RETURNING: of two replicas redeeming the same
// ticket at once, exactly one gets the row.
func (s *Store) RedeemTicket(ctx context.Context, hash []byte, now time.Time) (berth.Actor, bool, error) {
	var a berth.Actor
	var role string
	var exp, sessExp int64
	err := s.x(ctx).QueryRowContext(ctx, s.q(`DELETE FROM ws_tickets WHERE hash = ?
		RETURNING user_id, username, role, key_id, expires_at, session_id, session_epoch, session_expires`), hash).
		Scan(&a.UserID, &a.Username, &role, &a.KeyID, &exp, &a.SessionID, &a.SessionEpoch, &sessExp)
	if errors.Is(err, sql.ErrNoRows) {
		return berth.Actor{}, false, nil
	}
	if err != nil {
		return berth.Actor{}, false, fmt.Errorf("redeem websocket ticket: %w", err)
	}
	if micros(now) >= exp {
		return berth.Actor{}, false, nil
	}
	a.Role = berth.Role(role)
	if sessExp != 0 {
		a.Expires = fromMicros(sessExp)
	}
	return a, true, nil
}
