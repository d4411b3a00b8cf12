#!/usr/bin/env bash
# Start a local replicated catalog: three LiteFS nodes on loopback (node1 is
# the primary, static lease), each with its own FUSE mount under
# $TRUST_CLUSTER_DIR (default .trust-cluster) and a trust-edge over it.
# Writes may go to any node; replicas forward them to the primary. Ctrl-C
# stops every process and unmounts. Needs root, /dev/fuse, fusermount3 and
# litefs ($TRUST_LITEFS_BIN; `make run-cluster` installs both).
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=${TRUST_CLUSTER_DIR:-.trust-cluster}
LITEFS=${TRUST_LITEFS_BIN:-.cache/bin/litefs}
CONFIG=infra/local/litefs-node.yml
NODES=(node1 node2 node3)
API_PORTS=(8101 8102 8103)
LITEFS_PORTS=(20201 20202 20203)

mkdir -p "$DATA"
chmod 700 "$DATA"
DATA=$(cd "$DATA" && pwd)

credential() {
	local file="$DATA/$1"
	if [ ! -s "$file" ]; then
		(umask 077; head -c 32 /dev/urandom | base64 | tr -d '/+=\n' > "$file")
	fi
	cat "$file"
}
export TRUST_SERVICE_TOKEN; TRUST_SERVICE_TOKEN=$(credential service-token)

primary_urls=() peers=()
for i in 0 1 2; do
	primary_urls+=("${NODES[$i]}=http://127.0.0.1:${API_PORTS[$i]}")
	peers+=("http://127.0.0.1:${LITEFS_PORTS[$i]}")
done
PRIMARY_URLS=$(IFS=,; echo "${primary_urls[*]}")
PEERS=$(IFS=,; echo "${peers[*]}")

pids=()
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping…"
	# trust-edge first, then LiteFS (which unmounts on SIGTERM), replicas first.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in "${NODES[@]}"; do
		if grep -qs " $DATA/$n/mnt " /proc/mounts; then fusermount3 -u -z "$DATA/$n/mnt" || true; fi
	done
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

wait_up() { # URL LOG
	local i
	for i in $(seq 1 600); do
		if (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1; see $2" >&2
	return 1
}

for i in 0 1 2; do
	n=${NODES[$i]}
	# A mount left by a killed run would make the new one fail.
	if grep -qs " $DATA/$n/mnt " /proc/mounts; then fusermount3 -u -z "$DATA/$n/mnt" || true; fi
	mkdir -p "$DATA/$n/mnt" "$DATA/$n/litefs"
	candidate=false; [ "$i" = 0 ] && candidate=true
	LITEFS_FUSE_DIR="$DATA/$n/mnt" LITEFS_DATA_DIR="$DATA/$n/litefs" \
		LITEFS_HTTP_ADDR="127.0.0.1:${LITEFS_PORTS[$i]}" LITEFS_PRIMARY_HOSTNAME=node1 \
		LITEFS_PRIMARY_URL="http://127.0.0.1:${LITEFS_PORTS[0]}" LITEFS_CANDIDATE=$candidate \
		"$LITEFS" mount -config "$CONFIG" >"$DATA/$n-litefs.log" 2>&1 &
	pids+=($!)
	wait_up "127.0.0.1:${LITEFS_PORTS[$i]}" "$DATA/$n-litefs.log"
done

for i in 0 1 2; do
	n=${NODES[$i]}
	./bin/trust-edge -data-dir "$DATA/$n/mnt" -addr "127.0.0.1:${API_PORTS[$i]}" \
		-litefs-url "http://127.0.0.1:${LITEFS_PORTS[$i]}" -primary-urls "$PRIMARY_URLS" \
		-litefs-peers "$PEERS" -min-replicas "${TRUST_MIN_REPLICAS:-1}" >"$DATA/$n-edge.log" 2>&1 &
	pids+=($!)
	wait_up "127.0.0.1:${API_PORTS[$i]}" "$DATA/$n-edge.log"
done

(umask 077; cat > "$DATA/env" <<EOT
export TRUST_EDGE_URL=http://127.0.0.1:${API_PORTS[1]}
export TRUST_SERVICE_TOKEN=$TRUST_SERVICE_TOKEN
EOT
)

cat <<EOT

OpenAgents Trust — local LiteFS cluster (static lease, node1 primary)

  node1 (primary)  http://127.0.0.1:${API_PORTS[0]}   LiteFS http://127.0.0.1:${LITEFS_PORTS[0]} (loopback only)
  node2 (replica)  http://127.0.0.1:${API_PORTS[1]}   LiteFS http://127.0.0.1:${LITEFS_PORTS[1]}
  node3 (replica)  http://127.0.0.1:${API_PORTS[2]}   LiteFS http://127.0.0.1:${LITEFS_PORTS[2]}
  mounts and logs  $DATA/<node>/mnt, $DATA/<node>-{edge,litefs}.log

Writes to any node reach the primary; a write is acknowledged once
${TRUST_MIN_REPLICAS:-1} replica(s) hold it, and the node you asked holds it too.

Dev credentials (local only; in another shell: . $DATA/env):
  export TRUST_EDGE_URL=http://127.0.0.1:${API_PORTS[1]}
  export TRUST_SERVICE_TOKEN=$TRUST_SERVICE_TOKEN

Ctrl-C stops the cluster and unmounts.
EOT

wait -n "${pids[@]}"
echo "a component exited; see $DATA/*.log" >&2
