package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/openagents/trust/edge/boot"
	"github.com/openagents/trust/shared/trust"
)

// verifyReport is the --json output of `trustctl verify`.
type verifyReport struct {
	Verified bool          `json:"verified"`
	Error    string        `json:"error,omitempty"`
	Results  []boot.Result `json:"results"`
}

func runVerify(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "verify", "--edge URL --keyring FILE [--json] DIR...")
	var ef edgeFlags
	ef.register(fs, env, "file holding the Machine token (default: env TRUST_MACHINE_TOKEN)")
	keyringPath := fs.String("keyring", env.Getenv("TRUST_KEYRING"), "pinned keyring JSON (env TRUST_KEYRING)")
	asJSON := fs.Bool("json", false, "print a JSON report")
	noLive := fs.Bool("no-live-keyring", false, "do not apply the edge's revocations (pinned keyring only)")
	dirs, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(dirs) == 0 {
		return usagef("at least one skill folder required")
	} else if *keyringPath == "" {
		return usagef("no pinned keyring: pass --keyring or set TRUST_KEYRING")
	}
	pinned, err := ReadKeyring(*keyringPath)
	if err != nil {
		return err
	}
	client, err := ef.client(env, "TRUST_MACHINE_TOKEN")
	if err != nil {
		return err
	}

	v := boot.NewVerifier(client, pinned)
	v.Live = !*noLive
	results, err := v.Verify(ctx, dirs)
	report := verifyReport{Verified: err == nil, Results: results}
	if err != nil {
		report.Error = "verification not possible, nothing may be loaded: " + describe(err)
	}
	for _, r := range results {
		report.Verified = report.Verified && r.Verified
	}

	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		if report.Error != "" {
			fmt.Fprintln(env.Stderr, report.Error)
		}
		for _, r := range results {
			fmt.Fprintln(env.Stdout, resultLine(r))
		}
	}
	if !report.Verified {
		return errRefused
	}
	return nil
}

func resultLine(r boot.Result) string {
	name := r.Name
	if name == "" {
		name = "?"
	}
	if r.Version != "" {
		name += "@" + r.Version
	}
	if r.Verified {
		return fmt.Sprintf("OK       %s  publisher=%s key=%s  (%s)", name, r.Publisher, trust.KeyRef(r.KeyID, r.KeyVersion), r.Dir)
	}
	return fmt.Sprintf("REFUSED  %s  %s: %s  (%s)", name, r.Reason, r.Message, r.Dir)
}

// ReadKeyring reads a keyring JSON file, refusing unknown fields and trailing data.
func ReadKeyring(path string) (*trust.Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var kr trust.Keyring
	if err := dec.Decode(&kr); err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("keyring %s: trailing data after the keyring", path)
	}
	if len(kr.Keys) == 0 {
		return nil, fmt.Errorf("keyring %s holds no keys", path)
	}
	return &kr, nil
}
