package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestLoadKeyEnv(t *testing.T) {
	t.Parallel()
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	tests := []struct {
		name    string
		value   string
		want    []byte
		wantErr bool
	}{
		{"base64", base64.StdEncoding.EncodeToString(key), key, false},
		{"base64 raw", base64.RawStdEncoding.EncodeToString(key), key, false},
		{"hex", hex.EncodeToString(key), key, false},
		{"hex upper with spaces", "  " + strings.ToUpper(hex.EncodeToString(key)) + "\n", key, false},
		{"too short", base64.StdEncoding.EncodeToString(key[:16]), nil, true},
		{"too long hex", hex.EncodeToString(append(key, 1)), nil, true},
		{"garbage", "not-a-key-but-a-secret-value!", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The key file must not be consulted when the env var is set.
			file := filepath.Join(t.TempDir(), "key")
			got, err := LoadKey(env(map[string]string{EnvKey: tt.value}), file)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				if strings.Contains(err.Error(), strings.TrimSpace(tt.value)) {
					t.Fatalf("error echoes the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("key = %x, want %x", got, tt.want)
			}
			if _, err := os.Stat(file); err == nil {
				t.Fatal("key file written although the env var is set")
			}
		})
	}
}

func TestLoadKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "state", "secret.key")
	noEnv := env(nil)

	k1, err := LoadKey(noEnv, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != KeySize {
		t.Fatalf("generated key has %d bytes", len(k1))
	}
	for path, want := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s mode = %04o, want %04o", path, got, want)
		}
	}
	k2, err := LoadKey(noEnv, file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second load returned another key")
	}

	t.Run("raw bytes", func(t *testing.T) {
		raw := filepath.Join(dir, "raw.key")
		if err := os.WriteFile(raw, testKey(9), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadKey(noEnv, raw)
		if err != nil || !bytes.Equal(got, testKey(9)) {
			t.Fatalf("LoadKey = %x, %v", got, err)
		}
	})
	t.Run("group readable refused", func(t *testing.T) {
		if err := os.Chmod(file, 0o640); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey(noEnv, file)
		if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("err = %v, want one naming the file and the fix", err)
		}
	})
	t.Run("bad content", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.key")
		if err := os.WriteFile(bad, []byte("short"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKey(noEnv, bad); err == nil {
			t.Fatal("want error")
		}
	})
	t.Run("no file no env", func(t *testing.T) {
		if _, err := LoadKey(noEnv, ""); err == nil {
			t.Fatal("want error")
		}
	})
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	master := testKey(1)
	seal, jwt, act := DeriveKey(master, PurposeSeal), DeriveKey(master, PurposeJWT), DeriveKey(master, PurposeActivity)
	if len(seal) != KeySize {
		t.Fatalf("derived key has %d bytes", len(seal))
	}
	if bytes.Equal(seal, jwt) || bytes.Equal(jwt, act) || bytes.Equal(seal, act) || bytes.Equal(seal, master) {
		t.Fatal("derived keys are not distinct")
	}
	if !bytes.Equal(seal, DeriveKey(master, PurposeSeal)) {
		t.Fatal("derivation is not deterministic")
	}
	if bytes.Equal(seal, DeriveKey(testKey(2), PurposeSeal)) {
		t.Fatal("derived key does not depend on the master")
	}
}

func TestSealer(t *testing.T) {
	t.Parallel()
	s, err := NewSealer(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSealer(testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSealer(testKey(1)[:16]); err == nil {
		t.Fatal("16-byte key accepted")
	}

	for _, pt := range [][]byte{nil, []byte("x"), []byte("ghp_supersecret"), bytes.Repeat([]byte("a"), 1<<16)} {
		sealed, err := s.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 3 && bytes.Contains(sealed, pt) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := s.Open(sealed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("round trip = %q, want %q", got, pt)
		}
	}

	sealed, _ := s.Seal([]byte("hello secret"))
	again, _ := s.Seal([]byte("hello secret"))
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	bad := map[string][]byte{
		"wrong key":    nil,
		"empty":        {},
		"short":        sealed[:10],
		"truncated":    sealed[:len(sealed)-1],
		"version":      flip(sealed, 0),
		"nonce":        flip(sealed, 3),
		"ciphertext":   flip(sealed, 1+nonceSize),
		"tag":          flip(sealed, len(sealed)-1),
		"appended":     append(append([]byte{}, sealed...), 0),
		"version zero": append([]byte{0}, sealed[1:]...),
	}
	for name, data := range bad {
		t.Run(name, func(t *testing.T) {
			var err error
			if name == "wrong key" {
				_, err = other.Open(sealed)
			} else {
				_, err = s.Open(data)
			}
			if err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte{}, b...)
	out[i] ^= 0x01
	return out
}

func TestRedactAttr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key    string
		groups []string
		redact bool
	}{
		{"password", nil, true},
		{"adminPassword", nil, true},
		{"PASSWD", nil, true},
		{"client_secret", nil, true},
		{"token", nil, true},
		{"githubToken", nil, true},
		{"apiKey", nil, true},
		{"api_key", nil, true},
		{"Authorization", nil, true},
		{"credentials", nil, true},
		{"key", nil, true},
		{"sshKey", nil, true},
		{"keyId", nil, false},
		{"key_id", nil, false},
		{"tokenID", nil, false},
		{"user", nil, false},
		{"msg", nil, false},
		{"keys_count", nil, false},
		{"DB_URL", []string{"secrets"}, true},
		{"name", []string{"request"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got := RedactAttr(tt.groups, slog.String(tt.key, "value-1234"))
			if got.Key != tt.key {
				t.Fatalf("key changed to %q", got.Key)
			}
			if redacted := got.Value.String() == berth.Redacted; redacted != tt.redact {
				t.Fatalf("redacted = %v, want %v", redacted, tt.redact)
			}
		})
	}
}

func TestRedactInHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewRedactor("sk-live-abcdef")
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: r.ReplaceAttr}))
	log.Info("login", "user", "ada", "password", "hunter22",
		slog.Group("secrets", "DB_URL", "postgres://u:p@h"),
		"err", fmt.Errorf("call api with sk-live-abcdef: 401"), "keyId", "k1")
	out := buf.String()
	for _, leak := range []string{"hunter22", "postgres://u:p@h", "sk-live-abcdef"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q: %s", leak, out)
		}
	}
	for _, keep := range []string{`"user":"ada"`, `"keyId":"k1"`, "401"} {
		if !strings.Contains(out, keep) {
			t.Errorf("log lost %q: %s", keep, out)
		}
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	r := NewRedactor()
	if got := r.Redact("nothing known"); got != "nothing known" {
		t.Fatalf("Redact = %q", got)
	}
	r.Add("abc", "", "secret-1", "secret-12345")
	tests := map[string]string{
		"token secret-1 used":      "token " + berth.Redacted + " used",
		"secret-12345 and abc":     berth.Redacted + " and abc",
		"secret-1secret-1":         berth.Redacted + berth.Redacted,
		"no secrets here":          "no secrets here",
		"prefix secret- unchanged": "prefix secret- unchanged",
	}
	for in, want := range tests {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}

	// Concurrent Add and Redact must be race-free.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() { defer wg.Done(); r.Add(fmt.Sprintf("concurrent-%d", i)) }()
		go func() { defer wg.Done(); _ = r.Redact("concurrent-1 secret-1") }()
	}
	wg.Wait()
	if got := r.Redact("concurrent-7"); got != berth.Redacted {
		t.Fatalf("Redact after concurrent Add = %q", got)
	}
}
