package berth

import (
	"context"
	"time"
)

// Role orders what a caller may do: viewer < operator < admin.
type Role string

const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

var roleRank = map[Role]int{RoleViewer: 1, RoleOperator: 2, RoleAdmin: 3}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// AtLeast reports whether r grants at least what min grants.
func (r Role) AtLeast(min Role) bool { return roleRank[r] >= roleRank[min] && roleRank[r] > 0 }

// User is a person or a system (an app with API keys) that calls berth.
type User struct {
	ID           string `json:"id"`
	Username     string `json:"username"`
	Role         Role   `json:"role"`
	PasswordHash string `json:"-"`
	// SessionEpoch is stamped into every session token issued to the user;
	// raising it (a password or role change) ends every earlier session.
	SessionEpoch int64     `json:"-"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// APIKey is a long-lived credential of a user: "brt_<id>_<secret>". Only a
// hash of the secret is stored. A key acts with its own role, which is never
// above its user's.
type APIKey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	UserID     string     `json:"userId"`
	Role       Role       `json:"role"`
	SecretHash []byte     `json:"-"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
}

// Actor is the authenticated caller of a request.
type Actor struct {
	UserID   string `json:"userId"`
	Username string `json:"username"`
	Role     Role   `json:"role"`
	KeyID    string `json:"keyId,omitempty"` // set when authenticated by API key

	// The credential behind the actor, so a long-lived connection (a
	// WebSocket) can check it again: the session token's id and epoch, and
	// when the token or key expires (zero: never). Never shown to clients.
	SessionID    string    `json:"-"`
	SessionEpoch int64     `json:"-"`
	Expires      time.Time `json:"-"`
}

// System is the actor of berth's own background loops (auto-stop, reconcile).
var System = Actor{UserID: "system", Username: "system", Role: RoleAdmin}

type actorKey struct{}

// WithActor returns a context carrying the caller.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the caller carried by ctx.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// UserStore keeps users, API keys and revoked session tokens.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error // ECONFLICT on duplicate username
	UpdateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	// DeleteUser also deletes the user's keys. UpdateUser and DeleteUser
	// answer ECONFLICT rather than leave no admin, checked in the same
	// transaction as the change.
	DeleteUser(ctx context.Context, id string) error
	CountUsers(ctx context.Context) (int, error)

	CreateAPIKey(ctx context.Context, k *APIKey) error
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	ListAPIKeys(ctx context.Context, userID string) ([]*APIKey, error) // "" = all
	DeleteAPIKey(ctx context.Context, id string) error
	TouchAPIKey(ctx context.Context, id string, at time.Time) error

	// RevokeToken records a session token id (JWT jti) as logged out until it expires.
	RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error
	IsTokenRevoked(ctx context.Context, jti string) (bool, error)
}

// TicketStore keeps single-use WebSocket tickets where every replica of
// berth sees them (a browser may get one from one replica and connect to
// another). Tickets are stored by hash, never in the clear.
type TicketStore interface {
	// SaveTicket records a ticket for a until expiresAt, pruning expired ones.
	SaveTicket(ctx context.Context, hash []byte, a Actor, expiresAt time.Time) error
	// RedeemTicket consumes a ticket: the first call before it expires gets
	// its actor and true; every later call, or one after expiry, gets false.
	RedeemTicket(ctx context.Context, hash []byte, now time.Time) (Actor, bool, error)
}
