#!/bin/sh
# Deploys the edge app on Fly with flyctl; run by terraform/fly.tf (or by hand
# with the same environment). Idempotent: existing app, volumes and Machines
# are kept; a new image or configuration rolls out.
#
# Environment: FLY_APP FLY_ORG FLY_PRIMARY_REGION FLY_REGIONS (space-separated)
# FLY_IMAGE (pinned by digest) FLY_VM_MEMORY_MB FLY_VOLUME_GB FLY_CONFIG, and
# FLY_API_TOKEN for flyctl. EDGE_SERVICE_TOKEN and EDGE_KEK_B64 are the edge's
# secrets: they go to flyctl on stdin only, never on a command line or a log.
set -eu

: "${FLY_APP:?}" "${FLY_ORG:?}" "${FLY_PRIMARY_REGION:?}" "${FLY_REGIONS:?}" "${FLY_IMAGE:?}"
: "${FLY_VM_MEMORY_MB:?}" "${FLY_VOLUME_GB:?}" "${FLY_CONFIG:?}"
: "${EDGE_SERVICE_TOKEN:?}" "${EDGE_KEK_B64:?}"
command -v flyctl >/dev/null || { echo "deploy.sh: flyctl is not installed" >&2; exit 1; }
case "$FLY_IMAGE" in *@sha256:*) ;; *) echo "deploy.sh: FLY_IMAGE must be pinned by digest" >&2; exit 1 ;; esac

# The edge app lives in the organization's default network: tenants' apps
# are each in their own network and cannot reach it over 6PN.
if ! flyctl status --app "$FLY_APP" >/dev/null 2>&1; then
	flyctl apps create "$FLY_APP" --org "$FLY_ORG"
fi

# LiteFS lease in Consul (FLY_CONSUL_URL, set as a secret by Fly).
flyctl consul attach --app "$FLY_APP" >/dev/null 2>&1 || true

# Secrets from stdin; --stage applies them with the deploy below.
printf 'TRUST_SERVICE_TOKEN=%s\nTRUST_KEK_B64=%s\n' "$EDGE_SERVICE_TOKEN" "$EDGE_KEK_B64" |
	flyctl secrets import --app "$FLY_APP" --stage >/dev/null

# One encrypted volume named "litefs" per region.
for region in $FLY_REGIONS; do
	if ! flyctl volumes list --app "$FLY_APP" --json | grep -q "\"region\": *\"$region\""; then
		flyctl volumes create litefs --app "$FLY_APP" --region "$region" --size "$FLY_VOLUME_GB" --yes
	fi
done

flyctl deploy --config "$FLY_CONFIG" --app "$FLY_APP" --image "$FLY_IMAGE" \
	--primary-region "$FLY_PRIMARY_REGION" --vm-memory "$FLY_VM_MEMORY_MB" \
	--strategy rolling --yes

# One Machine per region, each on its own volume.
flyctl scale count 1 --region "$(echo "$FLY_REGIONS" | tr ' ' ',')" --app "$FLY_APP" --yes
