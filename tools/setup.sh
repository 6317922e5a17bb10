#!/bin/sh
# Installs from Debian's packages whatever the build and tests need and is
# missing. Idempotent and quiet when everything is present.
#   sh tools/setup.sh                   install what is missing
#   sh tools/setup.sh --missing build   print the missing packages plain `make` needs
set -e
# What plain `make` needs: the libraries' and the command's headers, and
# clang's and LLVM's for the command's clang plugin.
build="libjansson-dev libyaml-dev libdw-dev libelf-dev libsodium-dev clang-22 libclang-22-dev llvm-22-dev"
# pandoc: the manual pages, written from docs/guide.md.
build="$build pandoc"
# The tests, then the peers the benchmark suite measures against.
need="$build libclang-rt-22-dev llvm-22 libcriterion-dev pkg-config git perl python3 valgrind"
# dpkg-dev: apt-get source (tests/scripts/realworld_lua.sh fetches Debian's lua5.4).
need="$need dpkg-dev"
# cmake: tests/scripts/install_consumers.sh builds with find_package(partmalloc).
need="$need cmake"
# man-db: tests/scripts/man_pages.sh renders the manual pages with man.
need="$need man-db"
# debhelper and lintian: `make deb` and tests/scripts/deb_package.sh.
need="$need debhelper lintian"
# chromium: tests/scripts/html_page.sh loads the --html page in a headless browser.
need="$need chromium"
# python3-matplotlib: bench/run.py draws the ratio plots in docs/benchmarks.md.
need="$need python3-matplotlib"
need="$need libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4"
# time: GNU time, whose rusage figures (CPU, peak RSS, page faults) make realworld records per run.
need="$need time"

missing_of() {
    out=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out="$out $p"
    done
    echo "$out"
}

if [ "${1:-}" = "--missing" ]; then
    # Without dpkg (not Debian) nothing can be said: let the compiler speak.
    command -v dpkg-query >/dev/null 2>&1 || exit 0
    missing_of $build
    exit 0
fi

missing=$(missing_of $need)
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages; install them with:" >&2
    echo "  sudo apt-get install$missing" >&2
    exit 1
fi
echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq $missing >/dev/null
