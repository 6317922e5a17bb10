#!/bin/sh
# Fetch jq and gawk from Debian's source packages, with their build deps.
#   realworld/fetch.sh            sources into $BUILD/realworld (BUILD=<repo>/build-rw)
# Adds a deb-src entry (idempotent) copied from the deb stanzas of
# /etc/apt/sources.list.d/debian.sources.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build-rw}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
WORK=$BUILD/realworld
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

SRC_LIST=/etc/apt/sources.list.d/partmalloc-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null; then
    # Each "Types: deb" stanza of debian.sources, as deb-src.
    awk 'BEGIN { RS = ""; ORS = "\n\n" } /(^|\n)Types: deb(\n|$)/ { sub(/Types: deb/, "Types: deb-src"); print }' \
        /etc/apt/sources.list.d/debian.sources | $SUDO tee "$SRC_LIST" >/dev/null
    $SUDO apt-get update -qq
fi
[ -n "$(find /var/lib/apt/lists -name '*Sources*' 2>/dev/null | head -1)" ] || $SUDO apt-get update -qq

export DEBIAN_FRONTEND=noninteractive
# What configure/make/make check need (not the Debian packaging's doc tools).
$SUDO apt-get install -y -qq --no-install-recommends dpkg-dev autoconf automake libtool bison flex \
    libonig-dev texinfo libgmp-dev libmpfr-dev libreadline-dev gettext make >/dev/null

mkdir -p "$WORK"
cd "$WORK"
for p in jq gawk; do
    ls -d "$WORK"/$p-*/ >/dev/null 2>&1 && continue
    # The newest version first; if its pool is unreachable (the security
    # mirror may lack it), the other versions apt knows, newest first.
    apt-get source -qq $p 2>/dev/null && continue
    for v in $(apt-cache showsrc $p | sed -n 's/^Version: //p' | sort -Vr); do
        apt-get source -qq "$p=$v" 2>/dev/null && break
    done
done
for p in jq gawk; do
    d=$(ls -d "$WORK"/$p-*/ | head -1)
    echo "fetch: $p -> ${d%/}"
done
