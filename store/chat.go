package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/berthhq/berth"
)

// SaveChatConfirm records a pending chat action by the hash of its token,
// the action sealed, and prunes expired ones.
func (s *Store) SaveChatConfirm(ctx context.Context, c *berth.ChatConfirm) error {
	if len(c.Hash) == 0 || c.UserID == "" || len(c.Action) == 0 {
		return fmt.Errorf("save chat confirmation: hash, user and action are required")
	}
	sealed, err := s.seal(c.Action)
	if err != nil {
		return fmt.Errorf("save chat confirmation: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM chat_confirms WHERE expires_at <= ?`), micros(time.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO chat_confirms (hash, user_id, action, summary, expires_at)
			VALUES (?, ?, ?, ?, ?)`), c.Hash, c.UserID, sealed, c.Summary, micros(c.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("save chat confirmation: %w", err)
	}
	return nil
}

// RedeemChatConfirm deletes the user's confirmation with this hash and
// returns it when it had not expired. One DELETE … RETURNING: of two
// replicas redeeming the same token at once, exactly one gets the row; a
// call by another user matches no row and leaves it.
func (s *Store) RedeemChatConfirm(ctx context.Context, hash []byte, userID string, now time.Time) (*berth.ChatConfirm, bool, error) {
	c := &berth.ChatConfirm{Hash: hash, UserID: userID}
	var sealed []byte
	var exp int64
	err := s.x(ctx).QueryRowContext(ctx, s.q(`DELETE FROM chat_confirms WHERE hash = ? AND user_id = ?
		RETURNING action, summary, expires_at`), hash, userID).Scan(&sealed, &c.Summary, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redeem chat confirmation: %w", err)
	}
	if micros(now) >= exp {
		return nil, false, nil
	}
	if c.Action, err = s.open(sealed); err != nil {
		return nil, false, fmt.Errorf("redeem chat confirmation: %w", err)
	}
	c.ExpiresAt = fromMicros(exp)
	return c, true, nil
}
