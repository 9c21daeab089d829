#!/bin/sh
# Usage: follow-web.sh [check | drain [ADDRESS...]]
# Mounted into the nginx container's /docker-entrypoint.d/, which the image runs before nginx
# starts: writes the upstream's servers (conf.d/shop/web-servers.conf) from the addresses
# Docker's DNS gives for the host in $UPSTREAM (every web replica), then keeps them current in
# the background: every FOLLOW_SECONDS it resolves the name again and, when the set changed,
# rewrites the file and reloads nginx. No address at all (every replica gone) changes nothing.
#   check            the healthcheck: the follower runs and nginx reaches a web replica
#   drain ADDRESS... leave these replicas out (a deploy, before stopping them), reload, and
#                    return once no nginx worker can still send to them; no address: none
set -eu

FOLLOW_SECONDS=2
# How long a follower may miss its beat before the healthcheck fails.
STALE_SECONDS=30
# Longer than proxy_read_timeout: the slowest request an old worker can still be serving.
DRAIN_TIMEOUT_SECONDS=40
SERVERS_FILE=/etc/nginx/conf.d/shop/web-servers.conf
STATE_DIR=/run/follow-web
HOST=${UPSTREAM%:*}
PORT=${UPSTREAM##*:}

log() { echo "follow-web: $*"; }

resolve() {
  getent ahostsv4 "$HOST" | awk '{print $1}' | sort -u
}

# The replicas to send to: every address of the name but the drained ones, yet never none.
wanted() {
  addresses=$(resolve || true)
  kept=$(printf '%s\n' "$addresses" | grep -vxF -f "$STATE_DIR/drain" || true)
  if [ -n "$kept" ]; then echo "$kept"; else echo "$addresses"; fi
}

write_servers() {
  {
    echo "# Written by follow-web.sh from what Docker's DNS answers for $HOST."
    if [ -z "$1" ]; then
      # nginx needs a server to start with; until a replica resolves, every request is a 502.
      echo "server 127.0.0.1:$PORT down;"
    fi
    for address in $1; do
      echo "server $address:$PORT max_fails=1 fail_timeout=10s;"
    done
  } >"$SERVERS_FILE.new"
  mv "$SERVERS_FILE.new" "$SERVERS_FILE"
  printf '%s\n' "$1" >"$STATE_DIR/servers"
}

# Under a lock, so the follower and a drain never interleave their writes and reloads.
apply() {
  exec 9>"$STATE_DIR/lock"
  flock 9
  servers=$(wanted)
  current=$(cat "$STATE_DIR/servers")
  if [ -n "$servers" ] && [ "$servers" != "$current" ]; then
    write_servers "$servers"
    nginx -s reload 2>&1
    log "web is at $(echo "$servers" | tr '\n' ' ')(was: $(echo "$current" | tr '\n' ' ')); nginx reloaded"
  fi
  exec 9>&-
}

follow() {
  while sleep "$FOLLOW_SECONDS"; do
    apply || log "could not update the upstream; trying again"
    touch "$STATE_DIR/beat"
  done
}

# nginx renames a worker it has told to finish; the brackets keep grep from counting itself.
workers_shutting_down() {
  grep -l 'shutting [d]own' /proc/[0-9]*/cmdline 2>/dev/null | wc -l
}

drain() {
  if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi >"$STATE_DIR/drain.new"
  mv "$STATE_DIR/drain.new" "$STATE_DIR/drain"
  apply
  if grep -qxF -f "$STATE_DIR/drain" "$STATE_DIR/servers"; then
    log "not drained: no other replica of $HOST to send to" >&2
    exit 1
  fi
  waited=0
  while [ "$(workers_shutting_down)" -gt 0 ]; do
    if [ "$waited" -ge "$DRAIN_TIMEOUT_SECONDS" ]; then
      log "old workers still busy after $DRAIN_TIMEOUT_SECONDS s" >&2
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "sending to $(tr '\n' ' ' <"$STATE_DIR/servers")only"
}

check() {
  beat=$(stat -c %Y "$STATE_DIR/beat" 2>/dev/null || echo 0)
  if [ $(($(date +%s) - beat)) -ge "$STALE_SECONDS" ]; then
    echo "the follower of $HOST has stopped: nginx no longer sees replicas come and go"
    exit 1
  fi
  if ! curl --fail --silent --output /dev/null --max-time 2 "http://127.0.0.1:$NGINX_PORT/nginx-health/web"; then
    echo "nginx reaches no web replica (upstream: $(tr '\n' ' ' <"$STATE_DIR/servers"))"
    exit 1
  fi
}

start() {
  mkdir -p "$STATE_DIR"
  : >"$STATE_DIR/drain"
  : >"$STATE_DIR/servers"
  servers=$(wanted)
  [ -n "$servers" ] || log "$HOST does not resolve yet; nginx answers 502 until it does"
  write_servers "$servers"
  touch "$STATE_DIR/beat"
  log "web is at $(echo "$servers" | tr '\n' ' ')(re-resolved every $FOLLOW_SECONDS s)"
  follow &
}

case ${1:-start} in
  start) start ;;
  check) check ;;
  drain)
    shift
    drain "$@"
    ;;
  *)
    sed -n '2,10s/^# \{0,1\}//p' "$0" >&2
    exit 2
    ;;
esac
