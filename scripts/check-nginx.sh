#!/usr/bin/env bash
# Usage: scripts/check-nginx.sh
# `nginx -t` on the shop's nginx config, rendered by render-nginx.sh as the nginx image renders
# it, with the production overlay's HTTPS server and a throwaway certificate added, so both the
# local and the production setups are checked without a container.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)." >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# With both address lists set, so the lines they add are checked too.
NGINX_REAL_IP_FROM="10.0.0.0/8 192.168.0.0/16" NGINX_ADMIN_ALLOW_FROM=192.0.2.0/24 \
  NGINX_HTTPS_PORT=8443 scripts/render-nginx.sh "$work"
cp -r nginx/tls/. "$work/tls/"
mkdir "$work/certs"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$work/certs/privkey.pem" -out "$work/certs/fullchain.pem" 2>/dev/null

nginx -q -t -p "$work" -e "$work/logs/error.log" -c "$work/nginx.conf"
echo "nginx config OK (local and HTTPS servers)"
