package cli

import (
	"context"
	"fmt"
)

func runTokens(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "revoke") {
		return usagef("subcommand required: create or revoke")
	}
	if args[0] == "revoke" {
		return runTokensRevoke(ctx, env, args[1:])
	}
	fs := newFlagSet(env, "tokens create", "--machine ID --tenant ID")
	var ef edgeFlags
	ef.register(fs, env, "file holding the service credential (default: env TRUST_SERVICE_TOKEN)")
	machine := fs.String("machine", "", "Machine ID")
	tenant := fs.String("tenant", "", "tenant the Machine belongs to")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected arguments: %q", pos)
	} else if *machine == "" {
		return usagef("--machine required")
	} else if *tenant == "" {
		return usagef("--tenant required: every Machine belongs to a tenant")
	}
	client, err := ef.client(env, "TRUST_SERVICE_TOKEN")
	if err != nil {
		return err
	}
	token, err := client.CreateMachineToken(ctx, *machine, *tenant)
	if err != nil {
		return err
	}
	// The token is printed once, to stdout only, for the caller to store.
	fmt.Fprintln(env.Stdout, token)
	return nil
}

func runTokensRevoke(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "tokens revoke", "--machine ID")
	var ef edgeFlags
	ef.register(fs, env, "file holding the service credential (default: env TRUST_SERVICE_TOKEN)")
	machine := fs.String("machine", "", "Machine ID whose tokens are revoked")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected arguments: %q", pos)
	} else if *machine == "" {
		return usagef("--machine required")
	}
	client, err := ef.client(env, "TRUST_SERVICE_TOKEN")
	if err != nil {
		return err
	}
	if err := client.RevokeMachineTokens(ctx, *machine); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "tokens of Machine %s revoked\n", *machine)
	return nil
}
