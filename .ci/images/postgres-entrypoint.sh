#!/bin/sh
# The official postgres image's interface on Debian's postgresql-15: POSTGRES_PASSWORD, POSTGRES_USER,
# POSTGRES_DB, POSTGRES_HOST_AUTH_METHOD and PGDATA; arguments starting with '-' go to postgres
# (so `-c shared_preload_libraries=...` works); the same log lines, ending with the server's own
# "database system is ready to accept connections" once it listens on TCP.
set -eu

if [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  : "${PGDATA:=/var/lib/postgresql/data}"
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "Error: Database is uninitialized and superuser password is not specified." >&2
    echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
    exit 1
  fi
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"

  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
    chown postgres "$pwfile"
    setpriv --reuid=postgres --regid=postgres --init-groups \
      initdb --username="$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 -D "$PGDATA" >&2
    rm -f "$pwfile"
    printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    # Initialise the database on a socket-only server, as the official image does, so nothing
    # reaches TCP before it is complete.
    setpriv --reuid=postgres --regid=postgres --init-groups \
      pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >&2
    if [ "$db" != postgres ]; then
      setpriv --reuid=postgres --regid=postgres --init-groups \
        psql -h /var/run/postgresql -U "$user" -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE \"$db\"" >&2
    fi
    setpriv --reuid=postgres --regid=postgres --init-groups \
      pg_ctl -D "$PGDATA" -m fast -w stop >&2
    echo "PostgreSQL init process complete; ready for start up." >&2
  else
    echo "PostgreSQL Database directory appears to contain a database; Skipping initialization" >&2
  fi

  shift
  exec setpriv --reuid=postgres --regid=postgres --init-groups \
    postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
fi

exec "$@"
