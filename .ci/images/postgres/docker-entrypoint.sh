#!/usr/bin/env bash
# Usage: docker-entrypoint.sh postgres [OPTION...]   (or any other command, which is run as is)
# Entry point of the offline PostgreSQL stand-in: creates the cluster on an empty PGDATA from
# POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and POSTGRES_INITDB_ARGS (or their *_FILE
# variants), as the official image does, then runs the server as the postgres user.
set -euo pipefail

# VAR or VAR_FILE (a secret mounted as a file), never both.
file_env() {
  local var=$1 default=${2:-} file_var="${1}_FILE"
  if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
    echo >&2 "error: both $var and $file_var are set (but are exclusive)"
    exit 1
  fi
  local value=$default
  if [[ -n ${!var:-} ]]; then
    value=${!var}
  elif [[ -n ${!file_var:-} ]]; then
    value=$(<"${!file_var}")
  fi
  export "$var"="$value"
  unset "$file_var"
}

init_cluster() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  local auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [[ -z $POSTGRES_PASSWORD && $auth != trust ]]; then
    cat >&2 <<'MESSAGE'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.
MESSAGE
    exit 1
  fi

  # Word-split on purpose, as the official image does: POSTGRES_INITDB_ARGS is a flag string.
  local extra
  read -r -a extra <<<"$POSTGRES_INITDB_ARGS"
  if [[ -n $POSTGRES_PASSWORD ]]; then
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") "${extra[@]}"
  else
    initdb --username="$POSTGRES_USER" "${extra[@]}"
  fi
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

  # Unix socket only until the cluster is ready, so a TCP health check cannot pass too early.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
  local psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [[ $POSTGRES_DB != postgres ]]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh)
        echo "$0: running $f"
        # shellcheck source=/dev/null
        . "$f"
        ;;
      *.sql) echo "$0: running $f" && "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "$0: running $f" && gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *) [[ -e $f ]] && echo "$0: ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo
  echo 'PostgreSQL init process complete; ready for start up.'
  echo
}

if [[ ${1:-} == -* ]]; then
  set -- postgres "$@"
fi
if [[ ${1:-} != postgres ]]; then
  exec "$@"
fi

if [[ $(id -u) == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 00700 "$PGDATA"
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  init_cluster
fi
exec "$@"
