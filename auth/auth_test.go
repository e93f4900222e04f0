package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

func init() { BcryptCost = bcrypt.MinCost }

func TestPasswords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pw    string
		valid bool
	}{
		{"", false},
		{"short7!", false},
		{"exactly8", true},
		{strings.Repeat("a", 72), true},
		{strings.Repeat("a", 73), false},
		{"pässwörd-ünïcode", true},
	}
	for _, tt := range tests {
		err := ValidatePassword(tt.pw)
		if (err == nil) != tt.valid {
			t.Errorf("ValidatePassword(len %d) = %v, want valid=%v", len(tt.pw), err, tt.valid)
		}
		if err != nil {
			if !berth.IsCode(err, berth.EINVALID) || strings.Contains(err.Error(), tt.pw) && tt.pw != "" {
				t.Errorf("ValidatePassword error %v: want INVALID_REQUEST without the password", err)
			}
			if _, err := HashPassword(tt.pw); err == nil {
				t.Errorf("HashPassword accepted an invalid password")
			}
			continue
		}
		h, err := HashPassword(tt.pw)
		if err != nil {
			t.Fatal(err)
		}
		if !CheckPassword(h, tt.pw) {
			t.Errorf("CheckPassword rejects the right password")
		}
		if CheckPassword(h, tt.pw+"x") || CheckPassword(h, "") || CheckPassword("not-a-hash", tt.pw) {
			t.Errorf("CheckPassword accepts a wrong password or hash")
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 50 {
		pw := GeneratePassword()
		if len(pw) != 20 || strings.ContainsAny(pw, "0O1lI") || ValidatePassword(pw) != nil {
			t.Fatalf("GeneratePassword = %q", pw)
		}
		if seen[pw] {
			t.Fatal("GeneratePassword repeated itself")
		}
		seen[pw] = true
	}
}

var testUser = &berth.User{ID: "usr-abc", Username: "ada", Role: berth.RoleOperator}

func testTokens(now time.Time) *Tokens {
	return &Tokens{Key: bytes.Repeat([]byte("k"), 32), Now: func() time.Time { return now }}
}

func TestTokensRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tk := testTokens(now)
	s, c, err := tk.Issue(testUser)
	if err != nil {
		t.Fatal(err)
	}
	if c.ExpiresAt.Time != now.Add(time.Hour) || c.ID == "" {
		t.Fatalf("claims = %+v", c)
	}
	got, err := tk.Verify(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "usr-abc" || got.Username != "ada" || got.Role != berth.RoleOperator || got.ID != c.ID {
		t.Fatalf("verified claims = %+v", got)
	}
	_, c2, _ := tk.Issue(testUser)
	if c2.ID == c.ID {
		t.Fatal("two tokens share a jti")
	}
	if _, _, err := (&Tokens{Key: []byte("short")}).Issue(testUser); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestTokensRejected(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tk := testTokens(now)
	good, _, err := tk.Issue(testUser)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mod func(*Claims)) *Claims {
		c := &Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: Issuer, Subject: "usr-abc", Audience: jwt.ClaimStrings{Audience},
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now),
				NotBefore: jwt.NewNumericDate(now), ID: "jti1",
			},
			Username: "ada", Role: berth.RoleAdmin,
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c *Claims) string {
		t.Helper()
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"operator"`), []byte(`"admin"`), 1)) + "." + parts[2]

	tests := map[string]string{
		"control (valid)": sign(jwt.SigningMethodHS256, tk.Key, claims(nil)),
		"empty":           "",
		"garbage":         "not.a.jwt",
		"alg none":        sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
		"RS256":           sign(jwt.SigningMethodRS256, rsaKey, claims(nil)),
		"HS512 same key":  sign(jwt.SigningMethodHS512, tk.Key, claims(nil)),
		"HS256 other key": sign(jwt.SigningMethodHS256, bytes.Repeat([]byte("x"), 32), claims(nil)),
		"wrong issuer":    sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.Issuer = "other" })),
		"no issuer":       sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.Issuer = "" })),
		"wrong audience":  sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"other"} })),
		"no audience":     sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.Audience = nil })),
		"expired": sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second))
		})),
		"no expiry":      sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.ExpiresAt = nil })),
		"not yet valid":  sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) })),
		"issued future":  sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Minute)) })),
		"no subject":     sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.Subject = "" })),
		"no jti":         sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.ID = "" })),
		"unknown role":   sign(jwt.SigningMethodHS256, tk.Key, claims(func(c *Claims) { c.Role = "root" })),
		"tampered claim": tampered,
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tk.Verify(tok)
			if name == "control (valid)" {
				if err != nil {
					t.Fatalf("valid token refused: %v", err)
				}
				return
			}
			if !berth.IsCode(err, berth.EUNAUTHORIZED) {
				t.Fatalf("Verify = %v, want UNAUTHORIZED", err)
			}
			if tok != "" && strings.Contains(err.Error(), tok) {
				t.Fatal("error echoes the token")
			}
		})
	}

	// The issued token expires after the TTL.
	later := testTokens(now.Add(time.Hour + time.Second))
	if _, err := later.Verify(good); !berth.IsCode(err, berth.EUNAUTHORIZED) {
		t.Fatalf("expired issued token: %v", err)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	id, secret, full, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^brt_[a-z0-9]{12}_[A-Za-z0-9]{40}$`).MatchString(full) {
		t.Fatalf("key %q has the wrong format", full)
	}
	if !IsAPIKey(full) || IsAPIKey("eyJhbGciOi.x.y") {
		t.Fatal("IsAPIKey wrong")
	}
	gid, gsecret, ok := ParseAPIKey(full)
	if !ok || gid != id || gsecret != secret {
		t.Fatalf("ParseAPIKey = %q %q %v", gid, gsecret, ok)
	}
	bad := []string{
		"", "brt_", full + "x", full[:len(full)-1], strings.Replace(full, "brt_", "brx_", 1),
		"brt_" + strings.Repeat("a", 12) + "-" + strings.Repeat("b", 40),
		"brt_" + strings.Repeat("A", 12) + "_" + strings.Repeat("b", 40),
		"brt_" + strings.Repeat("a", 12) + "_" + strings.Repeat("b", 39) + "!",
		"brt_" + strings.Repeat("a", 11) + "__" + strings.Repeat("b", 40),
		" " + full,
	}
	for _, s := range bad {
		if _, _, ok := ParseAPIKey(s); ok {
			t.Errorf("ParseAPIKey(%q) accepted", s)
		}
	}
	h := HashSecret(secret)
	if !VerifySecret(h, secret) || VerifySecret(h, secret+"x") || VerifySecret(nil, secret) || VerifySecret(h[:31], secret) {
		t.Fatal("VerifySecret wrong")
	}
	_, secret2, _, _ := NewAPIKey()
	if secret2 == secret {
		t.Fatal("NewAPIKey repeated a secret")
	}
}

