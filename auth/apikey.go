package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// APIKeyPrefix starts every API key, so keys are recognizable (by users and
// secret scanners) and told apart from session tokens.
const APIKeyPrefix = "brt_"

const (
	apiKeyIDLen     = 12
	apiKeySecretLen = 40
	idAlphabet      = "abcdefghijklmnopqrstuvwxyz0123456789"
	base62Alphabet  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// NewAPIKey returns a new key: its id (stored, shown), its secret (only its
// hash is stored) and the full "brt_<id>_<secret>" given once to the user.
func NewAPIKey() (id, secret, full string, err error) {
	id = randomString(idAlphabet, apiKeyIDLen)
	secret = randomString(base62Alphabet, apiKeySecretLen)
	return id, secret, APIKeyPrefix + id + "_" + secret, nil
}

// IsAPIKey reports whether s looks like an API key rather than a session token.
func IsAPIKey(s string) bool { return strings.HasPrefix(s, APIKeyPrefix) }

// ParseAPIKey splits a full key into id and secret; anything not exactly in
// the format NewAPIKey produces is refused.
func ParseAPIKey(s string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(s, APIKeyPrefix)
	if !found || len(rest) != apiKeyIDLen+1+apiKeySecretLen || rest[apiKeyIDLen] != '_' {
		return "", "", false
	}
	id, secret = rest[:apiKeyIDLen], rest[apiKeyIDLen+1:]
	if !only(id, idAlphabet) || !only(secret, base62Alphabet) {
		return "", "", false
	}
	return id, secret, true
}

func only(s, alphabet string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// HashSecret returns the stored form of an API key secret. Plain SHA-256 is
// enough: secrets are 238 bits of randomness, not guessable passwords, and
// every request must verify fast.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// VerifySecret reports in constant time whether secret matches hash.
func VerifySecret(hash []byte, secret string) bool {
	h := HashSecret(secret)
	return len(hash) == len(h) && subtle.ConstantTimeCompare(hash, h) == 1
}

// ActivityToken returns the token that lets a workspace report activity for
// exactly one environment (key: secret.DeriveKey(master, "activity")).
func ActivityToken(key []byte, envID string) string {
	return base64.RawURLEncoding.EncodeToString(activityMAC(key, envID))
}

// VerifyActivityToken reports whether token is the activity token of envID.
func VerifyActivityToken(key []byte, envID, token string) bool {
	got, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(key) == 0 {
		return false
	}
	return hmac.Equal(got, activityMAC(key, envID))
}

func activityMAC(key []byte, envID string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("activity:" + envID))
	return m.Sum(nil)
}

// NewID returns prefix + "-" + 10 random characters [a-z0-9], e.g. "env-k3j9x0qz7m".
// 36^10 ≈ 3.6e15 values: collisions are not a practical concern at berth's scale,
// and stores enforce uniqueness anyway.
func NewID(prefix string) string {
	return prefix + "-" + randomString(idAlphabet, 10)
}
