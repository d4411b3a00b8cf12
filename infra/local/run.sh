#!/usr/bin/env bash
# Start the local stack on the embedded default: one edge node on a plain SQLite
# file under $TRUST_DATA_DIR (default .trust), the functions server, and a local
# Ed25519 signing key created and published on first start. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=${TRUST_DATA_DIR:-.trust}
EDGE_ADDR=${TRUST_EDGE_ADDR:-127.0.0.1:8080}
FUNCTIONS_ADDR=${TRUST_FUNCTIONS_ADDR:-127.0.0.1:8081}
EDGE_URL="http://$EDGE_ADDR"
FUNCTIONS_URL="http://$FUNCTIONS_ADDR"

mkdir -p "$DATA"
chmod 700 "$DATA"

# Dev credentials: random on first start, kept in the data directory.
credential() {
	local file="$DATA/$1"
	if [ ! -s "$file" ]; then
		(umask 077; head -c 32 /dev/urandom | base64 | tr -d '/+=\n' > "$file")
	fi
	cat "$file"
}
export TRUST_SERVICE_TOKEN; TRUST_SERVICE_TOKEN=$(credential service-token)
export TRUST_OPERATOR_TOKEN; TRUST_OPERATOR_TOKEN=$(credential operator-token)
export TRUST_REVIEWER_TOKEN; TRUST_REVIEWER_TOKEN=$(credential reviewer-token)
export TRUST_EDGE_URL="$EDGE_URL"
export TRUST_SIGNING_KEY="$DATA/signing-key.pem"
# The submission pipeline: -dev creates a local OCI base under $DATA/oci-base and
# pushes images to the OCI layout $DATA/images (TRUST_REGISTRY overrides).
export TRUST_DATA_DIR="$DATA"

pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping…"
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# wait_up ADDR: wait until something listens on host:port (no curl needed).
wait_up() {
	local host=${1%:*} port=${1##*:} i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1; see $DATA/*.log" >&2
	return 1
}

# A local key-encryption key (32 random bytes, base64, mode 0600) so API keys and SSH
# credentials can be sealed; in production it comes from Secrets Manager (docs/apikeys.md).
if [ ! -s "$DATA/kek" ]; then
	(umask 077; head -c 32 /dev/urandom | base64 > "$DATA/kek")
fi
TRUST_KEK_FILE="$DATA/kek" ./bin/trust-edge -data-dir "$DATA" -addr "$EDGE_ADDR" >"$DATA/edge.log" 2>&1 &
pids+=($!)
wait_up "$EDGE_ADDR"

./bin/trust-functions -dev -addr "$FUNCTIONS_ADDR" >"$DATA/functions.log" 2>&1 &
pids+=($!)
wait_up "$FUNCTIONS_ADDR"

# A Machine token for trying `trustctl verify`, and the keyring to pin.
if [ ! -s "$DATA/machine-token" ]; then
	(umask 077; ./bin/trustctl tokens create --machine dev-machine --tenant dev > "$DATA/machine-token")
fi
TRUST_MACHINE_TOKEN=$(cat "$DATA/machine-token") ./bin/trustctl keys export --out "$DATA/keyring.json"

# service_post PATH JSON: POST to the edge with the service credential, which
# curl reads from stdin (never argv); prints the body, fails on a non-2xx
# status unless it is the one given as $3.
service_post() {
	local out status
	out=$(printf 'header = "Authorization: Bearer %s"\n' "$TRUST_SERVICE_TOKEN" |
		curl -sS --config - -X POST -H 'Content-Type: application/json' -d "$2" -w '\n%{http_code}' "$EDGE_URL$1")
	status=${out##*$'\n'}
	out=${out%$'\n'*}
	if [ "${status:0:1}" != 2 ] && [ "$status" != "${3:-}" ]; then
		echo "POST $1: HTTP $status $out" >&2
		return 1
	fi
	printf '%s' "$out"
}

# The dev tenant and its credits, so Machines of the local stack can report
# metered usage (docs/apikeys.md). The grant's idempotency key makes it once
# per data directory: a restart replays it and changes nothing.
DEV_CREDITS=${TRUST_DEV_CREDITS:-10000000}
CREDITS="(not granted: curl not found)"
if command -v curl >/dev/null; then
	service_post /v1/service/tenants '{"id":"dev","name":"Local dev tenant"}' 409 >/dev/null
	acct=$(service_post /v1/service/tenants/dev/credits "{\"amount\":$DEV_CREDITS,\"idempotency_key\":\"local-dev-grant-$DEV_CREDITS\"}")
	CREDITS=$(printf '%s' "$acct" | sed -n 's/.*"balance":\([-0-9]*\).*/\1/p')
fi

# The same settings as a file a second shell can source.
(umask 077; cat > "$DATA/env" <<EOT
export TRUST_EDGE_URL=$EDGE_URL
export TRUST_FUNCTIONS_URL=$FUNCTIONS_URL
export TRUST_SERVICE_TOKEN=$TRUST_SERVICE_TOKEN
export TRUST_OPERATOR_TOKEN=$TRUST_OPERATOR_TOKEN
export TRUST_REVIEWER_TOKEN=$TRUST_REVIEWER_TOKEN
export TRUST_PUBLISHER_TOKEN=$(cat "$DATA/publisher-token")
export TRUST_MACHINE_TOKEN=$(cat "$DATA/machine-token")
export TRUST_KEYRING=$DATA/keyring.json
EOT
)

cat <<EOT

OpenAgents Trust — local stack (embedded default)

  edge node        $EDGE_URL          log: $DATA/edge.log   catalog: $DATA/catalog.db
  functions        $FUNCTIONS_URL          log: $DATA/functions.log
  signing key      $DATA/signing-key.pem (key ID "local", published in the keyring)
  sealing key      $DATA/kek (local key-encryption key for API keys and SSH credentials)
  pinned keyring   $DATA/keyring.json
  OCI base         $DATA/oci-base (local dev base)   images: ${TRUST_REGISTRY:-$DATA/images}
  dev publisher    "dev", KYC-verified; try: trustctl submit testdata/skills/hello
  dev tenant       "dev", credits: $CREDITS (one credit = one token); Machine "dev-machine"
                   try: trustctl apikey watch --provider anthropic (after a platform key is stored)

Dev credentials (local only; in another shell: . $DATA/env):
  export TRUST_EDGE_URL=$EDGE_URL
  export TRUST_SERVICE_TOKEN=$TRUST_SERVICE_TOKEN
  export TRUST_OPERATOR_TOKEN=$TRUST_OPERATOR_TOKEN
  export TRUST_FUNCTIONS_URL=$FUNCTIONS_URL
  export TRUST_REVIEWER_TOKEN=$TRUST_REVIEWER_TOKEN
  export TRUST_PUBLISHER_TOKEN=$(cat "$DATA/publisher-token")
  export TRUST_MACHINE_TOKEN=$(cat "$DATA/machine-token")
  export TRUST_KEYRING=$DATA/keyring.json

Ctrl-C stops the stack.
EOT

wait -n "${pids[@]}"
echo "a component exited; see $DATA/*.log" >&2
