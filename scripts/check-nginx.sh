#!/usr/bin/env bash
# Usage: scripts/check-nginx.sh
# `nginx -t` on the shop's nginx config, rendered the way the nginx image renders it (envsubst of
# the templates) and with the production overlay's HTTPS server and a throwaway certificate, so
# both the local and the production setups are checked without a container.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx)." >&2; exit 1; }
command -v envsubst >/dev/null || { echo "envsubst is missing (apt-get install gettext-base)." >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The values docker-compose.yml gives; only these are substituted, as NGINX_ENVSUBST_FILTER says.
# shellcheck disable=SC2016 # a literal nginx variable, as compose passes it
export UPSTREAM=127.0.0.1:8000 NGINX_PORT=8080 NGINX_FORWARDED_PROTO='$scheme'
export NGINX_CHECKOUT_RATE=1r/s NGINX_CHECKOUT_BURST=20
# shellcheck disable=SC2016 # envsubst's list of names, not an expansion
variables='${UPSTREAM} ${NGINX_PORT} ${NGINX_FORWARDED_PROTO} ${NGINX_CHECKOUT_RATE} ${NGINX_CHECKOUT_BURST}'

while IFS= read -r template; do
  relative=${template#nginx/templates/}
  mkdir -p "$work/conf.d/$(dirname "$relative")"
  envsubst "$variables" <"$template" >"$work/conf.d/${relative%.template}"
done < <(find nginx/templates -type f -name '*.template')

cp -r nginx/tls "$work/tls"
mkdir "$work/certs"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$work/certs/privkey.pem" -out "$work/certs/fullchain.pem" 2>/dev/null

# The main config of the official image, with paths inside the scratch folder.
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
error_log stderr notice;
pid $work/nginx.pid;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $work/client_temp;
    proxy_temp_path $work/proxy_temp;
    fastcgi_temp_path $work/fastcgi_temp;
    uwsgi_temp_path $work/uwsgi_temp;
    scgi_temp_path $work/scgi_temp;
    access_log off;
    include conf.d/*.conf;
}
CONF

nginx -q -t -p "$work" -c "$work/nginx.conf"
echo "nginx config OK (local and HTTPS servers)"
