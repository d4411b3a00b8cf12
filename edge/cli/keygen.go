package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/openagents/trust/shared/signing"
)

func runKeygen(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "keygen", "--out PREFIX")
	out := fs.String("out", "", "write PREFIX.pem (private, mode 0600) and PREFIX.pub (public)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	} else if *out == "" {
		return usagef("--out PREFIX required")
	} else if len(pos) > 0 {
		return usagef("unexpected arguments: %q", pos)
	}
	priv, pub, err := signing.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	privPath, pubPath := *out+".pem", *out+".pub"
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: refusing to overwrite a key", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := writeNew(privPath, priv, 0o600); err != nil {
		return err
	}
	if err := writeNew(pubPath, pub, 0o644); err != nil {
		os.Remove(privPath)
		return err
	}
	sum := sha256.Sum256(pub)
	fmt.Fprintf(env.Stdout, "private key: %s\npublic key:  %s\nfingerprint: sha256:%s\n", privPath, pubPath, hex.EncodeToString(sum[:]))
	return nil
}

// writeNew creates path exclusively and writes data, removing it on failure.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
