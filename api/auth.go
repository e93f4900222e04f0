package api

import (
	"time"

	"github.com/berthhq/berth"
)

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResult is the answer of POST /api/v1/auth/login: a session token.
type LoginResult struct {
	Token     string     `json:"token"`
	ExpiresAt time.Time  `json:"expiresAt"`
	User      berth.User `json:"user"`
}

// Me is the answer of GET /api/v1/auth/me: the caller's user, the role the
// credential grants and, for an API key, its id.
type Me struct {
	User  *berth.User `json:"user"`
	Role  berth.Role  `json:"role"`
	KeyID string      `json:"keyId,omitempty"`
}

// WSTicket is the answer of POST /api/v1/ws-ticket: a single-use ticket for
// /ws?ticket= (browsers cannot set headers on a WebSocket).
type WSTicket struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expiresAt"`
}
