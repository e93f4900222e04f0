package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/auth"
)

// The environment proxy: environments of proxied targets (local) are served
// only at <publicURL>/env/{id}/ (or {id}.<envDomain>), to their owner and
// admins. Browsers cannot send a bearer header on a navigation, so the
// dashboard asks for a single-use ticket (Open), the proxy exchanges it for
// a cookie session (Redeem), and every proxied request is authorised again
// against the store (Authorize).
const (
	// EnvTicketTTL is how long an opening ticket may wait to be redeemed.
	EnvTicketTTL = time.Minute
	// EnvSessionTTL bounds a proxy cookie session; it also ends with the
	// session token it was opened under.
	EnvSessionTTL = 12 * time.Hour
	// EnvTicketParam is the query parameter that carries a ticket.
	EnvTicketParam = "berth-ticket"
)

// proxied reports whether environments of target are served through the proxy.
func (c *Core) proxied(target string) bool {
	_, ok := c.runtimes[target].(berth.EnvironmentProxier)
	return ok
}

// ProxyURL is where the proxy serves environment id.
func (c *Core) ProxyURL(id string) string {
	if c.envDomain != "" {
		scheme, port := "http", ""
		if u, err := url.Parse(c.publicURL); err == nil && u.Host != "" {
			scheme, port = u.Scheme, u.Port()
		}
		host := id + "." + c.envDomain
		if port != "" {
			host += ":" + port
		}
		return scheme + "://" + host + "/"
	}
	return c.publicURL + "/env/" + id + "/"
}

// EnvDomain is the parent domain of per-environment hosts ("" in path mode).
func (c *Core) EnvDomain() string { return c.envDomain }

// stateURL is the vsCodeUrl an observed state gives env: the proxy's URL on
// proxied targets (never the workspace's own loopback address).
func (c *Core) stateURL(env *berth.Environment, st *berth.EnvironmentState) string {
	if c.proxied(env.Target) {
		return c.ProxyURL(env.ID)
	}
	return st.URL
}

// EnvProxy authorises access to environments through berth's proxy.
type EnvProxy struct {
	c        *Core
	accounts *Accounts
	store    berth.EnvAccessStore
}

// NewEnvProxy returns the proxy's rules over c, the accounts that
// authenticate its grants' credentials and the store of grants.
func NewEnvProxy(c *Core, a *Accounts, st berth.EnvAccessStore) *EnvProxy {
	return &EnvProxy{c: c, accounts: a, store: st}
}

// EnvOpening answers POST /api/v1/environments/{id}/open (api.EnvOpening).
type EnvOpening = api.EnvOpening

// EnvSession is a cookie session of the proxy for one environment.
type EnvSession struct {
	Value     string
	ExpiresAt time.Time
}

// ProxyTarget is what the proxy forwards an authorised request to.
type ProxyTarget struct {
	Env      *berth.Environment
	Actor    berth.Actor
	Upstream berth.Upstream
	// Secret goes to the workspace with every request (the proxy's header).
	Secret string
}

