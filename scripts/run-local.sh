#!/usr/bin/env bash
# `make run`: the shop on http://127.0.0.1:8000. With no Stripe key in the environment or .env,
# the Stripe simulator starts beside it and the two are wired together.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8000}"
SIM_PORT="${STRIPE_SIM_PORT:-12111}"
PYTHON="$PWD/.venv/bin/python"

dotenv_value() { sed -n "s/^$1=//p" .env 2>/dev/null | tail -n 1; }

if [[ -z "${DEBUG:-}" && -z "$(dotenv_value DEBUG)" ]]; then
  export DEBUG=true
fi

# This checkout's own secrets, wherever the environment and .env leave one empty.
scripts/local-secrets.sh var/local-secrets.env
# shellcheck source=/dev/null
source var/local-secrets.env
if [[ -z "${SECRET_KEY:-}" && -z "$(dotenv_value SECRET_KEY)" ]]; then
  export SECRET_KEY=$LOCAL_SECRET_KEY
fi

if [[ -z "${STRIPE_SECRET_KEY:-}" && -z "$(dotenv_value STRIPE_SECRET_KEY)" ]]; then
  export STRIPE_SECRET_KEY=sk_test_simulator
  export STRIPE_API_BASE="http://127.0.0.1:$SIM_PORT"
  if [[ -z "${STRIPE_WEBHOOK_SECRET:-}" ]]; then
    STRIPE_WEBHOOK_SECRET=$(dotenv_value STRIPE_WEBHOOK_SECRET)
  fi
  export STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET:-$LOCAL_STRIPE_WEBHOOK_SECRET}
  "$PYTHON" -m stripe_sim --port "$SIM_PORT" \
    --webhook-url "http://127.0.0.1:$PORT/stripe/webhook/" \
    --webhook-secret "$STRIPE_WEBHOOK_SECRET" &
  simulator=$!
  trap 'kill "$simulator" 2>/dev/null || true' EXIT
  echo "No STRIPE_SECRET_KEY: payments go to the Stripe simulator on $STRIPE_API_BASE"
fi

cd app
"$PYTHON" manage.py migrate --noinput
"$PYTHON" manage.py runserver "127.0.0.1:$PORT"
