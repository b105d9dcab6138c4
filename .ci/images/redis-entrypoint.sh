#!/bin/sh
# The official redis image's interface on Debian's redis-server: `redis-server [options]`, arguments
# starting with '-' go to redis-server, no config file means no protected mode and every interface,
# and the server's own "Ready to accept connections" log line.
set -eu

if [ "${1#-}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = redis-server ]; then
  shift
  exec setpriv --reuid=redis --regid=redis --init-groups \
    redis-server --bind '* -::*' --protected-mode no --dir /tmp "$@"
fi

exec "$@"
