#!/usr/bin/env bash
# Sends a payload file to a running wabridge, signed as Meta signs it
# (X-Hub-Signature-256: HMAC-SHA256 of the exact bytes with the app secret).
#   scripts/send-signed.sh examples/payloads/meta-131031.json
set -euo pipefail
file=${1:?usage: $0 PAYLOAD.json [URL]}
url=${2:-http://127.0.0.1:8080/webhooks/meta}
secret=${META_APP_SECRET:-dev-app-secret}
sig=$(openssl dgst -sha256 -hmac "$secret" < "$file" | sed 's/^.* //')
curl -sS -X POST "$url" -H 'Content-Type: application/json' -H "X-Hub-Signature-256: sha256=$sig" --data-binary @"$file"
echo
