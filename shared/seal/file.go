package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/chacha20poly1305"
)

// maxKEKFile bounds what OpenFileKEK reads.
const maxKEKFile = 1 << 10

// FileKEK is a key-encryption key read from a local file: 32 random bytes,
// standard base64, in a file no one but its owner may read (mode 0600 or
// stricter). It wraps data keys with XChaCha20-Poly1305.
type FileKEK struct {
	id   string
	aead interface {
		Seal(dst, nonce, plaintext, ad []byte) []byte
		Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
	}
}

// OpenFileKEK reads a KEK file. It refuses a file that group or others may
// read or write, a symlink target is checked like the file itself, and a
// content that is not exactly 32 bytes of base64. Errors name the path,
// never the content.
func OpenFileKEK(path string) (*FileKEK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: open key-encryption key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: stat key-encryption key file %s: %w", path, err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key-encryption key file %s is not a regular file", path)
	} else if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("seal: key-encryption key file %s has mode %04o: want 0600 (chmod 600 %s)", path, perm, path)
	}
	buf, err := io.ReadAll(io.LimitReader(f, maxKEKFile+1))
	if err != nil {
		return nil, fmt.Errorf("seal: read key-encryption key file %s: %w", path, err)
	} else if len(buf) > maxKEKFile {
		return nil, fmt.Errorf("seal: key-encryption key file %s is too large", path)
	}
	defer clear(buf)
	key := make([]byte, base64.StdEncoding.DecodedLen(len(bytes.TrimSpace(buf))))
	n, err := base64.StdEncoding.Decode(key, bytes.TrimSpace(buf))
	defer clear(key)
	if err != nil || n != KeySize {
		return nil, fmt.Errorf("seal: key-encryption key file %s must hold %d random bytes in base64 (e.g. head -c 32 /dev/urandom | base64)", path, KeySize)
	}
	return NewFileKEK(key[:n])
}

// NewFileKEK returns a KEK of 32 key bytes (copied). Its ID is "file:" and
// the first 8 bytes of a SHA-256 of the key under a fixed label: it tells
// KEKs apart and reveals nothing usable about the key.
func NewFileKEK(key []byte) (*FileKEK, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key-encryption key must be %d bytes", KeySize)
	}
	aead, err := chacha20poly1305.NewX(bytes.Clone(key))
	if err != nil {
		return nil, fmt.Errorf("seal: key-encryption key cipher: %w", err)
	}
	sum := sha256.Sum256(append([]byte("oa-seal/v1 kek-id\x00"), key...))
	return &FileKEK{id: "file:" + hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// GenerateKEKFile writes a new random KEK to path with mode 0600, refusing to
// overwrite an existing file.
func GenerateKEKFile(path string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("seal: generate key-encryption key: %w", err)
	}
	defer clear(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("seal: create key-encryption key file: %w", err)
	}
	if _, err := io.WriteString(f, base64.StdEncoding.EncodeToString(key)+"\n"); err != nil {
		f.Close()
		return fmt.Errorf("seal: write key-encryption key file %s: %w", path, err)
	}
	return f.Close()
}

// ID names the KEK.
func (k *FileKEK) ID() string { return k.id }

// Wrap encrypts a data key under the KEK, bound to ad.
func (k *FileKEK) Wrap(_ context.Context, dataKey, ad []byte) ([]byte, error) {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("generate nonce: %w", err)
	}
	return k.aead.Seal(nonce, nonce, dataKey, ad), nil
}

// Unwrap decrypts a data key Wrap made with the same ad.
func (k *FileKEK) Unwrap(_ context.Context, wrapped, ad []byte) ([]byte, error) {
	if len(wrapped) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrOpen
	}
	out, err := k.aead.Open(nil, wrapped[:chacha20poly1305.NonceSizeX], wrapped[chacha20poly1305.NonceSizeX:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// errNoKEK is returned by code paths that need a KEK and have none.
var errNoKEK = errors.New("seal: no key-encryption key configured")
