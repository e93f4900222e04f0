package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/berthhq/berth"
	"github.com/golang-jwt/jwt/v5"
)

const (
	// Issuer and Audience of berth session tokens; both are checked on Verify
	// so a token minted for another system with the same key is refused.
	Issuer   = "berth"
	Audience = "berth-api"

	// DefaultTokenTTL is the lifetime of a session token.
	DefaultTokenTTL = time.Hour
)

// Claims are the claims of a berth session token. Subject is the user id,
// ID (jti) identifies the token for logout.
type Claims struct {
	jwt.RegisteredClaims
	Username string     `json:"username"`
	Role     berth.Role `json:"role"`
	// Epoch is the user's session epoch when the token was issued; a token
	// whose epoch is not the user's current one is refused (Accounts).
	Epoch int64 `json:"sep,omitempty"`
}

// Tokens issues and verifies session tokens signed with HS256.
type Tokens struct {
	Key []byte           // use secret.DeriveKey(master, "jwt")
	TTL time.Duration    // 0: DefaultTokenTTL
	Now func() time.Time // nil: time.Now
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tokens) ttl() time.Duration {
	if t.TTL > 0 {
		return t.TTL
	}
	return DefaultTokenTTL
}

// minKeyLen refuses keys too short for HMAC-SHA256 to be any good.
const minKeyLen = 32

// Issue returns a signed session token for u and its claims.
func (t *Tokens) Issue(u *berth.User) (string, *Claims, error) {
	if len(t.Key) < minKeyLen {
		return "", nil, fmt.Errorf("issue token: signing key must be at least %d bytes", minKeyLen)
	}
	if u == nil || u.ID == "" {
		return "", nil, errors.New("issue token: user without id")
	}
	// Whole seconds: JWT NumericDate loses the rest, and claims returned here
	// should equal what Verify will see.
	now := t.now().Truncate(time.Second)
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   u.ID,
			Audience:  jwt.ClaimStrings{Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl())),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        randomString(idAlphabet, 22),
		},
		Username: u.Username,
		Role:     u.Role,
		Epoch:    u.SessionEpoch,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.Key)
	if err != nil {
		return "", nil, fmt.Errorf("issue token: %w", err)
	}
	return s, c, nil
}

// errInvalidToken is the only answer to a bad token: the reason goes
// nowhere a client (or a log reader) could learn from, and the token is never echoed.
func errInvalidToken() error {
	return berth.Errorf(berth.EUNAUTHORIZED, "invalid or expired token")
}

// Verify checks a session token's signature (HS256 only), issuer, audience
// and times, and returns its claims. Revocation (logout) is the caller's
// check, against the store, by claims.ID.
func (t *Tokens) Verify(token string) (*Claims, error) {
	if len(t.Key) < minKeyLen || token == "" {
		return nil, errInvalidToken()
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
	)
	c := &Claims{}
	tok, err := p.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return t.Key, nil })
	if err != nil || !tok.Valid {
		return nil, errInvalidToken()
	}
	if c.Subject == "" || c.ID == "" || !c.Role.Valid() {
		return nil, errInvalidToken()
	}
	return c, nil
}
