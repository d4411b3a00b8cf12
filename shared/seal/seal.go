// Package seal is envelope encryption for secrets at rest: every secret gets a
// fresh random data key, the secret is encrypted under it with
// XChaCha20-Poly1305, and the data key is wrapped by a key-encryption key
// (KEK). Locally the KEK is 32 random bytes in a file (FileKEK); in
// production a KMS implements the same KEK interface.
//
// Every sealed blob is bound to a context, its associated data (AD): the
// tenant, the purpose and the version of the secret, for example. Opening a
// blob with any other context — a blob copied into another row — fails, as
// does opening it with another KEK or after a single bit changed. Every such
// failure is the same ErrOpen, which names no secret and no key material.
//
// Sealed format, version 1 (all lengths big-endian):
//
//	0x01 | len(kekID) u8 | kekID | len(wrapped) u16 | wrapped | nonce[24] | ciphertext+tag
//
// The data key is wrapped with the AD "oa-seal/v1 data-key" + kekID + AD, and
// the secret is encrypted with the header (everything before the nonce) + AD
// as its associated data, so neither half can be swapped for another blob's.
package seal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Version1 is the first byte of every blob this package writes.
const Version1 = 0x01

// KeySize is the size of a data key and of a FileKEK.
const KeySize = chacha20poly1305.KeySize

// MaxSecretSize bounds what Seal accepts: sealing is for credentials, not
// documents.
const MaxSecretSize = 64 << 10

// ErrOpen is the one error for a blob that does not open: tampered,
// truncated, sealed under another KEK or for another context.
var ErrOpen = errors.New("seal: sealed secret does not open: wrong key-encryption key, wrong context, or tampered")

// ErrFormat reports a blob of an unknown format version.
var ErrFormat = errors.New("seal: unknown sealed format version")

// KEK wraps and unwraps data keys. Implementations: FileKEK here, a KMS in
// production. Unwrap must fail (with any error; Open reports ErrOpen) when
// wrapped was not made by Wrap with the same ad.
type KEK interface {
	// ID names the key-encryption key, at most 255 bytes; it is stored in the
	// clear in every blob so a rotated KEK can still find the old one.
	ID() string
	Wrap(ctx context.Context, dataKey, ad []byte) ([]byte, error)
	Unwrap(ctx context.Context, wrapped, ad []byte) ([]byte, error)
}

// Sealer seals and opens secrets with one KEK.
type Sealer struct {
	KEK KEK
}

// New returns a sealer using kek.
func New(kek KEK) *Sealer { return &Sealer{KEK: kek} }

// Seal encrypts secret under a fresh data key bound to ad.
func (s *Sealer) Seal(ctx context.Context, secret, ad []byte) ([]byte, error) {
	if s == nil || s.KEK == nil {
		return nil, errNoKEK
	} else if len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("seal: secret larger than %d bytes", MaxSecretSize)
	}
	id := s.KEK.ID()
	if len(id) == 0 || len(id) > 255 {
		return nil, errors.New("seal: key-encryption key ID must be 1 to 255 bytes")
	}
	dataKey := make([]byte, KeySize)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("seal: generate data key: %w", err)
	}
	defer clear(dataKey)
	wrapped, err := s.KEK.Wrap(ctx, dataKey, wrapAD(id, ad))
	if err != nil {
		return nil, fmt.Errorf("seal: wrap data key: %w", err)
	} else if len(wrapped) > 0xffff {
		return nil, errors.New("seal: wrapped data key too long")
	}

	header := make([]byte, 0, 4+len(id)+len(wrapped))
	header = append(header, Version1, byte(len(id)))
	header = append(header, id...)
	header = binary.BigEndian.AppendUint16(header, uint16(len(wrapped)))
	header = append(header, wrapped...)

	aead, err := chacha20poly1305.NewX(dataKey)
	if err != nil {
		return nil, fmt.Errorf("seal: data key cipher: %w", err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: generate nonce: %w", err)
	}
	out := append(header, nonce...)
	return aead.Seal(out, nonce, secret, dataAD(header, ad)), nil
}

// Open decrypts a blob Seal made with the same KEK and ad. Any failure to
// authenticate is ErrOpen; an unknown format version is ErrFormat.
func (s *Sealer) Open(ctx context.Context, blob, ad []byte) ([]byte, error) {
	if s == nil || s.KEK == nil {
		return nil, errNoKEK
	}
	h, err := parse(blob)
	if err != nil {
		return nil, err
	}
	if h.kekID != s.KEK.ID() {
		return nil, ErrOpen
	}
	dataKey, err := s.KEK.Unwrap(ctx, h.wrapped, wrapAD(h.kekID, ad))
	if err != nil || len(dataKey) != KeySize {
		return nil, ErrOpen
	}
	defer clear(dataKey)
	aead, err := chacha20poly1305.NewX(dataKey)
	if err != nil {
		return nil, ErrOpen
	}
	secret, err := aead.Open(nil, h.nonce, h.ciphertext, dataAD(h.header, ad))
	if err != nil {
		return nil, ErrOpen
	}
	return secret, nil
}

// KEKID returns the ID of the KEK a blob was sealed under.
func KEKID(blob []byte) (string, error) {
	h, err := parse(blob)
	if err != nil {
		return "", err
	}
	return h.kekID, nil
}

// blob is a parsed sealed blob.
type blob struct {
	header, wrapped, nonce, ciphertext []byte
	kekID                              string
}

// parse splits a blob; anything malformed is ErrOpen.
func parse(b []byte) (*blob, error) {
	if len(b) == 0 {
		return nil, ErrOpen
	} else if b[0] != Version1 {
		return nil, ErrFormat
	}
	if len(b) < 2 {
		return nil, ErrOpen
	}
	n := int(b[1])
	rest := b[2:]
	if n == 0 || len(rest) < n+2 {
		return nil, ErrOpen
	}
	h := &blob{kekID: string(rest[:n])}
	rest = rest[n:]
	w := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) < w+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrOpen
	}
	h.wrapped = rest[:w]
	h.header = b[:len(b)-len(rest)+w]
	rest = rest[w:]
	h.nonce, h.ciphertext = rest[:chacha20poly1305.NonceSizeX], rest[chacha20poly1305.NonceSizeX:]
	return h, nil
}

// wrapAD is the associated data of the data-key wrap.
func wrapAD(kekID string, ad []byte) []byte {
	return Context("oa-seal/v1 data-key", kekID, string(ad))
}

// dataAD is the associated data of the secret itself.
func dataAD(header, ad []byte) []byte {
	return Context("oa-seal/v1 secret", string(header), string(ad))
}

// Context encodes parts as associated data without ambiguity: each part is
// length-prefixed, so ("ab", "c") and ("a", "bc") differ.
func Context(parts ...string) []byte {
	var out []byte
	for _, p := range parts {
		out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out
}
