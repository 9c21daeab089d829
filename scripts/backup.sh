#!/usr/bin/env bash
# Usage: scripts/backup.sh create|list|restore   (make backup, make backups, make restore)
# Backups of the running container stack's database, in backups/ (git-ignored): `create` writes a
# pg_dump in its custom format named by the UTC time; `restore` puts the newest one (or $BACKUP)
# back into the running stack, after asking unless YES=1. The stack is the one `docker compose`
# sees here (COMPOSE_FILE picks the files, as for `make up`).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKUP_DIR=backups
read -r -a compose <<<"${COMPOSE:-docker compose}"
# The database and role the compose files create.
DB_ARGS=(--username=shop --dbname=shop)
# The services that write to the database; a restore stops them so no write is lost in between.
WRITERS=(web reconcile)
READY_TIMEOUT_SECONDS=${UP_TIMEOUT_SECONDS:-300}
# nginx's follower of web's addresses (nginx/follow-web.sh), as the nginx image runs it.
FOLLOW_WEB=/docker-entrypoint.d/40-follow-web.sh
FOLLOW_TIMEOUT_SECONDS=30

die() {
  echo "$*" >&2
  exit 1
}

require_database() {
  if [[ -z $("${compose[@]}" ps --quiet --status running db 2>/dev/null) ]]; then
    die "The stack's database is not running: start the stack with \`make up\` first."
  fi
}

create() {
  require_database
  mkdir -p "$BACKUP_DIR"
  local file partial
  file="$BACKUP_DIR/shop-$(date -u +%Y%m%dT%H%M%SZ).dump"
  [[ ! -e $file ]] || die "$file already exists; try again in a second."
  # Written aside and renamed once complete, so a failed dump never looks like a backup.
  partial="$file.partial"
  if ! "${compose[@]}" exec -T db pg_dump "${DB_ARGS[@]}" --format=custom >"$partial"; then
    rm -f "$partial"
    die "pg_dump failed (its message is above); no backup was written."
  fi
  mv "$partial" "$file"
  echo "Wrote $file ($(du -k "$file" | cut -f1) KB). \`make restore BACKUP=$file\` restores it."
}

list() {
  local files
  files=$(find "$BACKUP_DIR" -maxdepth 1 -name 'shop-*.dump' -printf '%p\t%s bytes\n' 2>/dev/null | sort)
  if [[ -z $files ]]; then
    echo "No backups in $BACKUP_DIR/ yet: \`make backup\` writes one."
    return
  fi
  echo "$files"
}

newest() {
  find "$BACKUP_DIR" -maxdepth 1 -name 'shop-*.dump' 2>/dev/null | sort | tail -n 1
}

confirm() {
  [[ ${YES:-} == 1 ]] && return
  [[ -t 0 ]] || die "Not restoring without a confirmation: run it again with YES=1."
  local answer
  read -r -p "Replace the running stack's database with $1? Orders made since that dump are lost. [y/N] " answer
  [[ $answer == [yY]* ]] || die "Nothing restored."
}

wait_until_healthy() {
  local deadline=$((SECONDS + READY_TIMEOUT_SECONDS)) container health unhealthy
  while :; do
    unhealthy=0
    for container in $("${compose[@]}" ps --quiet web); do
      health=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$container")
      [[ $health == healthy ]] || unhealthy=1
    done
    ((unhealthy)) || return 0
    ((SECONDS < deadline)) || die "web did not become healthy within ${READY_TIMEOUT_SECONDS} s: see \`make logs\`."
    sleep 1
  done
}

restart() {
  (($#)) && "${compose[@]}" start "$@"
  wait_until_healthy
  [[ -n $("${compose[@]}" ps --quiet --status running nginx 2>/dev/null) ]] || return 0
  # A replica started again may have a new address (the migrate one-off can take its old one):
  # nginx follows within seconds by itself; here it takes the new addresses at once, and the
  # restore returns only once nginx reaches web again, so nothing after it meets a 502.
  "${compose[@]}" exec -T nginx "$FOLLOW_WEB" drain
  local deadline=$((SECONDS + FOLLOW_TIMEOUT_SECONDS))
  until "${compose[@]}" exec -T nginx "$FOLLOW_WEB" check >/dev/null; do
    ((SECONDS < deadline)) || die "nginx reaches no web replica ${FOLLOW_TIMEOUT_SECONDS} s after the restore: see \`make logs\`."
    sleep 1
  done
}

restore() {
  local file=${BACKUP:-}
  if [[ -n $file ]]; then
    [[ -f $file ]] || die "No backup at $file: \`make backups\` lists them."
  else
    file=$(newest)
    [[ -n $file ]] || die "No backup in $BACKUP_DIR/ to restore: \`make backup\` writes one, or name one with BACKUP=<file>."
  fi
  require_database
  "${compose[@]}" exec -T db pg_restore --list <"$file" >/dev/null 2>&1 ||
    die "$file is not a dump pg_restore can read (pg_dump --format=custom); nothing restored."
  confirm "$file"

  local writers=()
  for service in "${WRITERS[@]}"; do
    [[ -n $("${compose[@]}" ps --quiet "$service" 2>/dev/null) ]] && writers+=("$service")
  done
  echo "Stopping ${writers[*]:-nothing} while the database is replaced (nginx answers 502 meanwhile)."
  ((${#writers[@]} == 0)) || "${compose[@]}" stop "${writers[@]}"
  # Whatever happens next, the app comes back.
  trap 'restart "${writers[@]}"' EXIT
  # One transaction: a restore that fails leaves the database as it was.
  "${compose[@]}" exec -T db pg_restore "${DB_ARGS[@]}" --clean --if-exists --no-owner \
    --single-transaction --exit-on-error <"$file" ||
    die "The restore failed (see above); the database is as it was before it."
  # A dump older than the code lacks the newer migrations; the app would stay unready.
  "${compose[@]}" run --rm --no-deps migrate ||
    die "$file is restored, but the migration after it failed (see above)."
  trap - EXIT
  restart "${writers[@]}"
  echo "Restored $file into the running stack."
}

case ${1:-} in
  create) create ;;
  list) list ;;
  restore) restore ;;
  *)
    sed -n '2,6s/^# \{0,1\}//p' "$0" >&2
    exit 2
    ;;
esac
