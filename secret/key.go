// Package secret holds berth's secret-handling primitives: the master key,
// keys derived from it, encryption at rest and redaction of logs and output.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/hkdf"
)

// KeySize is the size of the master key and of every derived key (AES-256).
const KeySize = 32

// EnvKey is the environment variable that holds the master key.
const EnvKey = "BERTH_SECRET_KEY"

// LoadKey returns the master key: BERTH_SECRET_KEY (base64 or hex of 32
// bytes) when set, else the content of keyFile (32 raw bytes or base64),
// which is generated with mode 0600 when it does not exist yet.
func LoadKey(getenv func(string) string, keyFile string) ([]byte, error) {
	if v := strings.TrimSpace(getenv(EnvKey)); v != "" {
		key, ok := decodeKey(v)
		if !ok {
			// Never echo the value: it may be a real key with a typo.
			return nil, fmt.Errorf("%s must be 32 bytes encoded as base64 (44 chars) or hex (64 chars)", EnvKey)
		}
		return key, nil
	}
	if keyFile == "" {
		return nil, fmt.Errorf("no secret key: neither %s nor a key file is set", EnvKey)
	}
	info, err := os.Stat(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return generateKeyFile(keyFile)
	case err != nil:
		return nil, fmt.Errorf("read key file: %w", err)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("key file %s is not a regular file", keyFile)
	case info.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("key file %s is readable by group or others (mode %04o); run: chmod 600 %s",
			keyFile, info.Mode().Perm(), keyFile)
	}
	data, err := os.ReadFile(keyFile) // #nosec G304 -- the key file is the operator's configuration
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if len(data) == KeySize {
		return data, nil
	}
	key, ok := decodeBase64Key(strings.TrimSpace(string(data)))
	if !ok {
		return nil, fmt.Errorf("key file %s must hold 32 raw bytes or their base64", keyFile)
	}
	return key, nil
}

func decodeKey(v string) ([]byte, bool) {
	// 64 hex chars are also valid base64 (of 48 bytes), so length decides.
	if len(v) == 2*KeySize {
		if b, err := hex.DecodeString(v); err == nil {
			return b, true
		}
	}
	return decodeBase64Key(v)
}

func decodeBase64Key(v string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == KeySize {
			return b, true
		}
	}
	return nil, false
}

func generateKeyFile(keyFile string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	// O_EXCL: if another process won the race, use its key rather than ours.
	f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the key file is the operator's configuration
	if errors.Is(err, fs.ErrExist) {
		return LoadKey(func(string) string { return "" }, keyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(keyFile)
		return nil, fmt.Errorf("generate secret key: write %s: %w", keyFile, werr)
	}
	return key, nil
}

// Purposes of derived keys: one key per use, so that a leak or misuse of one
// (e.g. a JWT signing oracle) says nothing about the others.
const (
	PurposeSeal     = "seal"
	PurposeJWT      = "jwt"
	PurposeActivity = "activity"
	// PurposeProxy, + "/" + an environment id, derives the secret berth's
	// proxy adds to requests it forwards to that environment's workspace.
	PurposeProxy = "proxy"
)

// DeriveKey derives a 32-byte key for purpose from the master key with
// HKDF-SHA256.
func DeriveKey(master []byte, purpose string) []byte {
	r := hkdf.New(sha256.New, master, nil, []byte("berth/"+purpose))
	out := make([]byte, KeySize)
	if _, err := io.ReadFull(r, out); err != nil {
		// HKDF-SHA256 can produce 255*32 bytes; 32 never fails.
		panic(fmt.Sprintf("derive key: %v", err))
	}
	return out
}
