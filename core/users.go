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
//
// A session ends when its user's password or role changes or the user is
// deleted: tokens carry the user's session epoch, which such a change
// raises, and a revocation event tells every replica's WebSocket hub to
// close that user's connections. A role change applies to the user's API
// keys at once (a key never acts above its user). A password change does
// not revoke API keys: they are separate credentials of programs, each
// listed and deleted on its own (DELETE /api/v1/apikeys/{id}), and rotating
// a password must not break every integration; deleting the user does
// revoke them.
type Accounts struct {
	Store  berth.UserStore
	Tokens *auth.Tokens
	Now    func() time.Time
	// Events carries revocations to the WebSocket hubs of every replica
	// (nil: none; connections then end at their next periodic check).
	Events berth.Publisher
	// LoginFailures slows down bad passwords per username, whether the
	// user exists or not (nil: no limit).
	LoginFailures *auth.Limiter
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
	// The first admin is berth's own doing.
	if _, err := a.CreateUser(berth.WithActor(ctx, berth.System), "admin", password, berth.RoleAdmin); err != nil {
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
	// Bad passwords count per username, known or not, so that the limit
	// says nothing about which usernames exist.
	limitKey := "login:" + strings.ToLower(username)
	if a.LoginFailures != nil {
		if wait := a.LoginFailures.Wait(limitKey); wait > 0 {
			return "", time.Time{}, nil, auth.Limited(wait, "too many failed logins for this username")
		}
	}
	failed := func() (string, time.Time, *berth.User, error) {
		if a.LoginFailures != nil {
			a.LoginFailures.Spend(limitKey)
		}
		return "", time.Time{}, nil, bad
	}
	u, err := a.Store.GetUserByUsername(ctx, username)
	if err != nil {
		if berth.IsCode(err, berth.ENOTFOUND) {
			// Spend the same time as a real check so usernames cannot be probed.
			auth.CheckPassword(dummyHash, password)
			return failed()
		}
		return "", time.Time{}, nil, fmt.Errorf("login %s: %w", username, err)
	}
	if !auth.CheckPassword(u.PasswordHash, password) {
		return failed()
	}
	tok, claims, err := a.Tokens.Issue(u)
	if err != nil {
		return "", time.Time{}, nil, fmt.Errorf("login %s: %w", username, err)
	}
	return tok, claims.ExpiresAt.Time, u, nil
}

var dummyHash, _ = auth.HashPassword("not-a-real-password")

// Logout revokes a session token until it would have expired. A caller
// authenticated by an API key has no session to end.
func (a *Accounts) Logout(ctx context.Context, token string) error {
	if act, ok := berth.ActorFrom(ctx); ok && act.KeyID != "" {
		return berth.Invalid("Authorization", "an API key cannot log out: delete the key instead")
	}
	claims, err := a.Tokens.Verify(token)
	if err != nil {
		return err
	}
	if err := a.Store.RevokeToken(ctx, claims.ID, claims.ExpiresAt.Time); err != nil {
		return err
	}
	a.revoked(ctx, berth.Revocation{UserID: claims.Subject, SessionID: claims.ID, Reason: "logged out"})
	return nil
}

// revoked tells every replica's WebSocket hub that credentials ended.
func (a *Accounts) revoked(ctx context.Context, r berth.Revocation) {
	if a.Events != nil {
		a.Events.Publish(ctx, berth.Event{Topic: berth.TopicSessions, Type: "credentials.revoked", Owner: r.UserID, Data: r})
	}
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
		// Record use at most once a minute: it is a write on a hot path.
		if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
			_ = a.Store.TouchAPIKey(ctx, k.ID, now.UTC())
		}
		act := berth.Actor{UserID: u.ID, Username: u.Username, Role: keyRole(k, u), KeyID: k.ID}
		if k.ExpiresAt != nil {
			act.Expires = *k.ExpiresAt
		}
		return act, nil
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
	// The user comes from the store, not the token: a deleted user, or one
	// whose password or role changed since (a new epoch), has no session.
	u, err := a.Store.GetUser(ctx, claims.Subject)
	if err != nil || u.SessionEpoch != claims.Epoch {
		return berth.Actor{}, unauth
	}
	return berth.Actor{UserID: u.ID, Username: u.Username, Role: u.Role,
		SessionID: claims.ID, SessionEpoch: claims.Epoch, Expires: claims.ExpiresAt.Time}, nil
}

