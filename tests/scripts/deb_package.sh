#!/bin/sh
# `make deb` as a distribution would take it: the three packages build,
# lintian reports no error or warning (its control: the same package
# without its copyright file must be refused), and unpacked into a fresh
# root the packages hold what they should and work: a program built with
# pkg-config and one with CMake's find_package allocate through partmalloc,
# the command runs a program on the packaged library, and `man` shows both
# pages.
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; }
check() { # NAME COMMAND...: passes when the command succeeds
    name=$1
    shift
    if "$@" >"$tmp/check.log" 2>&1; then pass "$name"; else tail -20 "$tmp/check.log"; fail "$name"; fi
}
version=$(sed -n 's/^#define PARTMALLOC_VERSION "\(.*\)"/\1/p' include/partmalloc.h)
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
debs=$BUILD/deb

if make -s --no-print-directory BUILD="$BUILD" deb >"$tmp/deb.log" 2>&1; then
    pass "make deb"
else
    tail -30 "$tmp/deb.log"
    fail "make deb"
    exit 1
fi
for p in libpartmalloc0 libpartmalloc-dev partmalloc; do
    check "make deb writes ${p}_${version}_amd64.deb" test -s "$debs/${p}_${version}_amd64.deb"
done

# lintian_clean DEB...: no E: or W: line (I: lines are information).
lintian_clean() {
    lintian --tag-display-limit 0 "$@" >"$tmp/lintian.log" 2>&1
    ! grep -q '^[EW]: ' "$tmp/lintian.log"
}
if lintian_clean "$debs"/*.changes; then
    pass "lintian: no error or warning"
else
    grep '^[EW]: ' "$tmp/lintian.log"
    fail "lintian: no error or warning"
fi
# The control: lintian does refuse a broken package (the runtime package
# rebuilt without its copyright file).
dpkg-deb -R "$debs/libpartmalloc0_${version}_amd64.deb" "$tmp/broken"
rm "$tmp/broken/usr/share/doc/libpartmalloc0/copyright"
dpkg-deb -b "$tmp/broken" "$tmp/libpartmalloc0_${version}_amd64.deb" >/dev/null
if ! lintian_clean "$tmp/libpartmalloc0_${version}_amd64.deb" && grep -q '^E: .*no-copyright-file' "$tmp/lintian.log"; then
    pass "lintian control: a package without its copyright file is refused"
else
    cat "$tmp/lintian.log"
    fail "lintian control: a package without its copyright file is refused"
fi

# What each package holds.
holds() { # PACKAGE PATH: the package's file list has PATH
    dpkg-deb -c "$debs/${1}_${version}_amd64.deb" | awk '{print $6}' | grep -qx "./$2"
}
for entry in "libpartmalloc0 usr/lib/$arch/libpartmalloc.so.$version" \
             "libpartmalloc0 usr/lib/$arch/libpartmalloc.so.0" \
             "libpartmalloc-dev usr/include/partmalloc.h" "libpartmalloc-dev usr/include/partmalloc/slab.h" \
             "libpartmalloc-dev usr/lib/$arch/libpartmalloc.so" "libpartmalloc-dev usr/lib/$arch/libpartmalloc.a" \
             "libpartmalloc-dev usr/lib/$arch/pkgconfig/partmalloc.pc" \
             "libpartmalloc-dev usr/lib/$arch/cmake/partmalloc/partmalloc-config.cmake" \
             "partmalloc usr/bin/partmalloc" "partmalloc usr/lib/$arch/partmalloc/libpartmalloc-counting.so" \
             "partmalloc usr/lib/$arch/partmalloc/partmalloc-clang.so" \
             "partmalloc usr/share/man/man1/partmalloc.1.gz" "partmalloc usr/share/man/man7/partmalloc.7.gz" \
             "partmalloc usr/share/doc/partmalloc/guide.md.gz"; do
    set -- $entry
    check "$1 holds /$2" holds "$1" "$2"
done
check "the runtime package holds no header" sh -c "! dpkg-deb -c '$debs/libpartmalloc0_${version}_amd64.deb' | grep -q '\.h\$'"

# Unpacked into a fresh root.
root=$tmp/root
for p in libpartmalloc0 libpartmalloc-dev partmalloc; do
    dpkg -x "$debs/${p}_${version}_amd64.deb" "$root"
done
libdir=$root/usr/lib/$arch
run() { # NAME PROGRAM: the program prints "ok"
    result=$("$2" 2>&1)
    if [ "$result" = "ok" ]; then pass "$1"; else echo "$result"; fail "$1"; fi
}
if PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$libdir/pkgconfig \
   sh -c 'cc -std=c17 -O1 tests/install/consumer.c -o "$1" $(pkg-config --cflags --libs partmalloc) -Wl,-rpath,"$2"' \
   sh "$tmp/pc_consumer" "$libdir" 2>"$tmp/pc.log"; then
    pass "pkg-config against the unpacked packages builds"
    run "pkg-config: the program allocates through the packaged partmalloc" "$tmp/pc_consumer"
    check "pkg-config: the program loads the packaged library" \
        sh -c "ldd '$tmp/pc_consumer' | grep -q '$libdir/libpartmalloc.so.0'"
else
    cat "$tmp/pc.log"
    fail "pkg-config against the unpacked packages builds"
fi
if cmake -S tests/install -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$root/usr" >"$tmp/cmake.log" 2>&1 &&
   cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1; then
    pass "cmake find_package(partmalloc) against the unpacked packages builds"
    run "find_package: the program allocates through the packaged partmalloc" "$tmp/cmake/consumer"
    run "find_package: the static target's program allocates through partmalloc" "$tmp/cmake/consumer_static"
else
    tail -20 "$tmp/cmake.log"
    fail "cmake find_package(partmalloc) against the unpacked packages builds"
fi

# The packaged command, on the packaged library.
check "partmalloc version is $version" sh -c "'$root/usr/bin/partmalloc' version | grep -qx 'partmalloc $version'"
out=$("$root/usr/bin/partmalloc" run -- ls -d / 2>&1)
if echo "$out" | grep -qx / && echo "$out" | grep -q "^small objects: "; then
    pass "partmalloc run from the package prints the program's output and the histogram"
else
    echo "$out"
    fail "partmalloc run from the package prints the program's output and the histogram"
fi
env_out=$(realpath -m "$("$root/usr/bin/partmalloc" run -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null | head -1)")
case $env_out in
    "$libdir"/*) pass "partmalloc run preloads a library of the package ($(basename "$env_out"))" ;;
    *) echo "LD_PRELOAD=$env_out"; fail "partmalloc run preloads a library of the package" ;;
esac
for section in 1 7; do
    check "man -M ROOT/usr/share/man $section partmalloc" \
        sh -c "MANWIDTH=80 man -M '$root/usr/share/man' $section partmalloc 2>/dev/null | grep -q '^partmalloc($section)'"
done
