package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/signing"
	"github.com/openagents/trust/shared/trust"
)

// keyringChange is one line of `trustctl keys watch`: what a new keyring
// sequence changed against the previous keyring (the pinned one, first, when
// --keyring is given).
type keyringChange struct {
	Sequence  int64         `json:"sequence"`
	UpdatedAt time.Time     `json:"updated_at"`
	Added     []string      `json:"added"`
	Retired   []string      `json:"retired"`
	Revoked   []revokedKey  `json:"revoked"`
	Removed   []string      `json:"removed,omitempty"`
	Pinned    *pinnedUpdate `json:"pinned,omitempty"`
}

type revokedKey struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// pinnedUpdate says whether the pinned keyring file was narrowed.
type pinnedUpdate struct {
	Path    string `json:"path"`
	Updated bool   `json:"updated"`
}

func runKeysWatch(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "keys watch", "[--edge URL] [--json] [--keyring FILE]")
	var ef edgeFlags
	ef.register(fs, env, "file holding a Machine token or the service credential (default: env TRUST_MACHINE_TOKEN, then TRUST_SERVICE_TOKEN)")
	asJSON := fs.Bool("json", false, "print one JSON object per change")
	keyringPath := fs.String("keyring", "", "pinned keyring JSON to narrow in place with revocations and retirements (never adds keys)")
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

	var prev, pinned *trust.Keyring
	var after int64
	if *keyringPath != "" {
		if pinned, err = ReadKeyring(*keyringPath); err != nil {
			return err
		}
		prev, after = pinned, pinned.Sequence
	}

	w := &edgeapi.KeyringWatcher{Client: client, OnError: func(err error, wait time.Duration) {
		fmt.Fprintf(env.Stderr, "trustctl keys watch: %s; reconnecting in %s\n", describe(err), wait.Round(time.Millisecond))
	}}
	err = w.Watch(ctx, after, func(kr *trust.Keyring) error {
		ch := diffKeyrings(prev, kr)
		prev = kr
		if pinned != nil {
			merged := signing.MergeKeyrings(pinned, kr)
			ch.Pinned = &pinnedUpdate{Path: *keyringPath}
			if !reflect.DeepEqual(merged.Keys, pinned.Keys) {
				if err := writeKeyring(*keyringPath, merged); err != nil {
					return fmt.Errorf("update pinned keyring: %w", err)
				}
				pinned, ch.Pinned.Updated = merged, true
			}
		}
		return printChange(env, ch, *asJSON)
	})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // Ctrl-C
	}
	return err
}

// diffKeyrings lists the versions next adds to prev, and those it retires,
// revokes or no longer lists. A nil prev is an empty keyring.
func diffKeyrings(prev, next *trust.Keyring) *keyringChange {
	ch := &keyringChange{Sequence: next.Sequence, UpdatedAt: next.UpdatedAt,
		Added: []string{}, Retired: []string{}, Revoked: []revokedKey{}}
	for _, k := range next.Keys {
		old := prev.Find(k.KeyID, k.Version)
		if old == nil {
			ch.Added = append(ch.Added, k.Ref())
		}
		switch {
		case k.State == trust.KeyRevoked && (old == nil || old.State != trust.KeyRevoked):
			ch.Revoked = append(ch.Revoked, revokedKey{Key: k.Ref(), Reason: k.RevocationReason})
		case k.State == trust.KeyRetiring && (old == nil || old.State == trust.KeyActive):
			ch.Retired = append(ch.Retired, k.Ref())
		}
	}
	if prev != nil {
		for _, k := range prev.Keys {
			if next.Find(k.KeyID, k.Version) == nil {
				ch.Removed = append(ch.Removed, k.Ref())
			}
		}
	}
	return ch
}

// printChange prints one change as a line of text or of JSON.
func printChange(env *Env, ch *keyringChange, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(ch)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "%s\n", b)
		return err
	}
	var parts []string
	for _, ref := range ch.Added {
		parts = append(parts, "new "+ref)
	}
	for _, ref := range ch.Retired {
		parts = append(parts, "retired "+ref)
	}
	for _, r := range ch.Revoked {
		parts = append(parts, fmt.Sprintf("revoked %s (%q)", r.Key, r.Reason))
	}
	for _, ref := range ch.Removed {
		parts = append(parts, "no longer listed "+ref)
	}
	if len(parts) == 0 {
		parts = append(parts, "no key changes")
	}
	if ch.Pinned != nil && ch.Pinned.Updated {
		parts = append(parts, "pinned keyring narrowed")
	}
	_, err := fmt.Fprintf(env.Stdout, "sequence %d: %s\n", ch.Sequence, strings.Join(parts, "; "))
	return err
}

// writeKeyring replaces the keyring file at path atomically.
func writeKeyring(path string, kr *trust.Keyring) error {
	b, err := json.MarshalIndent(kr, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o644)
}