// keyRole is what a key may do: its own role, never above its user's (a
// demoted user's keys lose what the user lost).
func keyRole(k *berth.APIKey, u *berth.User) berth.Role {
	if !u.Role.AtLeast(k.Role) {
		return u.Role
	}
	return k.Role
}

// Check tells whether the credential an actor was authenticated with still
// holds, as Authenticate would answer it now: UNAUTHORIZED when it expired,
// was revoked (logout, a deleted key or user, a new session epoch) or acts
// with another role than it did. Long-lived connections call it
// periodically. Other errors (the store is down) say nothing about the
// credential.
func (a *Accounts) Check(ctx context.Context, act berth.Actor) error {
	gone := func(why string) error {
		return berth.Errorf(berth.EUNAUTHORIZED, "credential %s: authenticate again", why)
	}
	if !act.Expires.IsZero() && !a.now().Before(act.Expires) {
		return gone("expired")
	}
	u, err := a.Store.GetUser(ctx, act.UserID)
	if berth.IsCode(err, berth.ENOTFOUND) {
		return gone("revoked (user deleted)")
	}
	if err != nil {
		return fmt.Errorf("check credential of %s: %w", act.UserID, err)
	}
	role := u.Role
	if act.KeyID != "" {
		k, err := a.Store.GetAPIKey(ctx, act.KeyID)
		if berth.IsCode(err, berth.ENOTFOUND) || (err == nil && k.UserID != u.ID) {
			return gone("revoked (API key deleted)")
		}
		if err != nil {
			return fmt.Errorf("check API key %s: %w", act.KeyID, err)
		}
		role = keyRole(k, u)
	} else {
		if u.SessionEpoch != act.SessionEpoch {
			return gone("revoked (password or role changed)")
		}
		if act.SessionID != "" {
			revoked, err := a.Store.IsTokenRevoked(ctx, act.SessionID)
			if err != nil {
				return fmt.Errorf("check session: %w", err)
			}
			if revoked {
				return gone("revoked (logged out)")
			}
		}
	}
	if role != act.Role {
		return gone("revoked (role changed)")
	}
	return nil
}

// manageUsers answers whether the caller may manage users: admins only
// (the route table says so too; this is the rule).
func manageUsers(ctx context.Context) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if a.Role != berth.RoleAdmin {
		return berth.Errorf(berth.EFORBIDDEN, "only an admin may manage users; you are %s", a.Role)
	}
	return nil
}

// GetUser answers a user: any for an admin, else only the caller.
func (a *Accounts) GetUser(ctx context.Context, id string) (*berth.User, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.UserID != id {
		if err := manageUsers(ctx); err != nil {
			return nil, err
		}
	}
	return a.Store.GetUser(ctx, id)
}

// ListUsers lists every user (admins only).
func (a *Accounts) ListUsers(ctx context.Context) ([]*berth.User, error) {
	if err := manageUsers(ctx); err != nil {
		return nil, err
	}
	users, err := a.Store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	if users == nil {
		users = []*berth.User{}
	}
	return users, nil
}

