package berth

import (
	"context"
	"time"
)

// ChatConfirm is a mutation the chat has proposed and not yet done: the
// exact action (encoded by package chat), whom it is for and until when.
// Only the SHA-256 of its token is stored, and the action is sealed at rest
// (a generated spec may hold placeholders a user then fills in).
type ChatConfirm struct {
	Hash      []byte
	UserID    string
	Action    []byte
	Summary   string
	ExpiresAt time.Time
}

// ChatConfirmStore keeps pending chat confirmations where every replica of
// berth sees them: a client may ask one replica and confirm on another.
type ChatConfirmStore interface {
	// SaveChatConfirm records c and prunes expired confirmations.
	SaveChatConfirm(ctx context.Context, c *ChatConfirm) error
	// RedeemChatConfirm consumes the confirmation with this hash for userID:
	// the first call before it expires gets it and true; a later call, one
	// after expiry, or one by another user gets false (another user's call
	// leaves it to its owner).
	RedeemChatConfirm(ctx context.Context, hash []byte, userID string, now time.Time) (*ChatConfirm, bool, error)
}
