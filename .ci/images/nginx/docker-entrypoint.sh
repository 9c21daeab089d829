#!/bin/sh
# Usage: /docker-entrypoint.sh nginx [ARG...]   (or any other command, which is run as is)
# Entry point of the offline nginx stand-in, as the official image's: before nginx starts, runs
# the executable *.sh and sources the executable *.envsh in /docker-entrypoint.d, in version order.
set -eu

entrypoint_log() {
    if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
        echo "$@"
    fi
}

if [ "${1:-}" = "nginx" ] || [ "${1:-}" = "nginx-debug" ]; then
    if find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -type f -print -quit 2>/dev/null | read -r _; then
        entrypoint_log "$0: /docker-entrypoint.d/ is not empty, will attempt to perform configuration"
        entrypoint_log "$0: Looking for shell scripts in /docker-entrypoint.d/"
        # A here-document, not a pipe: sourced *.envsh must change this shell's environment.
        scripts=$(find /docker-entrypoint.d/ -follow -type f -print | sort -V)
        while read -r f; do
            case "$f" in
                *.envsh)
                    if [ -x "$f" ]; then
                        entrypoint_log "$0: Sourcing $f"
                        # shellcheck source=/dev/null
                        . "$f"
                    else
                        entrypoint_log "$0: Ignoring $f, not executable"
                    fi
                    ;;
                *.sh)
                    if [ -x "$f" ]; then
                        entrypoint_log "$0: Launching $f"
                        "$f"
                    else
                        entrypoint_log "$0: Ignoring $f, not executable"
                    fi
                    ;;
                *) entrypoint_log "$0: Ignoring $f" ;;
            esac
        done <<SCRIPTS
$scripts
SCRIPTS
        entrypoint_log "$0: Configuration complete; ready for start up"
    else
        entrypoint_log "$0: No files found in /docker-entrypoint.d/, skipping configuration"
    fi
fi

exec "$@"
