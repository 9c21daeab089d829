#!/usr/bin/env bash
# Usage: scripts/render-nginx.sh DIR
# Renders the shop's nginx config into DIR the way the nginx image does: envsubst of each
# template into conf.d/, with the values docker-compose.yml gives unless the environment sets
# them, beside the stack's main config with every path inside DIR. tls/ stays empty:
# the production overlay mounts its HTTPS server there. `make lint` checks what this renders
# (check-nginx.sh), and the bench serves it.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "Usage: $0 DIR" >&2; exit 2; }
command -v envsubst >/dev/null || { echo "envsubst is missing (apt-get install gettext-base)." >&2; exit 1; }
mkdir -p "$1"
dir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."

# Only these are substituted, as NGINX_ENVSUBST_FILTER says in docker-compose.yml.
# shellcheck disable=SC2016 # a literal nginx variable, as compose passes it
export UPSTREAM=${UPSTREAM:-127.0.0.1:8000} NGINX_PORT=${NGINX_PORT:-8080} \
  NGINX_FORWARDED_PROTO=${NGINX_FORWARDED_PROTO:-'$scheme'}
export NGINX_CHECKOUT_RATE=${NGINX_CHECKOUT_RATE:-1r/s} NGINX_CHECKOUT_BURST=${NGINX_CHECKOUT_BURST:-20}
export NGINX_LOGIN_RATE=${NGINX_LOGIN_RATE:-6r/m} NGINX_LOGIN_BURST=${NGINX_LOGIN_BURST:-10}
export NGINX_CONNECTIONS_PER_ADDRESS=${NGINX_CONNECTIONS_PER_ADDRESS:-64}
export NGINX_ADMIN_PATH=${NGINX_ADMIN_PATH:-/admin/}
# shellcheck disable=SC2016 # envsubst's list of names, not an expansion
variables='${UPSTREAM} ${NGINX_PORT} ${NGINX_FORWARDED_PROTO} ${NGINX_CHECKOUT_RATE} ${NGINX_CHECKOUT_BURST}
  ${NGINX_LOGIN_RATE} ${NGINX_LOGIN_BURST} ${NGINX_CONNECTIONS_PER_ADDRESS} ${NGINX_ADMIN_PATH}'

while IFS= read -r template; do
  relative=${template#nginx/templates/}
  mkdir -p "$dir/conf.d/$(dirname "$relative")"
  envsubst "$variables" <"$template" >"$dir/conf.d/${relative%.template}"
done < <(find nginx/templates -type f -name '*.template')
# What nginx/follow-web.sh writes in the container, here for the one upstream.
echo "server $UPSTREAM max_fails=1 fail_timeout=10s;" >"$dir/conf.d/shop/web-servers.conf"
# What nginx/from-environment.sh writes in the container (address lists, HSTS).
NGINX_ENVSUBST_OUTPUT_DIR="$dir/conf.d" nginx/from-environment.sh
mkdir -p "$dir/tls" "$dir/logs"

# The stack's main config (nginx/nginx.conf) with every path inside DIR, and no `user`, which
# only a master started as root can take on.
sed -e '/^user /d' \
  -e "s|/var/cache/nginx|$dir|; s|/var/log/nginx|$dir/logs|; s|/run/nginx.pid|$dir/nginx.pid|" \
  -e "s|/etc/nginx/conf.d/|conf.d/|" nginx/nginx.conf >"$dir/nginx.conf"
