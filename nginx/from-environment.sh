#!/bin/sh
# Usage: from-environment.sh   (the nginx image runs it from /docker-entrypoint.d/, after the templates)
# Writes what envsubst cannot: lists of addresses and values derived from the app's settings,
# into $NGINX_ENVSUBST_OUTPUT_DIR/shop/from-environment.conf, included by default.conf.
#   NGINX_REAL_IP_FROM      space-separated CIDRs of trusted proxies; empty: none
#   NGINX_ADMIN_ALLOW_FROM  space-separated CIDRs that may open the admin; empty: everyone
#   NGINX_HTTPS_PORT        the public HTTPS port plain HTTP is redirected to (production overlay)
#   ALLOWED_HOSTS           Django's, comma-separated: the hosts plain HTTP may be redirected for;
#                           empty: any (Django, behind the redirect, still refuses an unknown one)
#   SECURE_HSTS_SECONDS, SECURE_HSTS_INCLUDE_SUBDOMAINS, SECURE_HSTS_PRELOAD: as Django reads them
set -eu

output="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}/shop/from-environment.conf"
mkdir -p "$(dirname "$output")"

is_true() {
    case $(printf '%s' "$1" | tr '[:upper:]' '[:lower:]') in
        1 | true | yes | on) return 0 ;;
        *) return 1 ;;
    esac
}

hsts="max-age=${SECURE_HSTS_SECONDS:-31536000}"
if is_true "${SECURE_HSTS_INCLUDE_SUBDOMAINS:-true}"; then hsts="$hsts; includeSubDomains"; fi
if is_true "${SECURE_HSTS_PRELOAD:-false}"; then hsts="$hsts; preload"; fi

https_port=${NGINX_HTTPS_PORT:-443}
if [ "$https_port" = 443 ]; then https_suffix=""; else https_suffix=":$https_port"; fi

{
    echo "# Written by $(basename "$0") at start; edit the environment, not this file."
    if [ -n "${NGINX_REAL_IP_FROM:-}" ]; then
        echo "# The client is the last address in X-Forwarded-For that is not a trusted proxy."
        for cidr in $NGINX_REAL_IP_FROM; do echo "set_real_ip_from $cidr;"; done
        echo "real_ip_header X-Forwarded-For;"
        echo "real_ip_recursive on;"
    fi
    echo "geo \$shop_admin_refused {"
    if [ -n "${NGINX_ADMIN_ALLOW_FROM:-}" ]; then
        echo "    default 1;"
        for cidr in $NGINX_ADMIN_ALLOW_FROM; do echo "    $cidr 0;"; done
    else
        echo "    default 0;"
    fi
    echo "}"
    echo "map \$upstream_http_strict_transport_security \$shop_hsts {"
    echo "    \"\" \"$hsts\";"
    echo "    default \"\";"
    echo "}"
    echo "map \$host \$shop_https_port_suffix {"
    echo "    default \"$https_suffix\";"
    echo "}"
    # With hostnames, a map matches as ALLOWED_HOSTS does: .example.com is it and its subdomains.
    echo "map \$host \$shop_known_host {"
    echo "    hostnames;"
    known=$(printf '%s' "${ALLOWED_HOSTS:-}" | tr -s ', ' '\n' | sed '/^$/d')
    if [ -z "$known" ] || printf '%s\n' "$known" | grep -qxF '*'; then
        echo "    default 1;"
    else
        echo "    default 0;"
        printf '%s\n' "$known" | sed 's/.*/    & 1;/'
    fi
    echo "}"
} >"$output"