func TestActivityToken(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte("a"), 32)
	tok := ActivityToken(key, "env-1")
	tests := []struct {
		key   []byte
		env   string
		token string
		ok    bool
	}{
		{key, "env-1", tok, true},
		{key, "env-2", tok, false},
		{bytes.Repeat([]byte("b"), 32), "env-1", tok, false},
		{key, "env-1", tok[:len(tok)-1], false},
		{key, "env-1", "", false},
		{key, "env-1", "%%%", false},
		{nil, "env-1", tok, false},
	}
	for i, tt := range tests {
		if got := VerifyActivityToken(tt.key, tt.env, tt.token); got != tt.ok {
			t.Errorf("case %d: VerifyActivityToken = %v, want %v", i, got, tt.ok)
		}
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not base64url", tok)
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^env-[a-z0-9]{10}$`)
	seen := map[string]bool{}
	for range 100 {
		id := NewID("env")
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("NewID = %q (seen %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := NewLimiter(1, 3)
	l.now = func() time.Time { return now }

	for i := range 3 {
		if !l.Allow("a") {
			t.Fatalf("request %d within burst refused", i)
		}
	}
	if l.Allow("a") {
		t.Fatal("request beyond burst allowed")
	}
	if !l.Allow("b") {
		t.Fatal("other key limited by a's bucket")
	}
	now = now.Add(time.Second)
	if !l.Allow("a") || l.Allow("a") {
		t.Fatal("refill of one token per second wrong")
	}

	// Idle buckets are evicted.
	now = now.Add(limiterIdle + time.Second)
	l.Allow("c")
	if n := l.Len(); n != 1 {
		t.Fatalf("after idle sweep %d buckets, want 1", n)
	}

	// The map is capped even when every key is fresh.
	l.maxKeys = 100
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.Allow(NewID("k") + string(rune('a'+i%26)))
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("%d buckets, cap is 100", n)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1000, 10)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				l.Allow(string(rune('a' + (i+j)%5)))
			}
		}()
	}
	wg.Wait()
	if l.Len() != 5 {
		t.Fatalf("Len = %d, want 5", l.Len())
	}
}

// TestLimiterWaitSpend: Wait looks without using; Spend uses; once the
// burst is spent Wait says how long until the next event, and a key never
// seen waits for nothing.
func TestLimiterWaitSpend(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := NewLimiter(0.5, 3) // one every 2 s
	l.now = func() time.Time { return now }
	if w := l.Wait("a"); w != 0 {
		t.Fatalf("unseen key waits %s", w)
	}
	for i := range 3 {
		if w := l.Wait("a"); w != 0 {
			t.Fatalf("within the burst (%d) Wait = %s", i, w)
		}
		l.Spend("a")
	}
	if w := l.Wait("a"); w != 2*time.Second {
		t.Fatalf("after the burst Wait = %s, want 2s", w)
	}
	for range 10 { // waiting does not use anything
		l.Wait("a")
	}
	now = now.Add(1500 * time.Millisecond)
	if w := l.Wait("a"); w != 500*time.Millisecond {
		t.Fatalf("1.5 s later Wait = %s, want 500ms", w)
	}
	now = now.Add(500 * time.Millisecond)
	if w := l.Wait("a"); w != 0 {
		t.Fatalf("2 s later Wait = %s, want 0", w)
	}
	if w := l.Wait("b"); w != 0 {
		t.Fatalf("other key waits %s", w)
	}
	err := Limited(1500*time.Millisecond, "too many")
	var ra RetryAfter
	if !berth.IsCode(err, berth.ERATELIMITED) || !errors.As(err, &ra) || ra.Seconds() != 2 {
		t.Fatalf("Limited = %v (retry %d s)", err, ra.Seconds())
	}
}
