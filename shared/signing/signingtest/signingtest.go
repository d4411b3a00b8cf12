// Package signingtest holds the conformance test every signing.Signer
// implementation runs against the fixed vectors in testdata/signing: local PEM
// keys, localkms, and KMS providers behind fakes.
package signingtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// Now is a time inside the windows of both test key versions.
var Now = time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)

// VectorDir returns the absolute path of testdata/signing in this source tree.
func VectorDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "signing")
}

// VectorPath returns the absolute path of a file in VectorDir.
func VectorPath(name string) string { return filepath.Join(VectorDir(), name) }

// MustRead returns the bytes of a vector file.
func MustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(VectorPath(name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// MustDecode decodes a JSON vector file into v.
func MustDecode(tb testing.TB, name string, v any) {
	tb.Helper()
	if err := json.Unmarshal(MustRead(tb, name), v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

// TestSigner checks that s holds test-key.pem (key test, version 1): its public
// key is the vector's, SigningKey finds it in keyring.json, Sign reproduces
// envelope.json byte for byte from statement.json (also from several goroutines
// at once), and Verify accepts the result.
func TestSigner(t *testing.T, s signing.Signer) {
	t.Helper()
	ctx := context.Background()

	wantPub, err := signing.ParsePublicKey(string(MustRead(t, "test-key.pub.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if !s.PublicKey().Equal(wantPub) {
		t.Fatalf("PublicKey: got %x, want %x", []byte(s.PublicKey()), []byte(wantPub))
	}

	var kr trust.Keyring
	MustDecode(t, "keyring.json", &kr)
	k, err := signing.SigningKey(&kr, s.PublicKey(), Now)
	if err != nil {
		t.Fatalf("SigningKey: %v", err)
	} else if k.Ref() != "test:1" {
		t.Fatalf("SigningKey: got %s, want test:1", k.Ref())
	}

	var st trust.Statement
	MustDecode(t, "statement.json", &st)
	want := MustRead(t, "envelope.json")

	const n = 4
	var wg sync.WaitGroup
	envs, errs := make([][]byte, n), make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := st
			envs[i], errs[i] = signing.Sign(ctx, s, &c)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Sign: %v", errs[i])
		} else if !bytes.Equal(envs[i], want) {
			t.Fatalf("Sign: envelope differs from envelope.json:\ngot  %s\nwant %s", envs[i], want)
		}
	}

	got, err := signing.Verify(envs[0], &kr, Now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	} else if *got != st {
		t.Fatalf("Verify: got %+v, want %+v", got, st)
	}
}
