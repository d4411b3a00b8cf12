package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// Environment a provisioned Machine receives (functions/provision) and a
// --exec hook is given.
const (
	envKeyProvider = "TRUST_API_KEY_PROVIDER"
	envKeySource   = "TRUST_API_KEY_SOURCE"
	envKeyVersion  = "TRUST_API_KEY_VERSION"
)

// runAPIKey is `trustctl apikey`: the Machine side of the API-key layer
// (docs/apikeys.md).
func runAPIKey(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("subcommand required: watch")
	}
	switch args[0] {
	case "watch":
		return runAPIKeyWatch(ctx, env, args[1:])
	}
	return usagef("unknown subcommand %q: want watch", args[0])
}

// runAPIKeyWatch polls the key version the Machine should hold and prints
// each new one (and runs --exec), so the agent switches keys without a
// restart. It starts from the version the Machine was provisioned with
// (TRUST_API_KEY_SOURCE and TRUST_API_KEY_VERSION), so only changes print;
// without them the first answer prints too. A suspended Machine, a tenant
// out of credits or a revoked token ends it with exit code 1.
func runAPIKeyWatch(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "apikey watch", "[--provider P] [--edge URL] [--interval D] [--json] [--exec PROGRAM]")
	var ef edgeFlags
	ef.register(fs, env, "file holding the Machine token (default: env TRUST_MACHINE_TOKEN)")
	provider := fs.String("provider", env.Getenv(envKeyProvider), "anthropic or openai (env "+envKeyProvider+")")
	interval := fs.Duration("interval", edgeapi.DefaultKeyVersionPoll, "time between polls")
	asJSON := fs.Bool("json", false, "print one JSON object per new version")
	hook := fs.String("exec", "", "program run on each new version, with "+envKeyProvider+", "+envKeySource+" and "+envKeyVersion+" set (no shell, no arguments); its failure ends the watch")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected arguments: %q", pos)
	} else if *provider == "" {
		return usagef("no provider: pass --provider or set %s", envKeyProvider)
	} else if err := trust.ValidProvider(*provider); err != nil {
		return usagef("%s", trust.ErrorMessage(err))
	} else if *interval <= 0 {
		return usagef("--interval must be positive")
	}
	client, err := ef.client(env, "TRUST_MACHINE_TOKEN")
	if err != nil {
		return err
	}
	current, err := provisionedKeyVersion(env, *provider)
	if err != nil {
		return err
	}

	w := &edgeapi.KeyVersionWatcher{Client: client, Provider: *provider, Interval: *interval,
		OnError: func(err error, wait time.Duration) {
			fmt.Fprintf(env.Stderr, "trustctl apikey watch: %s; polling again in %s\n", describe(err), wait)
		}}
	err = w.Watch(ctx, current, func(kv *edgeapi.KeyVersionResponse) error {
		if err := printKeyVersion(env, kv, *asJSON); err != nil {
			return err
		}
		if *hook != "" {
			return runKeyHook(ctx, env, *hook, kv)
		}
		return nil
	})
	var te *trust.Error
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return nil // Ctrl-C
	case edgeapi.KeyVersionRefusal(err) && errors.As(err, &te):
		return &trust.Error{Code: te.Code, Message: "key watch stopped: " + te.Message}
	}
	return err
}

// provisionedKeyVersion is the version the Machine's environment names, or
// nil when it names none (or another provider).
func provisionedKeyVersion(env *Env, provider string) (*edgeapi.KeyVersionResponse, error) {
	source, version := env.Getenv(envKeySource), env.Getenv(envKeyVersion)
	if p := env.Getenv(envKeyProvider); source == "" || version == "" || (p != "" && p != provider) {
		return nil, nil
	}
	n, err := strconv.Atoi(version)
	if err != nil || n < 1 {
		return nil, usagef("%s must be a positive number", envKeyVersion)
	}
	return &edgeapi.KeyVersionResponse{Provider: provider, Source: source, Version: n}, nil
}

// printKeyVersion prints one new version as a line of text or of JSON.
func printKeyVersion(env *Env, kv *edgeapi.KeyVersionResponse, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(kv)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(env.Stdout, "%s: %s key version %d\n", kv.Provider, kv.Source, kv.Version)
	return err
}

// runKeyHook runs the --exec program for a new version. Its output goes to
// stderr, so stdout stays one line per version.
func runKeyHook(ctx context.Context, env *Env, program string, kv *edgeapi.KeyVersionResponse) error {
	cmd := exec.CommandContext(ctx, program)
	cmd.Env = append(os.Environ(),
		envKeyProvider+"="+kv.Provider, envKeySource+"="+kv.Source, envKeyVersion+"="+strconv.Itoa(kv.Version))
	cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("--exec %s: %w", program, err)
	}
	return nil
}
