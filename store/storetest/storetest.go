// Package storetest gives tests a fresh store.Store of either kind, on a
// temporary SQLite file or a fresh database of the shared pgtest server.
// Packages using the postgres kind should call pgtest.Main from TestMain.
package storetest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/pgtest"
	"github.com/berthhq/berth/store"
)

// Kinds lists the kinds Open accepts.
func Kinds() []string { return []string{store.SQLite, store.Postgres} }

// Open returns a fresh, migrated store of kind "sqlite" or "postgres",
// closed when the test ends. A nil sealer is replaced by NewSealer().
// Without PostgreSQL the postgres kind skips (fails under CI=true).
func Open(t testing.TB, kind string, sealer berth.Sealer) *store.Store {
	t.Helper()
	if sealer == nil {
		sealer = NewSealer()
	}
	s, err := store.Open(context.Background(), URL(t, kind), sealer)
	if err != nil {
		t.Fatalf("open %s store: %v", kind, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// URL is a fresh, empty database of kind "sqlite" or "postgres" for a test
// that opens (and reopens) the store itself. Without PostgreSQL the
// postgres kind skips (fails under CI=true).
func URL(t testing.TB, kind string) string {
	t.Helper()
	switch kind {
	case store.SQLite:
		return filepath.Join(t.TempDir(), "berth.db")
	case store.Postgres:
		return pgtest.Shared(t).NewDatabase(t)
	}
	t.Fatalf("storetest: unknown kind %q (want sqlite or postgres)", kind)
	return ""
}

// Sealer is a small AES-256-GCM sealer for tests (nonce || ciphertext).
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer with a random key.
func NewSealer() *Sealer {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Sealer{aead: aead}
}

func (s *Sealer) Seal(plain []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, nil), nil
}

func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], nil)
}
