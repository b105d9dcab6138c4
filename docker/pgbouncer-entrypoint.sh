#!/bin/sh
# PgBouncer configured from the environment, in the foreground, as a non-root user. Writes
# pgbouncer.ini and userlist.txt on every start, so the same image serves any database:
#   DATABASE_HOST (postgres) DATABASE_PORT (5432) DATABASE_USER (postgres) DATABASE_PASSWORD (required)
#   DATABASE_NAME (shopload): the one database clients reach, under the same name
#   LISTEN_PORT (6432) POOL_MODE (transaction) DEFAULT_POOL_SIZE (25) MAX_CLIENT_CONN (1000)
#   MAX_PREPARED_STATEMENTS (200; protocol-level prepared statements in transaction mode, as sqlx
#   and other drivers use them) AUTH_TYPE (scram-sha-256) MAX_DB_CONNECTIONS (0: no limit)
#   RESERVE_POOL_SIZE (0) LOG_CONNECTIONS (0) LOG_DISCONNECTIONS (0)
# Other arguments than `pgbouncer [options]` are run as given.
set -eu

if [ "${1#-}" != "$1" ]; then
  set -- pgbouncer "$@"
fi
if [ "$1" != pgbouncer ]; then
  exec "$@"
fi
# Started as root (`--user 0`, an old engine): the same script again as the image's user.
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
shift

: "${DATABASE_PASSWORD:?set DATABASE_PASSWORD to the password of DATABASE_USER}"
host=${DATABASE_HOST:-postgres}
port=${DATABASE_PORT:-5432}
user=${DATABASE_USER:-postgres}
db=${DATABASE_NAME:-shopload}
dir=${PGBOUNCER_CONFIG_DIR:-/etc/pgbouncer}

# userlist.txt quotes with "", and a quote inside is doubled.
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }

umask 077
printf '%s %s\n' "$(quote "$user")" "$(quote "$DATABASE_PASSWORD")" >"$dir/userlist.txt"
cat >"$dir/pgbouncer.ini" <<EOF
[databases]
$db = host=$host port=$port dbname=$db

[pgbouncer]
listen_addr = *
listen_port = ${LISTEN_PORT:-6432}
unix_socket_dir =
auth_type = ${AUTH_TYPE:-scram-sha-256}
auth_file = $dir/userlist.txt
admin_users = $user
stats_users = $user
pool_mode = ${POOL_MODE:-transaction}
default_pool_size = ${DEFAULT_POOL_SIZE:-25}
reserve_pool_size = ${RESERVE_POOL_SIZE:-0}
max_client_conn = ${MAX_CLIENT_CONN:-1000}
max_db_connections = ${MAX_DB_CONNECTIONS:-0}
max_prepared_statements = ${MAX_PREPARED_STATEMENTS:-200}
; sqlx (and JDBC) send it in the startup packet; PgBouncer refuses unknown startup parameters.
ignore_startup_parameters = extra_float_digits
log_connections = ${LOG_CONNECTIONS:-0}
log_disconnections = ${LOG_DISCONNECTIONS:-0}
logfile =
pidfile =
EOF

echo "pgbouncer: $db -> $host:$port/$db as $user, pool_mode=${POOL_MODE:-transaction}" \
  "default_pool_size=${DEFAULT_POOL_SIZE:-25} max_client_conn=${MAX_CLIENT_CONN:-1000}" \
  "max_prepared_statements=${MAX_PREPARED_STATEMENTS:-200}" >&2
exec pgbouncer "$@" "$dir/pgbouncer.ini"
