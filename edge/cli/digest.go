package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/openagents/trust/shared/digest"
	"github.com/openagents/trust/shared/skill"
	"github.com/openagents/trust/shared/trust"
)

// skillDigests is what `trustctl digest` prints for one folder.
type skillDigests struct {
	Dir               string            `json:"dir"`
	Name              string            `json:"name"`
	Version           string            `json:"version"`
	ContentDigest     string            `json:"content_digest"`
	PermissionsDigest string            `json:"permissions_digest"`
	Permissions       trust.Permissions `json:"permissions"`
}

func loadDigests(dir string) (*skillDigests, error) {
	m, err := skill.Load(dir)
	if err != nil {
		return nil, err
	}
	d := &skillDigests{Dir: dir, Name: m.Name, Version: m.Version, Permissions: m.Permissions}
	if d.ContentDigest, err = digest.Content(dir); err != nil {
		return nil, err
	}
	if d.PermissionsDigest, err = digest.Permissions(m.Permissions); err != nil {
		return nil, err
	}
	return d, nil
}

func runDigest(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "digest", "[--json] DIR...")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	dirs, err := parse(fs, args)
	if err != nil {
		return err
	} else if len(dirs) == 0 {
		return usagef("at least one skill folder required")
	}
	failed := false
	for _, dir := range dirs {
		d, err := loadDigests(dir)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %s\n", dir, describe(err))
			failed = true
			continue
		}
		if *asJSON {
			b, _ := json.Marshal(d)
			fmt.Fprintln(env.Stdout, string(b))
			continue
		}
		version := d.Version
		if version == "" {
			version = "(no version)"
		}
		fmt.Fprintf(env.Stdout, "%s %s\n  content:     %s\n  permissions: %s\n", d.Name, version, d.ContentDigest, d.PermissionsDigest)
	}
	if failed {
		return errRefused
	}
	return nil
}
