package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

func runKeys(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("subcommand required: publish, list, export, retire, revoke or watch")
	}
	switch args[0] {
	case "publish":
		return runKeysPublish(ctx, env, args[1:])
	case "list":
		return runKeysList(ctx, env, args[1:], false)
	case "export":
		return runKeysList(ctx, env, args[1:], true)
	case "retire", "revoke":
		return runKeysChange(ctx, env, args[0], args[1:])
	case "watch":
		return runKeysWatch(ctx, env, args[1:])
	}
	return usagef("unknown subcommand %q: want publish, list, export, retire, revoke or watch", args[0])
}

func runKeysPublish(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "keys publish", "--key-id ID --public-key FILE [--not-before T] [--valid-for D]")
	var ef edgeFlags
	ef.register(fs, env, "file holding the service credential (default: env TRUST_SERVICE_TOKEN)")
	keyID := fs.String("key-id", "", "key ID (lowercase letters, digits, '.', '_', '-')")
	pubPath := fs.String("public-key", "", "public key PEM file (from trustctl keygen)")
	notBefore := fs.String("not-before", "", "start of validity, RFC 3339 (default: now)")
	validFor := fs.Duration("valid-for", 365*24*time.Hour, "length of validity")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected arguments: %q", pos)
	} else if err := trust.ValidateKeyID(*keyID); err != nil {
		return usagef("--key-id: %s", trust.ErrorMessage(err))
	} else if *pubPath == "" {
		return usagef("--public-key required")
	} else if *validFor <= 0 {
		return usagef("--valid-for must be positive")
	}
	nb := time.Now().UTC().Truncate(time.Second)
	if *notBefore != "" {
		if nb, err = time.Parse(time.RFC3339, *notBefore); err != nil {
			return usagef("--not-before: want RFC 3339, e.g. 2026-12-01T00:00:00Z")
		}
	}
	pemBytes, err := os.ReadFile(*pubPath)
	if err != nil {
		return fmt.Errorf("read public key: %w", err)
	}
	if _, err := signing.ParsePublicKey(string(pemBytes)); err != nil {
		return fmt.Errorf("%s: %w", *pubPath, err)
	}
	client, err := ef.client(env, "TRUST_SERVICE_TOKEN")
	if err != nil {
		return err
	}
	kv, err := client.CreateKeyVersion(ctx, &trust.KeyVersion{
		KeyID: *keyID, Algorithm: trust.AlgorithmEd25519, // the edge numbers the version
		PublicKey: string(pemBytes), NotBefore: nb, NotAfter: nb.Add(*validFor), State: trust.KeyActive,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "published %s (%s, valid %s to %s)\n", kv.Ref(), kv.State,
		kv.NotBefore.Format(time.RFC3339), kv.NotAfter.Format(time.RFC3339))
	return nil
}

func runKeysList(ctx context.Context, env *Env, args []string, export bool) error {
	name, line := "keys list", "[--edge URL]"
	if export {
		name, line = "keys export", "[--edge URL] [--out FILE]"
	}
	fs := newFlagSet(env, name, line)
	var ef edgeFlags
	ef.register(fs, env, "file holding a Machine token or the service credential (default: env TRUST_MACHINE_TOKEN, then TRUST_SERVICE_TOKEN)")
	out := fs.String("out", "", "write the keyring JSON to FILE instead of stdout (export)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected arguments: %q", pos)
	}
	client, err := ef.client(env, "TRUST_MACHINE_TOKEN", "TRUST_SERVICE_TOKEN")
	if err != nil {
		return err
	}
	kr, err := client.FindKeyring(ctx)
	if err != nil {
		return err
	}
	if export {
		b, err := json.MarshalIndent(kr, "", "  ")
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if *out == "" {
			_, err = env.Stdout.Write(b)
			return err
		}
		return writeFileAtomic(*out, b, 0o644)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "KEY\tSTATE\tNOT BEFORE\tNOT AFTER\tNOTE\n")
	for _, k := range kr.Keys {
		note := ""
		if k.State == trust.KeyRevoked {
			note = "revoked: " + k.RevocationReason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Ref(), k.State, k.NotBefore.Format(time.RFC3339), k.NotAfter.Format(time.RFC3339), note)
	}
	fmt.Fprintf(tw, "keyring sequence %d\n", kr.Sequence)
	return tw.Flush()
}

func runKeysChange(ctx context.Context, env *Env, verb string, args []string) error {
	fs := newFlagSet(env, "keys "+verb, "KEY_ID VERSION"+map[bool]string{true: " --reason TEXT", false: ""}[verb == "revoke"])
	var ef edgeFlags
	ef.register(fs, env, "file holding the service credential (default: env TRUST_SERVICE_TOKEN)")
	reason := fs.String("reason", "", "why the key version is revoked (revoke)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 1 && strings.Contains(pos[0], ":") {
		pos = strings.SplitN(pos[0], ":", 2)
	}
	if len(pos) != 2 {
		return usagef("want KEY_ID VERSION (or KEY_ID:VERSION)")
	}
	version, err := strconv.Atoi(pos[1])
	if err != nil || version < 1 {
		return usagef("version %q: want a positive integer", pos[1])
	}
	if verb == "revoke" && strings.TrimSpace(*reason) == "" {
		return usagef("--reason required: say why the key version is revoked")
	}
	client, err := ef.client(env, "TRUST_SERVICE_TOKEN")
	if err != nil {
		return err
	}
	var kv *trust.KeyVersion
	if verb == "revoke" {
		kv, err = client.RevokeKeyVersion(ctx, pos[0], version, *reason)
	} else {
		kv, err = client.RetireKeyVersion(ctx, pos[0], version)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s is now %s\n", kv.Ref(), kv.State)
	return nil
}

// writeFileAtomic writes data to path through a new temporary file in the same
// directory and a rename, so a reader never sees half a file and an existing
// symlink at a predictable temporary name cannot redirect the write.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
