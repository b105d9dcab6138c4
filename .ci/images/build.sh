#!/usr/bin/env bash
# Builds images from Debian's packages with debootstrap, for a Docker engine that cannot pull from a
# registry:
#   stack      stand-in PostgreSQL and Redis (the default): one rootfs holding both servers, imported
#              twice with different entrypoints that follow the official images' interface (env,
#              ports, log lines), so fixtures::stack's docker provider and docker-compose.yml use
#              them exactly as they would use postgres:16-alpine/redis:7-alpine
#   base       a plain bookworm (minbase + ca-certificates): the stand-in for debian:bookworm-slim,
#              the base of docker/Dockerfile (SHOPLOAD_BASE_IMAGE)
#   pgbouncer  PgBouncer 1.24 from trixie (bookworm's 1.18 predates prepared statements in
#              transaction mode) with docker/pgbouncer-entrypoint.sh: docker-compose.yml's pooler
#   nginx      Nginx (Debian's nginx-light) and openssl with docker/nginx-entrypoint.sh: the HTTPS front
#              of docker-compose.yml, its certificate made at start-up
#   all        the four
#
# Usage: .ci/images/build.sh [stack|base|pgbouncer|nginx|all]...   (builds only what is missing)
#        FORCE=1 .ci/images/build.sh ...                       (rebuilds)
# Needs root and debootstrap. Prints nothing but progress; the names are the defaults of
# SHOPLOAD_POSTGRES_IMAGE and SHOPLOAD_REDIS_IMAGE in .ci/run, and of SHOPLOAD_BASE_IMAGE and
# SHOPLOAD_PGBOUNCER_IMAGE and SHOPLOAD_NGINX_IMAGE in .ci/compose-smoke.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
pg_image=${STANDIN_POSTGRES_IMAGE:-shopload/postgres:15-bookworm}
redis_image=${STANDIN_REDIS_IMAGE:-shopload/redis:7-bookworm}
base_image=${STANDIN_BASE_IMAGE:-shopload/debian:bookworm}
pgbouncer_image=${STANDIN_PGBOUNCER_IMAGE:-shopload/pgbouncer:trixie}
nginx_image=${STANDIN_NGINX_IMAGE:-shopload/nginx:bookworm}
suite=${STANDIN_SUITE:-bookworm}
pgbouncer_suite=${STANDIN_PGBOUNCER_SUITE:-trixie}
path='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

have() { docker image inspect "$1" >/dev/null 2>&1; }

# True when every image named is present and FORCE is not set (then says so).
present() {
  [ "${FORCE:-0}" != 1 ] || return 1
  local image
  for image in "$@"; do
    have "$image" || return 1
  done
  echo "present: $*"
}

# The mirror apt already uses on this machine (deb822 or one-line format); debootstrap's own default
# otherwise.
mirror() {
  { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } |
    grep -v -- '-security' | head -n 1 || true
}

work=$(mktemp -d /var/tmp/shopload-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

# rootfs NAME SUITE PACKAGES: a minbase root filesystem of SUITE with PACKAGES (comma-separated) in
# $work/NAME; prints its path.
rootfs() {
  local suite=$2 packages=$3 dir="$work/$1" m
  m=$(mirror)
  echo "debootstrap $suite with $packages (mirror: ${m:-debootstrap default})" >&2
  # shellcheck disable=SC2086
  debootstrap --variant=minbase --include="$packages" "$suite" "$dir" $m \
    >"$dir.log" 2>&1 || {
    tail -n 30 "$dir.log" >&2
    return 1
  }
  echo "$dir"
}

# Docs, apt lists and caches are not needed at run time.
slim() {
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/var/log/*.log \
    "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/locale/* "$1"/usr/share/info/*
}

# import ROOTFS IMAGE [--change ...]...: the rootfs as one layer.
import() {
  local dir=$1 image=$2
  shift 2
  tar -C "$dir" -c . | docker import "$@" - "$image" >/dev/null
  echo "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}'))"
}

build_stack() {
  present "$pg_image" "$redis_image" && return 0
  local dir
  dir=$(rootfs stack "$suite" postgresql-15,redis-server,ca-certificates)
  install -m 0755 "$here/postgres-entrypoint.sh" "$dir/usr/local/bin/docker-entrypoint.sh"
  install -m 0755 "$here/redis-entrypoint.sh" "$dir/usr/local/bin/redis-entrypoint.sh"
  slim "$dir"
  import "$dir" "$pg_image" \
    --change "ENV PATH=/usr/lib/postgresql/15/bin:$path" \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'EXPOSE 5432' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]'
  import "$dir" "$redis_image" \
    --change "ENV PATH=$path" \
    --change 'EXPOSE 6379' \
    --change 'ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]' \
    --change 'CMD ["redis-server"]'
  rm -rf "$dir"
}

build_base() {
  present "$base_image" && return 0
  local dir
  dir=$(rootfs base "$suite" ca-certificates)
  slim "$dir"
  import "$dir" "$base_image" \
    --change "ENV PATH=$path" \
    --change 'CMD ["bash"]'
  rm -rf "$dir"
}

build_pgbouncer() {
  present "$pgbouncer_image" && return 0
  local dir
  # pgbouncer's package brings postgresql-common and with it the `postgres` user it runs as.
  dir=$(rootfs pgbouncer "$pgbouncer_suite" pgbouncer,ca-certificates)
  install -m 0755 "$repo/docker/pgbouncer-entrypoint.sh" "$dir/usr/local/bin/docker-entrypoint.sh"
  # The entrypoint writes the configuration as that user on every start.
  chroot "$dir" sh -c 'rm -f /etc/pgbouncer/*; chown postgres:postgres /etc/pgbouncer; chmod 0700 /etc/pgbouncer'
  slim "$dir"
  import "$dir" "$pgbouncer_image" \
    --change "ENV PATH=$path" \
    --change 'EXPOSE 6432' \
    --change 'USER postgres' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["pgbouncer"]'
  rm -rf "$dir"
}

build_nginx() {
  present "$nginx_image" && return 0
  local dir
  dir=$(rootfs nginx "$suite" nginx-light,openssl,ca-certificates)
  install -m 0755 "$repo/docker/nginx-entrypoint.sh" "$dir/usr/local/bin/docker-entrypoint.sh"
  install -m 0644 "$repo/docker/nginx.conf.in" "$dir/etc/nginx/shopload.conf.in"
  # The package's own site would listen on :80 beside ours.
  rm -f "$dir/etc/nginx/sites-enabled/"*
  slim "$dir"
  import "$dir" "$nginx_image" \
    --change "ENV PATH=$path" \
    --change 'EXPOSE 8443' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["nginx"]'
  rm -rf "$dir"
}

[ $# -gt 0 ] || set -- stack
for what in "$@"; do
  case $what in
    stack) build_stack ;;
    base) build_base ;;
    pgbouncer) build_pgbouncer ;;
    nginx) build_nginx ;;
    all) build_stack; build_base; build_pgbouncer; build_nginx ;;
    *)
      echo "usage: $0 [stack|base|pgbouncer|nginx|all]..." >&2
      exit 2
      ;;
  esac
done
