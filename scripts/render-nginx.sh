#!/usr/bin/env bash
# Usage: scripts/render-nginx.sh DIR
# Renders the shop's nginx config into DIR the way the nginx image does: envsubst of each
# template into conf.d/, with the values docker-compose.yml gives unless the environment sets
# them, beside the official image's main config with every path inside DIR. tls/ stays empty:
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
# shellcheck disable=SC2016 # envsubst's list of names, not an expansion
variables='${UPSTREAM} ${NGINX_PORT} ${NGINX_FORWARDED_PROTO} ${NGINX_CHECKOUT_RATE} ${NGINX_CHECKOUT_BURST}'

while IFS= read -r template; do
  relative=${template#nginx/templates/}
  mkdir -p "$dir/conf.d/$(dirname "$relative")"
  envsubst "$variables" <"$template" >"$dir/conf.d/${relative%.template}"
done < <(find nginx/templates -type f -name '*.template')
# What nginx/follow-web.sh writes in the container, here for the one upstream.
echo "server $UPSTREAM max_fails=1 fail_timeout=10s;" >"$dir/conf.d/shop/web-servers.conf"
mkdir -p "$dir/tls" "$dir/logs"

# The official image's main config (worker_processes auto, 1024 connections, access log on).
cat >"$dir/nginx.conf" <<CONF
worker_processes auto;
error_log $dir/logs/error.log notice;
pid $dir/nginx.pid;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $dir/client_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;
    access_log $dir/logs/access.log combined;
    sendfile on;
    keepalive_timeout 65;
    include conf.d/*.conf;
}
CONF
