package seal_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openagents/trust/shared/seal"
	"github.com/openagents/trust/shared/seal/sealtest"
)

var update = flag.Bool("update", false, "rewrite the fixed vector in testdata/vector.txt")

// canary is a planted secret: it must never appear in an error.
const canary = "sk-ant-CANARY-seal-4b1f9e2a7c3d5e6f"

// MustKEK returns a FileKEK of fixed bytes.
func MustKEK(tb testing.TB, fill byte) *seal.FileKEK {
	tb.Helper()
	k, err := seal.NewFileKEK(bytes.Repeat([]byte{fill}, seal.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestSealer_RoundTrip(t *testing.T) {
	ctx := context.Background()
	s := seal.New(MustKEK(t, 1))
	ad := seal.Context("tenant-1", "user-key", "anthropic", "1")
	for _, secret := range [][]byte{nil, []byte("x"), []byte(canary), bytes.Repeat([]byte("k"), seal.MaxSecretSize)} {
		blob, err := s.Seal(ctx, secret, ad)
		if err != nil {
			t.Fatal(err)
		}
		if len(secret) > 4 && bytes.Contains(blob, secret) {
			t.Fatal("secret in the clear inside the blob")
		}
		got, err := s.Open(ctx, blob, ad)
		if err != nil {
			t.Fatal(err)
		} else if !bytes.Equal(got, secret) {
			t.Fatalf("Open = %q, want %q", got, secret)
		}
	}
	// Fresh data key and nonce per secret: the same input seals differently.
	a, _ := s.Seal(ctx, []byte(canary), ad)
	b, _ := s.Seal(ctx, []byte(canary), ad)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one secret are equal")
	}
	if _, err := s.Seal(ctx, make([]byte, seal.MaxSecretSize+1), ad); err == nil {
		t.Fatal("oversized secret sealed")
	}
}

// TestSealer_OpenFailsClosed: every way a blob can be wrong is ErrOpen (or
// ErrFormat), and no error carries the secret.
func TestSealer_OpenFailsClosed(t *testing.T) {
	ctx := context.Background()
	s := seal.New(MustKEK(t, 1))
	ad := seal.Context("tenant-1", "platform-key", "anthropic", "3")
	blob, err := s.Seal(ctx, []byte(canary), ad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := bytes.Clone(blob); b[i] ^= 0x01; return b }

	tests := []struct {
		name   string
		opener *seal.Sealer
		blob   []byte
		ad     []byte
		want   error
	}{
		{"WrongTenant", s, blob, seal.Context("tenant-2", "platform-key", "anthropic", "3"), seal.ErrOpen},
		{"WrongVersion", s, blob, seal.Context("tenant-1", "platform-key", "anthropic", "4"), seal.ErrOpen},
		{"WrongPurpose", s, blob, seal.Context("tenant-1", "user-key", "anthropic", "3"), seal.ErrOpen},
		{"ShiftedParts", s, blob, seal.Context("tenant-1platform-key", "", "anthropic", "3"), seal.ErrOpen},
		{"NilAD", s, blob, nil, seal.ErrOpen},
		{"WrongKEK", seal.New(MustKEK(t, 2)), blob, ad, seal.ErrOpen},
		{"FlipKEKID", s, flip(3), ad, seal.ErrOpen},
		{"FlipWrapped", s, flip(40), ad, seal.ErrOpen},
		{"FlipNonce", s, flip(len(blob) - len(canary) - 16 - 1), ad, seal.ErrOpen},
		{"FlipCiphertext", s, flip(len(blob) - 20), ad, seal.ErrOpen},
		{"FlipTag", s, flip(len(blob) - 1), ad, seal.ErrOpen},
		{"Truncated", s, blob[:len(blob)-1], ad, seal.ErrOpen},
		{"Header", s, blob[:30], ad, seal.ErrOpen},
		{"Empty", s, nil, ad, seal.ErrOpen},
		{"Appended", s, append(bytes.Clone(blob), 0), ad, seal.ErrOpen},
		{"UnknownVersion", s, append([]byte{0x02}, blob[1:]...), ad, seal.ErrFormat},
		{"NoKEK", &seal.Sealer{}, blob, ad, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opener.Open(ctx, tt.blob, tt.ad)
			if err == nil {
				t.Fatalf("Open succeeded: %q", got)
			} else if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "CANARY") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}
}

// TestSealer_Vector opens a blob sealed once and stored in testdata, so a
// format change that breaks existing rows fails here.
func TestSealer_Vector(t *testing.T) {
	ctx := context.Background()
	keyB64, err := os.ReadFile("testdata/kek.b64")
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(keyB64)))
	if err != nil {
		t.Fatal(err)
	}
	kek, err := seal.NewFileKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	s := seal.New(kek)
	ad := seal.Context("tenant-vector", "platform-key", "openai", "7")
	const secret = "sk-proj-test-vector-0123456789"
	if *update {
		blob, err := s.Seal(ctx, []byte(secret), ad)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/vector.hex", []byte(hex.EncodeToString(blob)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := os.ReadFile("testdata/vector.hex")
	if err != nil {
		t.Fatal(err)
	}
	blob, err := hex.DecodeString(strings.TrimSpace(string(buf)))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := seal.KEKID(blob); err != nil || id != kek.ID() {
		t.Fatalf("KEKID = %q, %v; want %q", id, err, kek.ID())
	}
	got, err := s.Open(ctx, blob, ad)
	if err != nil {
		t.Fatal(err)
	} else if string(got) != secret {
		t.Fatalf("Open = %q, want %q", got, secret)
	}
}

func TestOpenFileKEK(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	t.Run("OK", func(t *testing.T) {
		k, err := seal.OpenFileKEK(write("ok", good+"\n", 0o600))
		if err != nil {
			t.Fatal(err)
		} else if want := MustKEK(t, 7).ID(); k.ID() != want {
			t.Fatalf("ID = %q, want %q", k.ID(), want)
		}
	})
	t.Run("Generated", func(t *testing.T) {
		p := filepath.Join(dir, "gen")
		if err := seal.GenerateKEKFile(p); err != nil {
			t.Fatal(err)
		} else if _, err := seal.OpenFileKEK(p); err != nil {
			t.Fatal(err)
		} else if err := seal.GenerateKEKFile(p); err == nil {
			t.Fatal("GenerateKEKFile overwrote a key")
		}
	})
	for _, tt := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"ErrGroupReadable", good, 0o640, "mode 0640"},
		{"ErrWorldReadable", good, 0o604, "mode 0604"},
		{"ErrShort", base64.StdEncoding.EncodeToString([]byte(canary)), 0o600, "32 random bytes"},
		{"ErrNotBase64", canary, 0o600, "32 random bytes"},
		{"ErrEmpty", "", 0o600, "32 random bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := seal.OpenFileKEK(write(tt.name, tt.content, tt.mode))
			if err == nil {
				t.Fatal("opened")
			} else if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			} else if strings.Contains(err.Error(), "CANARY") || strings.Contains(err.Error(), good) {
				t.Fatalf("key material in error: %v", err)
			}
		})
	}
	t.Run("ErrMissing", func(t *testing.T) {
		if _, err := seal.OpenFileKEK(filepath.Join(dir, "none")); err == nil {
			t.Fatal("opened")
		}
	})
	t.Run("ErrDirectory", func(t *testing.T) {
		if _, err := seal.OpenFileKEK(dir); err == nil {
			t.Fatal("opened")
		}
	})
}

// FuzzOpen: no input makes Open panic or succeed without the right blob.
func FuzzOpen(f *testing.F) {
	s := seal.New(MustKEK(f, 1))
	ad := seal.Context("t", "p")
	blob, err := s.Seal(context.Background(), []byte("secret"), ad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob)
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 255, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := s.Open(context.Background(), b, ad)
		if err == nil && !bytes.Equal(b, blob) {
			t.Fatalf("forged blob opened: %q", got)
		}
	})
}

// TestFileKEK_Conformance runs the KEK contract against FileKEK.
func TestFileKEK_Conformance(t *testing.T) {
	sealtest.TestKEK(t, MustKEK(t, 1), MustKEK(t, 2))
}
