#!/usr/bin/env bash
# Usage: scripts/deploy.sh [--rollback]   (make deploy, make rollback)
# A release of the running container stack with no failed request: build the image, run its
# migrations once, start as many new web replicas beside the old ones, wait until they are
# healthy, have nginx send to them only (nginx/follow-web.sh drain), then stop the old ones,
# which finish what they serve. The image that served before is kept as <image>:previous;
# --rollback serves it again the same way, without a build or a migration.
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a compose <<<"${COMPOSE:-docker compose}"
READY_TIMEOUT_SECONDS=${UP_TIMEOUT_SECONDS:-300}
# Longer than gunicorn's graceful timeout (20 s), so requests in flight finish before the stop.
STOP_SECONDS=25
FOLLOW_WEB=/docker-entrypoint.d/40-follow-web.sh

log() { echo "deploy: $*"; }
die() {
  echo "deploy: $*" >&2
  exit 1
}

running() { "${compose[@]}" ps --quiet --status running "$1"; }

# Each container's address on the network nginx reaches it by.
addresses() {
  local network=$1 container
  shift
  for container; do
    docker inspect --format "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$container"
  done
}

# Takes replicas out of nginx, then stops them: nothing is sent to a replica that is stopping.
retire() {
  local network=$1
  shift
  # shellcheck disable=SC2046 # one address per line, none with spaces
  "${compose[@]}" exec -T nginx "$FOLLOW_WEB" drain $(addresses "$network" "$@")
  docker stop --time "$STOP_SECONDS" "$@" >/dev/null
  docker rm "$@" >/dev/null
  "${compose[@]}" exec -T nginx "$FOLLOW_WEB" drain
}

mode=deploy
case ${1:-} in
  "") ;;
  --rollback) mode=rollback ;;
  *)
    sed -n '2,7s/^# \{0,1\}//p' "$0" >&2
    exit 2
    ;;
esac

mapfile -t old < <(running web)
((${#old[@]})) || die "no web replica is running: start the stack with \`make up\` first."
nginx=$(running nginx)
[[ -n $nginx ]] || die "nginx is not running: start the stack with \`make up\` first."
network=$(docker inspect --format '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{"\n"}}{{end}}' "$nginx" |
  grep -xF -f <(docker inspect --format '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{"\n"}}{{end}}' "${old[0]}") |
  head -n 1)
image=$(docker inspect --format '{{.Config.Image}}' "${old[0]}")
previous=${image%:*}:previous
serving=$(docker inspect --format '{{.Image}}' "${old[0]}")

if [[ $mode == rollback ]]; then
  docker image inspect "$previous" >/dev/null 2>&1 ||
    die "there is no $previous to roll back to: \`make deploy\` keeps one."
  [[ $(docker image inspect --format '{{.Id}}' "$previous") != "$serving" ]] ||
    die "$previous is the image serving already."
  docker tag "$previous" "$image"
  docker tag "$serving" "$previous"
  log "rolling back to the previous image; the one serving is kept as $previous"
else
  docker tag "$serving" "$previous"
  log "building $image (the one serving is kept as $previous)"
  "${compose[@]}" build web
  if ! "${compose[@]}" run --rm --no-deps migrate; then
    docker tag "$serving" "$image"
    die "the migration failed (see above); the old replicas serve on, unchanged."
  fi
fi

log "starting ${#old[@]} new web replica(s) beside the ${#old[@]} serving"
if ! "${compose[@]}" up --detach --no-deps --no-build --no-recreate --wait \
  --wait-timeout "$READY_TIMEOUT_SECONDS" --scale web=$((2 * ${#old[@]})) web; then
  mapfile -t new < <(running web | grep -vxF -f <(printf '%s\n' "${old[@]}"))
  ((${#new[@]} == 0)) || retire "$network" "${new[@]}"
  docker tag "$serving" "$image"
  die "the new replicas did not become healthy (see \`make logs\`); the old ones serve on."
fi
mapfile -t new < <(running web | grep -vxF -f <(printf '%s\n' "${old[@]}"))
log "new replicas healthy: ${new[*]:0:1}...; draining the old ones"
retire "$network" "${old[@]}"
# The reconcile service runs the same image; a run cut short is taken up by the next.
if "${compose[@]}" config --services | grep -qx reconcile; then
  "${compose[@]}" up --detach --no-deps --no-build --force-recreate reconcile
fi
log "web runs $(docker inspect --format '{{.Image}}' "${new[0]}" | cut -c1-19); \`make rollback\` serves $previous again."
