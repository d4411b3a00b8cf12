#!/bin/sh
# Entry point of the edge image on Fly: writes the key-encryption key from
# the TRUST_KEK_B64 secret (the KEK file's base64 text, docs/apikeys.md) to
# TRUST_KEK_FILE with mode 0600, drops it from the environment, then starts
# LiteFS, which runs trust-edge. Without the secret the edge starts with the
# API-key routes answering 503, as documented.
set -eu
umask 077
if [ -n "${TRUST_KEK_B64:-}" ]; then
	mkdir -p "$(dirname "$TRUST_KEK_FILE")"
	printf '%s\n' "$TRUST_KEK_B64" >"$TRUST_KEK_FILE"
else
	unset TRUST_KEK_FILE
fi
unset TRUST_KEK_B64
exec litefs mount -config /etc/litefs.yml
