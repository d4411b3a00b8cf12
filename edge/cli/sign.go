package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

func runSign(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "sign", "--key FILE|URI --publisher ID [--edge URL] DIR...")
	var ef edgeFlags
	ef.register(fs, env, "file holding the service credential (default: env TRUST_SERVICE_TOKEN)")
	keyRef := fs.String("key", env.Getenv("TRUST_SIGNING_KEY"), "signing key: a PEM file or a KMS URI (env TRUST_SIGNING_KEY)")
	publisher := fs.String("publisher", "", "publisher ID recorded in the statement")
	dirs, err := parse(fs, args)
	if err != nil {
		return err
	} else if *keyRef == "" {
		return usagef("--key required")
	} else if len(dirs) == 0 {
		return usagef("at least one skill folder required")
	} else if err := trust.ValidatePublisher(*publisher); err != nil {
		return usagef("--publisher: %s", trust.ErrorMessage(err))
	}
	client, err := ef.client(env, "TRUST_SERVICE_TOKEN")
	if err != nil {
		return err
	}

	signer, err := signing.LoadSigner(ctx, *keyRef)
	if err != nil {
		return fmt.Errorf("load signing key: %w", err)
	}
	kr, err := client.FindKeyring(ctx)
	if err != nil {
		return fmt.Errorf("fetch keyring: %w", err)
	}
	now := time.Now().UTC()
	kv, err := signing.SigningKey(kr, signer.PublicKey(), now)
	if err != nil {
		return fmt.Errorf("this key may not sign: %w", err)
	}

	failed := false
	for _, dir := range dirs {
		d, err := loadDigests(dir)
		if err == nil && d.Version == "" {
			err = trust.Errorf(trust.EINVALID, "SKILL.md declares no version: only versioned skills are signed")
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %s\n", dir, describe(err))
			failed = true
			continue
		}
		st := &trust.Statement{
			Type: trust.StatementType, Skill: d.Name, Version: d.Version, Publisher: *publisher,
			ContentDigest: d.ContentDigest, PermissionsDigest: d.PermissionsDigest,
			KeyID: kv.KeyID, KeyVersion: kv.Version, IssuedAt: now,
		}
		// First-party skills skip the pipeline: the operator records the
		// version as approved, with its permissions, then its signature.
		_, sigErr := client.CreateSkillVersion(ctx, &trust.SkillVersion{
			Name: d.Name, Version: d.Version, Publisher: *publisher,
			ContentDigest: d.ContentDigest, PermissionsDigest: d.PermissionsDigest,
			Permissions: d.Permissions, State: trust.SkillVersionApproved,
		})
		var envelope []byte
		if sigErr == nil {
			envelope, sigErr = signing.Sign(ctx, signer, st)
		}
		if sigErr == nil {
			_, sigErr = client.CreateSignature(ctx, envelope)
		}
		if sigErr != nil {
			fmt.Fprintf(env.Stderr, "%s: %s\n", dir, describe(sigErr))
			failed = true
			continue
		}
		fmt.Fprintf(env.Stdout, "signed %s@%s with %s\n  content:     %s\n  permissions: %s\n", d.Name, d.Version, kv.Ref(), d.ContentDigest, d.PermissionsDigest)
	}
	if failed {
		return errRefused
	}
	return nil
}
