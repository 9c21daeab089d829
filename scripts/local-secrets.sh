#!/usr/bin/env bash
# Usage: scripts/local-secrets.sh FILE   (make does this; FILE is git-ignored)
# Writes, once per checkout, the random secrets the local stack and `make run` use wherever .env
# and the environment leave SECRET_KEY or STRIPE_WEBHOOK_SECRET empty, so no secret from the
# repository ever signs a cookie or a webhook. An existing FILE is kept as it is.
set -euo pipefail

file=${1:?usage: scripts/local-secrets.sh FILE}
if [[ -s $file ]]; then
  exit 0
fi
random() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
mkdir -p "$(dirname "$file")"
umask 077
{
  echo "# Made by scripts/local-secrets.sh for this checkout only; .env overrides each value."
  echo "LOCAL_SECRET_KEY=$(random)"
  echo "LOCAL_STRIPE_WEBHOOK_SECRET=whsec_$(random)"
} >"$file.tmp"
mv "$file.tmp" "$file"
