#!/bin/sh
# Fetch Debian's source packages of the real-world programs, with what their
# builds need.
#   realworld/fetch.sh [PROGRAM...]    jq gawk libxml2 lua sqlite3 mawk make (default: all)
# Sources go to $BUILD/realworld (BUILD=<repo>/build-rw), one directory per
# package (lua: Debian's lua5.4, make: make-dfsg). Adds a deb-src entry (idempotent) copied
# from the deb stanzas of /etc/apt/sources.list.d/debian.sources.
# NO_INSTALL=1 skips the apt-get install of the build dependencies (the CI
# check installs only what it needs).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build-rw}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
WORK=$BUILD/realworld
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
[ $# -gt 0 ] || set -- jq gawk libxml2 lua sqlite3 mawk make

package() { # program -> Debian source package
    case $1 in
        lua) echo lua5.4 ;;
        make) echo make-dfsg ;;
        jq | gawk | libxml2 | sqlite3 | mawk) echo "$1" ;;
        *) echo "fetch.sh: unknown program '$1' (known: jq gawk libxml2 lua sqlite3 mawk make)" >&2; exit 1 ;;
    esac
}
for p in "$@"; do package "$p" >/dev/null; done

SRC_LIST=/etc/apt/sources.list.d/partmalloc-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null; then
    [ -f /etc/apt/sources.list.d/debian.sources ] ||
        { echo "fetch.sh: no deb-src entry and no /etc/apt/sources.list.d/debian.sources to copy one from" >&2; exit 1; }
    # Each "Types: deb" stanza of debian.sources, as deb-src.
    awk 'BEGIN { RS = ""; ORS = "\n\n" } /(^|\n)Types: deb(\n|$)/ { sub(/Types: deb/, "Types: deb-src"); print }' \
        /etc/apt/sources.list.d/debian.sources | $SUDO tee "$SRC_LIST" >/dev/null
    $SUDO apt-get update -qq
fi
[ -n "$(find /var/lib/apt/lists -name '*Sources*' 2>/dev/null | head -1)" ] || $SUDO apt-get update -qq

export DEBIAN_FRONTEND=noninteractive
if [ "${NO_INSTALL:-0}" != 1 ]; then
    # What configure/make/make check need (not the Debian packaging's doc
    # tools; sqlite3's testfixture needs Tcl, make's tests perl), and jq for
    # reading the statistics dumps.
    $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev autoconf automake libtool bison flex \
        libonig-dev texinfo libgmp-dev libmpfr-dev libreadline-dev gettext make \
        zlib1g-dev liblzma-dev tcl8.6-dev autopoint perl jq >/dev/null
fi

mkdir -p "$WORK"
cd "$WORK"
for p in "$@"; do
    pkg=$(package "$p")
    ls -d "$WORK/$pkg"-[0-9]*/ >/dev/null 2>&1 && continue
    # The newest version first; if its pool is unreachable (the security
    # mirror may lack it), the other versions apt knows, newest first.
    apt-get source -qq "$pkg" >/dev/null 2>&1 && continue
    for v in $(apt-cache showsrc "$pkg" | sed -n 's/^Version: //p' | sort -Vr); do
        apt-get source -qq "$pkg=$v" >/dev/null 2>&1 && break
    done
done
for p in "$@"; do
    pkg=$(package "$p")
    d=$(ls -d "$WORK/$pkg"-[0-9]*/ 2>/dev/null | head -1)
    [ -n "$d" ] || { echo "fetch.sh: apt-get source $pkg failed" >&2; exit 1; }
    echo "fetch: $p -> ${d%/}"
done
