package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/berthhq/berth"
)

// sealVersion prefixes every sealed value so the format can change later
// without guessing what old rows hold.
const sealVersion byte = 1

const nonceSize = 12

var errOpen = errors.New("open sealed value: data is corrupt or was sealed with another key")

// Sealer encrypts values at rest with AES-256-GCM. Sealed form:
// version(1) | nonce(12) | ciphertext+tag.
type Sealer struct {
	aead cipher.AEAD
}

var _ berth.Sealer = (*Sealer)(nil)

// NewSealer returns a Sealer for a 32-byte key (use DeriveKey(master, PurposeSeal)).
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("new sealer: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext with a fresh random nonce.
func (s *Sealer) Seal(plaintext []byte) ([]byte, error) {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	// The version byte is authenticated too, so it cannot be swapped.
	return s.aead.Seal(out, out[1:1+nonceSize], plaintext, out[:1]), nil
}

// Open decrypts what Seal produced; tampered data or a wrong key is an error.
func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+s.aead.Overhead() {
		return nil, errOpen
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("open sealed value: unknown format version %d", sealed[0])
	}
	pt, err := s.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], sealed[:1])
	if err != nil {
		return nil, errOpen
	}
	return pt, nil
}
