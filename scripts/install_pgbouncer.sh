#!/usr/bin/env bash
# PgBouncer 1.24.1, built from Debian's source into /usr/local/bin (as root, with apt).
#
# Neon's pooled endpoint is PgBouncer 1.22 or later, which tracks protocol-level prepared
# statements (DATABASE_PREPARED_STATEMENTS); Debian 12's own package is 1.18, which cannot.
# The tests run every PgBouncer scenario on this build: tracking off where they reproduce
# a pooler that breaks prepared statements, on where they prove the app's work through one.
set -euo pipefail
VERSION=1.24.1
SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
SOURCE=https://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_$VERSION.orig.tar.gz

if /usr/local/bin/pgbouncer --version 2>/dev/null | grep -q "^PgBouncer $VERSION\$"; then
  exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl gcc make pkg-config libevent-dev libssl-dev
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 -o "$work/source.tar.gz" "$SOURCE"
echo "$SHA256  $work/source.tar.gz" | sha256sum --check --quiet
tar -xzf "$work/source.tar.gz" -C "$work"
cd "$work/pgbouncer-$VERSION"
./configure --quiet --without-cares --without-systemd --without-pam >/dev/null
make --silent -j"$(nproc)" >/dev/null
install -m 0755 pgbouncer /usr/local/bin/pgbouncer
/usr/local/bin/pgbouncer --version | head -1
