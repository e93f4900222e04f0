package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
)

// Accounts handles users, sessions and API keys.
type Accounts struct {
	Store  berth.UserStore
	Tokens *auth.Tokens
	Now    func() time.Time
}

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Bootstrap creates the first admin when there is no user yet. It answers
// the generated password ("" when password was given or users exist).
func (a *Accounts) Bootstrap(ctx context.Context, password string) (string, error) {
	n, err := a.Store.CountUsers(ctx)
	if err != nil {
		return "", fmt.Errorf("bootstrap admin: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	generated := ""
	if password == "" {
		password = auth.GeneratePassword()
		generated = password
	} else if err := auth.ValidatePassword(password); err != nil {
		return "", fmt.Errorf("bootstrap admin: BERTH_ADMIN_PASSWORD: %s", berth.ErrorMessage(err))
	}
	if _, err := a.CreateUser(ctx, "admin", password, berth.RoleAdmin); err != nil {
		return "", fmt.Errorf("bootstrap admin: %w", err)
	}
	return generated, nil
}

// Login checks a username and password and issues a session token.
func (a *Accounts) Login(ctx context.Context, username, password string) (string, time.Time, *berth.User, error) {
	bad := berth.Errorf(berth.EUNAUTHORIZED, "invalid username or password")
	if username == "" || password == "" {
		return "", time.Time{}, nil, bad
	}
	u, err := a.Store.GetUserByUsername(ctx, username)
	if err != nil {
		if berth.IsCode(err, berth.ENOTFOUND) {
			// Spend the same time as a real check so usernames cannot be probed.
			auth.CheckPassword(dummyHash, password)
			return "", time.Time{}, nil, bad
		}
		return "", time.Time{}, nil, fmt.Errorf("login %s: %w", username, err)
	}
	if !auth.CheckPassword(u.PasswordHash, password) {
		return "", time.Time{}, nil, bad
	}
	tok, claims, err := a.Tokens.Issue(u)
	if err != nil {
		return "", time.Time{}, nil, fmt.Errorf("login %s: %w", username, err)
	}
	return tok, claims.ExpiresAt.Time, u, nil
}

var dummyHash, _ = auth.HashPassword("not-a-real-password")

// Logout revokes a session token until it would have expired.
func (a *Accounts) Logout(ctx context.Context, token string) error {
	claims, err := a.Tokens.Verify(token)
	if err != nil {
		return err
	}
	return a.Store.RevokeToken(ctx, claims.ID, claims.ExpiresAt.Time)
}

// Authenticate turns a bearer credential (session token or API key) into the actor.
func (a *Accounts) Authenticate(ctx context.Context, credential string) (berth.Actor, error) {
	unauth := berth.Errorf(berth.EUNAUTHORIZED, "invalid or expired credential")
	if auth.IsAPIKey(credential) {
		id, secret, ok := auth.ParseAPIKey(credential)
		if !ok {
			return berth.Actor{}, unauth
		}
		k, err := a.Store.GetAPIKey(ctx, id)
		if err != nil || !auth.VerifySecret(k.SecretHash, secret) {
			return berth.Actor{}, unauth
		}
		now := a.now()
		if k.ExpiresAt != nil && now.After(*k.ExpiresAt) {
			return berth.Actor{}, unauth
		}
		u, err := a.Store.GetUser(ctx, k.UserID)
		if err != nil {
			return berth.Actor{}, unauth
		}
		role := k.Role
		if !u.Role.AtLeast(role) {
			role = u.Role // a demoted user's keys lose what the user lost
		}
		// Record use at most once a minute: it is a write on a hot path.
		if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
			_ = a.Store.TouchAPIKey(ctx, k.ID, now.UTC())
		}
		return berth.Actor{UserID: u.ID, Username: u.Username, Role: role, KeyID: k.ID}, nil
	}
	claims, err := a.Tokens.Verify(credential)
	if err != nil {
		return berth.Actor{}, unauth
	}
	revoked, err := a.Store.IsTokenRevoked(ctx, claims.ID)
	if err != nil {
		return berth.Actor{}, fmt.Errorf("check session: %w", err)
	}
	if revoked {
		return berth.Actor{}, unauth
	}
	// The role comes from the store, not the token, so a demotion or a
	// deleted user takes effect at once.
	u, err := a.Store.GetUser(ctx, claims.Subject)
	if err != nil {
		return berth.Actor{}, unauth
	}
	return berth.Actor{UserID: u.ID, Username: u.Username, Role: u.Role}, nil
}

// CreateUser adds a user.
func (a *Accounts) CreateUser(ctx context.Context, username, password string, role berth.Role) (*berth.User, error) {
	username = strings.TrimSpace(username)
	if err := berth.ValidateDNSLabel("username", username); err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, berth.Invalid("role", "%q is not one of viewer, operator, admin", role)
	}
	if err := auth.ValidatePassword(password); err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", username, err)
	}
	now := a.now().UTC()
	u := &berth.User{ID: auth.NewID("usr"), Username: username, Role: role, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := a.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateUser changes a user's role and/or password.
func (a *Accounts) UpdateUser(ctx context.Context, id string, role berth.Role, password string) (*berth.User, error) {
	u, err := a.Store.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	if role != "" {
		if !role.Valid() {
			return nil, berth.Invalid("role", "%q is not one of viewer, operator, admin", role)
		}
		u.Role = role
	}
	if password != "" {
		if err := auth.ValidatePassword(password); err != nil {
			return nil, err
		}
		if u.PasswordHash, err = auth.HashPassword(password); err != nil {
			return nil, fmt.Errorf("update user %s: %w", id, err)
		}
	}
	u.UpdatedAt = a.now().UTC()
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// CreateAPIKey makes a key for the caller, with a role no higher than the
// caller's. It answers the key record and the full key, shown once.
func (a *Accounts) CreateAPIKey(ctx context.Context, name string, role berth.Role, expiresInDays int) (*berth.APIKey, string, error) {
	act := actor(ctx)
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 63 {
		return nil, "", berth.Invalid("name", "is required (at most 63 characters)")
	}
	if role == "" {
		role = act.Role
	}
	if !role.Valid() {
		return nil, "", berth.Invalid("role", "%q is not one of viewer, operator, admin", role)
	}
	if !act.Role.AtLeast(role) {
		return nil, "", berth.Errorf(berth.EFORBIDDEN, "role: a %s cannot create a %s key", act.Role, role)
	}
	if expiresInDays < 0 || expiresInDays > 3650 {
		return nil, "", berth.Invalid("expiresInDays", "must be between 0 (never) and 3650")
	}
	id, secret, full, err := auth.NewAPIKey()
	if err != nil {
		return nil, "", fmt.Errorf("create api key: %w", err)
	}
	now := a.now().UTC()
	k := &berth.APIKey{ID: id, Name: name, UserID: act.UserID, Role: role, SecretHash: auth.HashSecret(secret), CreatedAt: now}
	if expiresInDays > 0 {
		exp := now.Add(time.Duration(expiresInDays) * 24 * time.Hour)
		k.ExpiresAt = &exp
	}
	if err := a.Store.CreateAPIKey(ctx, k); err != nil {
		return nil, "", fmt.Errorf("create api key: %w", err)
	}
	return k, full, nil
}

// ListAPIKeys lists the caller's keys (an admin sees every key).
func (a *Accounts) ListAPIKeys(ctx context.Context) ([]*berth.APIKey, error) {
	act := actor(ctx)
	uid := act.UserID
	if act.Role == berth.RoleAdmin {
		uid = ""
	}
	return a.Store.ListAPIKeys(ctx, uid)
}

// DeleteAPIKey revokes a key of the caller's (an admin may revoke any).
func (a *Accounts) DeleteAPIKey(ctx context.Context, id string) error {
	act := actor(ctx)
	k, err := a.Store.GetAPIKey(ctx, id)
	if err != nil || (act.Role != berth.RoleAdmin && k.UserID != act.UserID) {
		return berth.NotFound("apikey", id)
	}
	return a.Store.DeleteAPIKey(ctx, id)
}