// CreateUser adds a user (a viewer unless role says otherwise).
func (a *Accounts) CreateUser(ctx context.Context, username, password string, role berth.Role) (*berth.User, error) {
	if err := manageUsers(ctx); err != nil {
		return nil, err
	}
	username = strings.TrimSpace(username)
	if err := berth.ValidateDNSLabel("username", username); err != nil {
		return nil, err
	}
	if role == "" {
		role = berth.RoleViewer
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

// UpdateUser changes a user's role and/or password. Either change ends the
// user's sessions (on every replica, WebSockets included); a role change
// applies to the user's API keys at once. The last admin cannot be demoted
// (CONFLICT, checked atomically by the store).
func (a *Accounts) UpdateUser(ctx context.Context, id string, role berth.Role, password string) (*berth.User, error) {
	if err := manageUsers(ctx); err != nil {
		return nil, err
	}
	if role != "" && !role.Valid() {
		return nil, berth.Invalid("role", "%q is not one of viewer, operator, admin", role)
	}
	if password != "" {
		if err := auth.ValidatePassword(password); err != nil {
			return nil, err
		}
	}
	u, err := a.Store.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	var why []string
	roleChanged := role != "" && role != u.Role
	if roleChanged {
		u.Role = role
		why = append(why, "role changed")
	}
	if password != "" {
		if u.PasswordHash, err = auth.HashPassword(password); err != nil {
			return nil, fmt.Errorf("update user %s: %w", id, err)
		}
		why = append(why, "password changed")
	}
	if len(why) > 0 {
		u.SessionEpoch++
	}
	u.UpdatedAt = a.now().UTC()
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		if berth.IsCode(err, berth.ECONFLICT) && roleChanged && role != berth.RoleAdmin {
			return nil, berth.Errorf(berth.ECONFLICT, "user %s is the last admin: make another user admin before changing its role", u.Username)
		}
		return nil, err
	}
	if len(why) > 0 {
		// A new password alone leaves API keys (and their connections) be;
		// a new role may change what a key may do, so those end too.
		a.revoked(ctx, berth.Revocation{UserID: u.ID, SessionsOnly: !roleChanged,
			Reason: strings.Join(why, ", ")})
	}
	return u, nil
}

// DeleteUser removes a user and the user's API keys, and ends the user's
// sessions and WebSockets. The last admin cannot be deleted (CONFLICT,
// checked atomically by the store).
func (a *Accounts) DeleteUser(ctx context.Context, id string) error {
	if err := manageUsers(ctx); err != nil {
		return err
	}
	u, err := a.Store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if act, ok := berth.ActorFrom(ctx); ok && act.UserID == id {
		// Nobody deletes themselves (another admin may); the last admin
		// hears the reason that matters more.
		if last, err := a.lastAdmin(ctx, u); err == nil && last {
			return berth.Errorf(berth.ECONFLICT, "user %s is the last admin: make another user admin first (and you cannot delete yourself)", u.Username)
		}
		return berth.Invalid("id", "you cannot delete yourself")
	}
	if err := a.Store.DeleteUser(ctx, id); err != nil {
		if berth.IsCode(err, berth.ECONFLICT) {
			return berth.Errorf(berth.ECONFLICT, "user %s is the last admin: make another user admin before deleting it", u.Username)
		}
		return err
	}
	a.revoked(ctx, berth.Revocation{UserID: id, Reason: "user deleted"})
	return nil
}

// lastAdmin reports whether u is the only admin (for messages; the store
// enforces the rule atomically).
func (a *Accounts) lastAdmin(ctx context.Context, u *berth.User) (bool, error) {
	if u.Role != berth.RoleAdmin {
		return false, nil
	}
	users, err := a.Store.ListUsers(ctx)
	if err != nil {
		return false, err
	}
	for _, o := range users {
		if o.Role == berth.RoleAdmin && o.ID != u.ID {
			return false, nil
		}
	}
	return true, nil
}

// CreateAPIKey makes a key for the caller, with a role no higher than the
// caller's. It answers the key record and the full key, shown once.
func (a *Accounts) CreateAPIKey(ctx context.Context, name string, role berth.Role, expiresInDays int) (*berth.APIKey, string, error) {
	if err := must(ctx); err != nil {
		return nil, "", err
	}
	act := caller(ctx)
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
	if err := must(ctx); err != nil {
		return nil, err
	}
	act := caller(ctx)
	uid := act.UserID
	if act.Role == berth.RoleAdmin {
		uid = ""
	}
	return a.Store.ListAPIKeys(ctx, uid)
}

// DeleteAPIKey revokes a key of the caller's (an admin may revoke any).
func (a *Accounts) DeleteAPIKey(ctx context.Context, id string) error {
	if err := must(ctx); err != nil {
		return err
	}
	act := caller(ctx)
	k, err := a.Store.GetAPIKey(ctx, id)
	if err != nil || (act.Role != berth.RoleAdmin && k.UserID != act.UserID) {
		return berth.NotFound("apikey", id)
	}
	if err := a.Store.DeleteAPIKey(ctx, id); err != nil {
		return err
	}
	a.revoked(ctx, berth.Revocation{UserID: k.UserID, KeyID: id, Reason: "API key deleted"})
	return nil
}
