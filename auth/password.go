// Package auth holds berth's credential primitives: password hashing, session
// tokens (JWT), API keys, activity tokens, ids and per-credential rate limits.
// It knows nothing of HTTP or the store.
package auth

import (
	"crypto/rand"
	"fmt"

	"github.com/berthhq/berth"
	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the bcrypt work factor; tests lower it to stay fast.
var BcryptCost = bcrypt.DefaultCost

const (
	minPasswordLen = 8
	maxPasswordLen = 72 // bcrypt ignores (x/crypto rejects) bytes beyond 72
)

// ValidatePassword checks the length rules of a new password.
func ValidatePassword(pw string) error {
	switch {
	case len(pw) < minPasswordLen:
		return berth.Invalid("password", "must be at least %d characters", minPasswordLen)
	case len(pw) > maxPasswordLen:
		return berth.Invalid("password", "must be at most %d bytes", maxPasswordLen)
	}
	return nil
}

// HashPassword returns the bcrypt hash of pw.
func HashPassword(pw string) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches hash (in constant time, as bcrypt does).
func CheckPassword(hash, pw string) bool {
	// bcrypt compares only the first 72 bytes; a longer password can never
	// have been set, so it must not match by its prefix.
	if len(pw) > maxPasswordLen {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// passwordAlphabet leaves out look-alikes (0/O, 1/l/I) so a generated
// password can be read off a terminal and typed.
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword returns a random 20-character password.
func GeneratePassword() string {
	return randomString(passwordAlphabet, 20)
}

// randomString returns n characters drawn uniformly from alphabet with
// crypto/rand (rejection sampling, no modulo bias).
func randomString(alphabet string, n int) string {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(alphabet)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		// crypto/rand.Read never returns an error (Go 1.24+): it crashes the
		// program rather than hand out predictable bytes.
		rand.Read(buf)
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}
