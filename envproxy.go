package berth

import (
	"context"
	"time"
)

// Upstream is where berth's environment proxy reaches a workspace: a
// network ("tcp", "unix") and an address, as net.Dial takes them.
type Upstream struct {
	Network string
	Address string
}

// EnvironmentProxier is the optional capability of runtimes whose
// environments are served only through berth's authenticated proxy
// (/env/{id}/…): the local runtime, whose workspaces listen on this host.
// Runtimes without it publish their own URL (an Ingress, a public IP) and
// protect it themselves (codeServerPassword).
type EnvironmentProxier interface {
	// EnvironmentUpstream answers where the running environment listens;
	// EUNAVAILABLE when it does not run.
	EnvironmentUpstream(ctx context.Context, env *Environment) (Upstream, error)
}

// EnvAccess kinds: a single-use ticket the dashboard hands to the browser,
// and the cookie session the proxy exchanges it for.
const (
	EnvAccessTicket  = "ticket"
	EnvAccessSession = "session"
)

// EnvAccess is a grant to reach one environment through the proxy, stored
// by the SHA-256 of its value. Credential is the bearer credential it was
// issued under (sealed at rest): every use authenticates it again, so a
// logout, a deleted user or a lost role ends the grant.
type EnvAccess struct {
	Hash       []byte
	Kind       string
	EnvID      string
	Credential string
	ExpiresAt  time.Time
}

// EnvAccessStore keeps proxy grants where every replica sees them.
type EnvAccessStore interface {
	// SaveEnvAccess records a grant and prunes expired ones.
	SaveEnvAccess(ctx context.Context, g *EnvAccess) error
	// RedeemEnvTicket consumes a ticket atomically: the first call before it
	// expires gets it and true; every later call, or one after expiry, false.
	RedeemEnvTicket(ctx context.Context, hash []byte, now time.Time) (*EnvAccess, bool, error)
	// GetEnvSession returns an unexpired session grant.
	GetEnvSession(ctx context.Context, hash []byte, now time.Time) (*EnvAccess, bool, error)
}
