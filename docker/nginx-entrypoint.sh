#!/bin/sh
# Nginx in front of the shop over HTTPS, as the load-test plan's "Gunicorn + Nginx" production
# stack: a private CA and a server certificate are made on the first start (into $CERT_DIR, a
# volume, so clients can trust $CERT_DIR/ca.pem), then nginx runs in the foreground.
#   UPSTREAM (target-shop:8000)  LISTEN_PORT (8443)  CERT_DIR (/certs)
#   SERVER_NAMES (localhost nginx): the certificate's DNS names, beside the IP 127.0.0.1
# Other arguments than `nginx [options]` are run as given.
set -eu

if [ "${1#-}" != "$1" ]; then
  set -- nginx "$@"
fi
if [ "$1" != nginx ]; then
  exec "$@"
fi
shift

upstream=${UPSTREAM:-target-shop:8000}
port=${LISTEN_PORT:-8443}
certs=${CERT_DIR:-/certs}
names=${SERVER_NAMES:-localhost nginx}

mkdir -p "$certs"
if [ ! -s "$certs/server.pem" ] || [ ! -s "$certs/ca.pem" ]; then
  echo "nginx-entrypoint: making a CA and a certificate for: $names 127.0.0.1 (in $certs)"
  umask 077
  san=""
  for n in $names; do san="${san}DNS:$n,"; done
  san="${san}IP:127.0.0.1"
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 30 \
    -subj "/CN=shopload compose CA" -keyout "$certs/ca.key" -out "$certs/ca.pem" 2>/dev/null
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -subj "/CN=${names%% *}" -keyout "$certs/server.key" -out "$certs/server.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" \
    >"$certs/server.ext"
  openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" \
    -CAcreateserial -days 30 -extfile "$certs/server.ext" -out "$certs/server.pem" 2>/dev/null
  rm -f "$certs/server.csr" "$certs/server.ext" "$certs/ca.srl"
  # The CA's certificate is for every client to read; the keys stay the server's.
  chmod 0755 "$certs"
  chmod 0644 "$certs/ca.pem" "$certs/server.pem"
fi

sed -e "s|@UPSTREAM@|$upstream|g" -e "s|@PORT@|$port|g" -e "s|@CERTS@|$certs|g" \
  /etc/nginx/shopload.conf.in >/etc/nginx/nginx.conf
nginx -t -q
echo "nginx-entrypoint: https on :$port -> http://$upstream"
exec nginx -g 'daemon off;' "$@"
