// Package hashivault registers sigstore's HashiCorp Vault KMS provider, the only
// sigstore KMS provider with Ed25519 keys, so that signing.LoadSigner accepts
// "hashivault://<transit key name>" (and OpenBao's "openbao://<name>"):
//
//	import _ "github.com/openagents/trust/shared/signing/hashivault"
//
// Only the signing side (the sign function, key tooling) imports it: it brings
// the Vault API client and about twenty modules with it, which a Machine that
// only verifies must not carry. The provider is configured from the environment:
// VAULT_ADDR (or BAO_ADDR), VAULT_TOKEN (or BAO_TOKEN, else ~/.vault-token) and
// TRANSIT_SECRET_ENGINE_PATH (default "transit"); the transit key must have type
// "ed25519".
//
// Vault reports the public key of the transit key's latest version and, by
// default, signs with the latest version. The keyring pins every version's
// public key; signing.SigningKey checks the signer's public key against it, and
// signing.Sign checks every signature against that same key, so a rotation in
// Vault that the keyring has not published yet makes signing fail instead of
// producing a signature no Machine trusts.
package hashivault

import (
	hv "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)

// ReferenceScheme and AlternativeScheme are the URI schemes the provider answers.
const (
	ReferenceScheme   = hv.ReferenceScheme   // "hashivault://"
	AlternativeScheme = hv.AlternativeScheme // "openbao://"
)

// ValidReference reports whether ref names a Vault transit key in the form the
// provider accepts ("hashivault://name", letters, digits, '_', '-', '.').
func ValidReference(ref string) error { return hv.ValidReference(ref) }
