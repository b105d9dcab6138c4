#!/usr/bin/env bash
# Builds stand-in PostgreSQL and Redis images from Debian's packages for a Docker engine that cannot
# pull from a registry. One debootstrap rootfs holds both servers; it is imported twice with different
# entrypoints that follow the official images' interface (env, ports, log lines), so
# fixtures::stack's docker provider uses them exactly as it would use postgres:16-alpine/redis:7-alpine.
#
# Usage: .ci/images/build.sh            (builds only what is missing)
#        FORCE=1 .ci/images/build.sh    (rebuilds)
# Prints nothing but progress; the image names are the defaults of SHOPLOAD_POSTGRES_IMAGE and
# SHOPLOAD_REDIS_IMAGE in .ci/run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
pg_image=${STANDIN_POSTGRES_IMAGE:-shopload/postgres:15-bookworm}
redis_image=${STANDIN_REDIS_IMAGE:-shopload/redis:7-bookworm}
suite=${STANDIN_SUITE:-bookworm}

have() { docker image inspect "$1" >/dev/null 2>&1; }
if [ "${FORCE:-0}" != 1 ] && have "$pg_image" && have "$redis_image"; then
  echo "stand-in images present: $pg_image $redis_image"
  exit 0
fi

# The mirror apt already uses on this machine (deb822 or one-line format); debootstrap's own default
# otherwise.
mirror=$(
  { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } |
    grep -v -- '-security' | head -n 1 || true
)

work=$(mktemp -d /var/tmp/shopload-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "debootstrap $suite into $rootfs (mirror: ${mirror:-debootstrap default})"
# shellcheck disable=SC2086
debootstrap --variant=minbase --include=postgresql-15,redis-server,ca-certificates \
  "$suite" "$rootfs" $mirror >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

install -m 0755 "$here/postgres-entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
install -m 0755 "$here/redis-entrypoint.sh" "$rootfs/usr/local/bin/redis-entrypoint.sh"
# Slim the image: docs, apt lists and caches are not needed at run time.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

tar -C "$rootfs" -c . >"$work/rootfs.tar"

docker import \
  --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV PGDATA=/var/lib/postgresql/data' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'EXPOSE 5432' \
  --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
  --change 'CMD ["postgres"]' \
  "$work/rootfs.tar" "$pg_image"

docker import \
  --change 'EXPOSE 6379' \
  --change 'ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]' \
  --change 'CMD ["redis-server"]' \
  "$work/rootfs.tar" "$redis_image"

echo "built $pg_image and $redis_image"
