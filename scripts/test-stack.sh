#!/usr/bin/env bash
# Usage: scripts/test-stack.sh   (make test-stack; needs Docker with the Compose plugin)
# Boots the repo's own compose files and tests them through nginx: first the local stack exactly
# as `make up` runs it, then the same stack with three web replicas, then the production overlay
# with throwaway secrets and a certificate made for this run. COMPOSE_OVERRIDE names one more compose file to add to both (CI's build network).
# Each stack is removed with its volume afterwards: the two use different database passwords.
# They run as a compose project of their own, so a stack started with `make up` keeps its
# containers and volumes; only the published ports cannot be shared, and are checked first.
set -euo pipefail
cd "$(dirname "$0")/.."

export COMPOSE_PROJECT_NAME=django-stripe-shop-test
ports=("${HTTP_PORT:-8080}" 12111 "${HTTPS_PORT:-8443}")
for port in "${ports[@]}"; do
  if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "test-stack: port $port on 127.0.0.1 is taken (a stack from \`make up\`? \`make down\` stops it, and keeps its data); the test stacks publish on ports ${ports[*]}." >&2
    exit 1
  fi
done

scratch=$(mktemp -d)
# The README's path: `cp .env.example .env && make up`. A developer's own .env is used as it is.
made_env=
if [[ ! -e .env ]]; then
  cp .env.example .env
  made_env=1
fi
finish() {
  local status=$?
  # On failure, what the containers said is the first thing to read.
  if ((status)); then
    make ps || true
    make logs || true
  fi
  docker compose down --volumes --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$scratch"
  if [[ -n $made_env ]]; then rm -f .env; fi
}
trap finish EXIT

files() { echo "$1${COMPOSE_OVERRIDE:+:$COMPOSE_OVERRIDE}"; }
started=$SECONDS

echo "--- the local stack: make up"
export COMPOSE_FILE
COMPOSE_FILE=$(files docker-compose.yml)
# The deploy test's buyer presses Buy Now every second for the whole deploy.
export ORDERS_PER_MINUTE_PER_VISITOR=120 ORDERS_PER_MINUTE_PER_ADDRESS=240
make up
make test-containers
echo "local stack tested after $((SECONDS - started)) s"

echo "--- three web replicas behind the one nginx: WEB_REPLICAS=3 make up"
# The races post one client's forms dozens of times: a checkout limit that lets them through.
NGINX_CHECKOUT_BURST=200 WEB_REPLICAS=3 make up
make test-replicas
docker compose down --volumes --remove-orphans
unset ORDERS_PER_MINUTE_PER_VISITOR ORDERS_PER_MINUTE_PER_ADDRESS
echo "replicas tested after $((SECONDS - started)) s"

echo "--- the production overlay"
# nginx reads the certificate as its unprivileged user.
certs="$scratch/certs"
mkdir -m 755 "$certs"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$certs/privkey.pem" -out "$certs/fullchain.pem" 2>/dev/null
chmod 644 "$certs/privkey.pem" "$certs/fullchain.pem"

COMPOSE_FILE=$(files docker-compose.yml:docker-compose.prod.yml)
export TLS_CERT_DIR="$certs"
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
export SECRET_KEY POSTGRES_PASSWORD
export ALLOWED_HOSTS=127.0.0.1,localhost
export CSRF_TRUSTED_ORIGINS=https://127.0.0.1:8443,https://localhost:8443
export STRIPE_SECRET_KEY=sk_test_container_tests_only
export STRIPE_WEBHOOK_SECRET=whsec_container_tests_only
# Dumps seconds apart, so that the backup service's schedule and pruning are seen in the run.
export BACKUP_INTERVAL_HOURS=0.001 BACKUP_KEEP=2
make prod-config >/dev/null
make up
make test-containers
echo "production overlay tested after $((SECONDS - started)) s"
