package cli

import (
	"context"
	"fmt"
)

func runTokens(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return usagef("subcommand required: create")
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
