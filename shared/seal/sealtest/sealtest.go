// Package sealtest is the conformance test every seal.KEK implementation
// runs (the local FileKEK, a KMS adapter): round trips, binding to the
// associated data, and failure on any change, through a real seal.Sealer.
package sealtest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/openagents/trust/shared/seal"
)

// TestKEK checks kek against the KEK contract. other must be a different
// KEK of the same kind (another key), or nil to skip that case.
func TestKEK(t *testing.T, kek, other seal.KEK) {
	t.Helper()
	ctx := context.Background()
	dataKey := bytes.Repeat([]byte{0x42}, seal.KeySize)
	ad := seal.Context("sealtest", "ad")

	t.Run("ID", func(t *testing.T) {
		if id := kek.ID(); id == "" || len(id) > 255 {
			t.Fatalf("ID = %q, want 1 to 255 bytes", id)
		}
	})
	t.Run("WrapUnwrap", func(t *testing.T) {
		w1, err := kek.Wrap(ctx, dataKey, ad)
		if err != nil {
			t.Fatal(err)
		}
		w2, err := kek.Wrap(ctx, dataKey, ad)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(w1, w2) {
			t.Fatal("two wraps of one data key are equal: no fresh nonce")
		} else if bytes.Contains(w1, dataKey) {
			t.Fatal("data key in the clear inside its wrap")
		}
		got, err := kek.Unwrap(ctx, w1, ad)
		if err != nil || !bytes.Equal(got, dataKey) {
			t.Fatalf("Unwrap = %x, %v", got, err)
		}
		if _, err := kek.Unwrap(ctx, w1, seal.Context("sealtest", "other")); err == nil {
			t.Fatal("Unwrap ignored the associated data")
		}
		bad := bytes.Clone(w1)
		bad[len(bad)-1] ^= 1
		if _, err := kek.Unwrap(ctx, bad, ad); err == nil {
			t.Fatal("Unwrap accepted a tampered wrap")
		}
		if _, err := kek.Unwrap(ctx, nil, ad); err == nil {
			t.Fatal("Unwrap accepted an empty wrap")
		}
		if other != nil {
			if _, err := other.Unwrap(ctx, w1, ad); err == nil {
				t.Fatal("another KEK unwrapped this one's wrap")
			}
		}
	})
	t.Run("Sealer", func(t *testing.T) {
		s := seal.New(kek)
		blob, err := s.Seal(ctx, []byte("secret"), ad)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Open(ctx, blob, ad); err != nil || string(got) != "secret" {
			t.Fatalf("Open = %q, %v", got, err)
		}
		if _, err := s.Open(ctx, blob, nil); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("Open with another context = %v, want ErrOpen", err)
		}
		if other != nil {
			if _, err := seal.New(other).Open(ctx, blob, ad); !errors.Is(err, seal.ErrOpen) {
				t.Fatalf("Open with another KEK = %v, want ErrOpen", err)
			}
		}
	})
}