func hashGrant(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

// Open issues a ticket that opens environment id in a browser, bound to the
// caller's credential. Only the owner and admins may open an environment
// (another user's is NOT_FOUND), and only operators and admins at all.
func (p *EnvProxy) Open(ctx context.Context, id, credential string) (*EnvOpening, error) {
	if err := must(ctx); err != nil {
		return nil, err
	}
	env, err := p.c.visible(ctx, id)
	if err != nil {
		return nil, err
	}
	if a := caller(ctx); !a.Role.AtLeast(berth.RoleOperator) {
		return nil, berth.Errorf(berth.EFORBIDDEN, "operator role required to open an environment; you are %s", a.Role)
	}
	if !p.c.proxied(env.Target) {
		if env.VSCodeURL == "" {
			return nil, berth.Errorf(berth.EUNAVAILABLE, "environment %s has no URL yet (status %s)", id, env.Status)
		}
		return &EnvOpening{URL: env.VSCodeURL}, nil
	}
	if credential == "" {
		return nil, berth.Errorf(berth.EUNAUTHORIZED, "missing credential")
	}
	ticket := rand.Text()
	exp := p.c.now().Add(EnvTicketTTL).UTC()
	g := &berth.EnvAccess{Hash: hashGrant(ticket), Kind: berth.EnvAccessTicket, EnvID: id, Credential: credential, ExpiresAt: exp}
	if err := p.store.SaveEnvAccess(ctx, g); err != nil {
		return nil, fmt.Errorf("open environment %s: %w", id, err)
	}
	return &EnvOpening{URL: p.c.ProxyURL(id) + "?" + EnvTicketParam + "=" + ticket, ExpiresAt: &exp, Proxied: true}, nil
}

// Redeem exchanges a ticket for a cookie session of environment id. A
// ticket works once, before it expires, for its own environment only, and
// only while its credential may still open the environment.
func (p *EnvProxy) Redeem(ctx context.Context, id, ticket string) (*EnvSession, error) {
	now := p.c.now()
	g, ok, err := p.store.RedeemEnvTicket(ctx, hashGrant(ticket), now)
	if err != nil {
		return nil, err
	}
	if !ok || g.EnvID != id {
		return nil, berth.Errorf(berth.EUNAUTHORIZED, "invalid or expired ticket: open the environment from the dashboard again")
	}
	if _, err := p.authorize(ctx, id, g.Credential); err != nil {
		return nil, err
	}
	s := &EnvSession{Value: rand.Text() + rand.Text(), ExpiresAt: now.Add(EnvSessionTTL).UTC()}
	if ce := p.credentialExpiry(ctx, g.Credential); !ce.IsZero() && ce.Before(s.ExpiresAt) {
		s.ExpiresAt = ce.UTC()
	}
	sg := &berth.EnvAccess{Hash: hashGrant(s.Value), Kind: berth.EnvAccessSession, EnvID: id, Credential: g.Credential, ExpiresAt: s.ExpiresAt}
	if err := p.store.SaveEnvAccess(ctx, sg); err != nil {
		return nil, fmt.Errorf("open environment %s: %w", id, err)
	}
	return s, nil
}

// Authorize checks one proxied request to environment id, made with a
// bearer credential (CLI, curl) or else a cookie session, and answers where
// to forward it. Every call authenticates the credential again, so logout,
// user deletion and role changes take effect at once.
func (p *EnvProxy) Authorize(ctx context.Context, id, session, bearer string) (*ProxyTarget, error) {
	cred := bearer
	if cred == "" {
		if session == "" {
			return nil, berth.Errorf(berth.EUNAUTHORIZED, "missing credential: open the environment from the dashboard, or send Authorization: Bearer")
		}
		g, ok, err := p.store.GetEnvSession(ctx, hashGrant(session), p.c.now())
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, berth.Errorf(berth.EUNAUTHORIZED, "session ended: open the environment from the dashboard again")
		}
		if g.EnvID != id {
			// A session of another environment says nothing about this one.
			return nil, berth.NotFound("environment", id)
		}
		cred = g.Credential
	}
	return p.authorize(ctx, id, cred)
}

func (p *EnvProxy) authorize(ctx context.Context, id, cred string) (*ProxyTarget, error) {
	a, err := p.accounts.Authenticate(ctx, cred)
	if err != nil {
		if berth.IsCode(err, berth.EUNAUTHORIZED) {
			return nil, berth.Errorf(berth.EUNAUTHORIZED, "session ended: log in and open the environment from the dashboard again")
		}
		return nil, err
	}
	// The role first, as on every route: a viewer learns nothing of which
	// environments exist.
	if !a.Role.AtLeast(berth.RoleOperator) {
		return nil, berth.Errorf(berth.EFORBIDDEN, "operator role required to open an environment; you are %s", a.Role)
	}
	ctx = berth.WithActor(ctx, a)
	env, err := p.c.visible(ctx, id)
	if err != nil {
		return nil, err
	}
	px, ok := p.c.runtimes[env.Target].(berth.EnvironmentProxier)
	if !ok {
		return nil, berth.Errorf(berth.ENOTSUPPORTED, "environment %s on target %s is served at its own URL (vsCodeUrl), not through berth", id, env.Target)
	}
	if p.c.proxySecret == nil {
		return nil, berth.Errorf(berth.EUNAVAILABLE, "the environment proxy is not configured on this server")
	}
	up, err := px.EnvironmentUpstream(ctx, env)
	if err != nil {
		return nil, err
	}
	return &ProxyTarget{Env: env, Actor: a, Upstream: up, Secret: p.c.proxySecret(id)}, nil
}

// credentialExpiry is when cred stops working by itself (zero: never).
func (p *EnvProxy) credentialExpiry(ctx context.Context, cred string) time.Time {
	if auth.IsAPIKey(cred) {
		if id, _, ok := auth.ParseAPIKey(cred); ok {
			if k, err := p.accounts.Store.GetAPIKey(ctx, id); err == nil && k.ExpiresAt != nil {
				return *k.ExpiresAt
			}
		}
		return time.Time{}
	}
	if claims, err := p.accounts.Tokens.Verify(cred); err == nil && claims.ExpiresAt != nil {
		return claims.ExpiresAt.Time
	}
	return time.Time{}
}

// PublicURL is berth's own URL (where the dashboard is).
func (c *Core) PublicURL() string { return c.publicURL }

// Secure reports whether berth is served over https (cookies get Secure).
func (p *EnvProxy) Secure() bool { return strings.HasPrefix(p.c.publicURL, "https://") }

// Core is the core the proxy's rules read.
func (p *EnvProxy) Core() *Core { return p.c }
