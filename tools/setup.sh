#!/bin/sh
# Installs from Debian's packages whatever the build and tests need and is
# missing. Idempotent and quiet when everything is present.
set -e
# Build and tests, then the peers the benchmark suite measures against.
need="clang-22 libclang-rt-22-dev libcriterion-dev libjansson-dev libdw-dev libelf-dev libsodium-dev pkg-config git perl python3 valgrind"
# dpkg-dev: apt-get source (tests/scripts/realworld_lua.sh fetches Debian's lua5.4).
need="$need dpkg-dev"
need="$need libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup: installing$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "setup: not root; install these packages:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq $missing >/dev/null
