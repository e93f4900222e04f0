package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/berthhq/berth"
)

// SaveEnvAccess records a proxy grant (ticket or session) by hash, with its
// credential sealed, and prunes expired grants.
func (s *Store) SaveEnvAccess(ctx context.Context, g *berth.EnvAccess) error {
	if len(g.Hash) == 0 || g.EnvID == "" || g.Credential == "" {
		return fmt.Errorf("save environment access: hash, environment and credential are required")
	}
	sealed, err := s.seal([]byte(g.Credential))
	if err != nil {
		return fmt.Errorf("save environment access: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM env_access WHERE expires_at <= ?`), micros(time.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO env_access (hash, kind, env_id, credential, expires_at)
			VALUES (?, ?, ?, ?, ?)`), g.Hash, g.Kind, g.EnvID, sealed, micros(g.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("save environment access: %w", err)
	}
	return nil
}

func (s *Store) scanEnvAccess(row scanner, hash []byte, kind string) (*berth.EnvAccess, error) {
	g := &berth.EnvAccess{Hash: hash, Kind: kind}
	var sealed []byte
	var exp int64
	if err := row.Scan(&g.EnvID, &sealed, &exp); err != nil {
		return nil, err
	}
	cred, err := s.open(sealed)
	if err != nil {
		return nil, err
	}
	g.Credential, g.ExpiresAt = string(cred), fromMicros(exp)
	return g, nil
}

// RedeemEnvTicket deletes the ticket and returns it when it had not
// expired. One DELETE … RETURNING: of two replicas redeeming the same
// ticket at once, exactly one gets the row.
func (s *Store) RedeemEnvTicket(ctx context.Context, hash []byte, now time.Time) (*berth.EnvAccess, bool, error) {
	g, err := s.scanEnvAccess(s.x(ctx).QueryRowContext(ctx, s.q(`DELETE FROM env_access WHERE hash = ? AND kind = ?
		RETURNING env_id, credential, expires_at`), hash, berth.EnvAccessTicket), hash, berth.EnvAccessTicket)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redeem environment ticket: %w", err)
	}
	if !now.Before(g.ExpiresAt) {
		return nil, false, nil
	}
	return g, true, nil
}

// GetEnvSession returns the session grant with this hash unless it expired.
func (s *Store) GetEnvSession(ctx context.Context, hash []byte, now time.Time) (*berth.EnvAccess, bool, error) {
	g, err := s.scanEnvAccess(s.rdb.QueryRowContext(ctx, s.q(`SELECT env_id, credential, expires_at FROM env_access
		WHERE hash = ? AND kind = ? AND expires_at > ?`), hash, berth.EnvAccessSession, micros(now)), hash, berth.EnvAccessSession)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get environment session: %w", err)
	}
	return g, true, nil
}
