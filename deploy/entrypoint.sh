#!/usr/bin/env bash
# Usage: entrypoint.sh COMMAND [ARG...]
# The image's entrypoint: wait (bounded) until the database accepts connections, then run COMMAND
# as PID 1's replacement, so signals from the container runtime reach it directly.
set -euo pipefail

if [[ -n "${DATABASE_URL:-}" ]]; then
  python /srv/shop/deploy/wait_for_database.py
fi

exec "$@"
