#!/usr/bin/env bash
# Usage: scheduled-backup.sh [--check]
# The production overlay's `backup` service, in the postgres image: a pg_dump (custom format) of
# the shop's database into /backups every BACKUP_INTERVAL_HOURS (default 24; decimals allowed),
# keeping the newest BACKUP_KEEP (default 7). It starts as root only to hand /backups (a fresh
# volume, or the host folder BACKUP_DIR names) to the postgres user, which makes the dumps.
# --check, the healthcheck, passes while the newest dump is younger than two intervals.
set -euo pipefail

BACKUP_DIR=/backups
INTERVAL_HOURS=${BACKUP_INTERVAL_HOURS:-24}
KEEP=${BACKUP_KEEP:-7}
# After a failed dump, the next try comes this soon (or after the interval, if shorter).
RETRY_SECONDS=60

log() { echo "backup: $*"; }

if ! [[ $INTERVAL_HOURS =~ ^[0-9]*\.?[0-9]+$ ]] || ! awk -v h="$INTERVAL_HOURS" 'BEGIN { exit !(h > 0) }'; then
  log "BACKUP_INTERVAL_HOURS must be a positive number of hours, not '$INTERVAL_HOURS'." >&2
  exit 1
fi
[[ $KEEP =~ ^[1-9][0-9]*$ ]] || {
  log "BACKUP_KEEP must be a whole number of dumps, 1 or more, not '$KEEP'." >&2
  exit 1
}
INTERVAL_SECONDS=$(awk -v h="$INTERVAL_HOURS" 'BEGIN { s = int(h * 3600); print (s < 1 ? 1 : s) }')

newest() {
  find "$BACKUP_DIR" -maxdepth 1 -name 'shop-*.dump' | sort | tail -n 1
}

check() {
  local file
  file=$(newest)
  [[ -n $file ]] || {
    echo "no dump in $BACKUP_DIR yet"
    exit 1
  }
  local age=$(($(date +%s) - $(stat -c %Y "$file")))
  ((age < 2 * INTERVAL_SECONDS)) || {
    echo "the newest dump, $file, is $age s old"
    exit 1
  }
}

# One dump, written aside and renamed once pg_restore can read it whole, then the oldest pruned.
dump() {
  local file partial
  file="$BACKUP_DIR/shop-$(date -u +%Y%m%dT%H%M%SZ).dump"
  partial="$file.partial"
  if ! pg_dump --format=custom --file="$partial" || ! pg_restore --list "$partial" >/dev/null; then
    rm -f "$partial"
    return 1
  fi
  mv "$partial" "$file"
  find "$BACKUP_DIR" -maxdepth 1 -name 'shop-*.dump' | sort | head -n "-$KEEP" | xargs -r rm -f --
  log "wrote $file ($(du -k "$file" | cut -f1) KB); the newest $KEEP are kept"
}

if [[ ${1:-} == --check ]]; then
  check
  exit 0
fi
if ((${#})); then
  sed -n '2,7s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
if ((EUID == 0)); then
  chown postgres:postgres "$BACKUP_DIR"
  exec setpriv --reuid=postgres --regid=postgres --clear-groups "$0"
fi
[[ -w $BACKUP_DIR ]] || {
  log "$BACKUP_DIR is not writable by $(id -un); give the folder BACKUP_DIR names to uid $(id -u)." >&2
  exit 1
}
log "a dump every $INTERVAL_HOURS h into $BACKUP_DIR, keeping $KEEP"
while :; do
  if dump; then
    sleep "$INTERVAL_SECONDS"
  else
    log "the dump failed (see above); trying again in $((INTERVAL_SECONDS < RETRY_SECONDS ? INTERVAL_SECONDS : RETRY_SECONDS)) s" >&2
    sleep $((INTERVAL_SECONDS < RETRY_SECONDS ? INTERVAL_SECONDS : RETRY_SECONDS))
  fi
done
