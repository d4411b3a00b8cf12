// Package digest computes the digests that identify what a signature covers: the
// content digest of a skill folder (the sha256 of a deterministic tar of its
// files) and the permissions digest of its declared permissions (the sha256 of
// their RFC 8785 canonical JSON). Both are written "sha256:<64 lowercase hex>".
//
// The same files give the same content digest on any machine, whatever their
// modification times, owners, umask or directory order; a folder holding
// anything that could reach outside it (a symlink leaving the tree) or that
// cannot be archived faithfully (device files, FIFOs, sockets, names with
// control characters) is refused with an EINVALID error naming the path. The
// exact rules are in docs/skill-format.md.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"unicode/utf8"

	"github.com/gowebpki/jcs"

	"github.com/openagents/trust/shared/trust"
)

// Prefix starts every digest this package returns.
const Prefix = "sha256:"

// Content returns "sha256:<hex>" of the deterministic uncompressed tar of dir
// (see WriteTar). EINVALID if dir holds something that may not be archived;
// other errors are I/O failures.
func Content(dir string) (string, error) {
	h := sha256.New()
	if err := WriteTar(h, dir); err != nil {
		return "", err
	}
	return sum(h), nil
}

// Permissions returns "sha256:<hex>" of the RFC 8785 canonical JSON of
// p.Normalize() (see CanonicalPermissions). EINVALID if an entry is not valid
// UTF-8.
func Permissions(p trust.Permissions) (string, error) {
	b, err := CanonicalPermissions(p)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(b)
	return sum(h), nil
}

// CanonicalPermissions returns the bytes the permissions digest is computed
// over: p.Normalize() as JSON with the keys tools, network, exec and filesystem
// (itself with read and write), every list present even when empty, in RFC 8785
// canonical form. EINVALID if an entry is not valid UTF-8, since JSON encoding
// would silently replace the invalid bytes and let two different declarations
// share a digest.
func CanonicalPermissions(p trust.Permissions) ([]byte, error) {
	n := p.Normalize()
	for _, l := range []struct {
		field   string
		entries []string
	}{
		{"tools", n.Tools},
		{"network", n.Network},
		{"exec", n.Exec},
		{"filesystem.read", n.Filesystem.Read},
		{"filesystem.write", n.Filesystem.Write},
	} {
		for _, s := range l.entries {
			if !utf8.ValidString(s) {
				return nil, trust.Errorf(trust.EINVALID, "permissions.%s: entry %+q is not valid UTF-8", l.field, s)
			}
		}
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encode permissions: %w", err)
	}
	c, err := jcs.Transform(b)
	if err != nil {
		return nil, fmt.Errorf("canonicalize permissions: %w", err)
	}
	return c, nil
}

func sum(h hash.Hash) string {
	return Prefix + hex.EncodeToString(h.Sum(nil))
}
