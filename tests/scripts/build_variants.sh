#!/bin/sh
# The library builds warning-free (-Wall -Wextra -Werror) with clang-22 as
# well as gcc, and installs with its pkg-config file.
BUILD=${BUILD:-build}
out="$BUILD/variants"
mkdir -p "$out"
if make -s -j2 BUILD="$out/clang" CC=clang-22 CXX=clang++-22 all >"$out.log" 2>&1; then
    echo "PASS: clang-22 build"
else
    cat "$out.log"; echo "FAIL: clang-22 build"
fi
stage="$out/stage"
rm -rf "$stage"
if make -s BUILD="$out/clang" CC=clang-22 CXX=clang++-22 install PREFIX=/usr DESTDIR="$stage" >"$out.log" 2>&1 &&
   [ -f "$stage/usr/lib/libpartmalloc.so" ] && [ -f "$stage/usr/lib/libpartmalloc.a" ] &&
   [ -f "$stage/usr/include/partmalloc.h" ] &&
   PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_LIBDIR="$stage/usr/lib/pkgconfig" pkg-config --libs partmalloc | grep -q -- "-lpartmalloc"; then
    echo "PASS: make install with pkg-config file"
else
    cat "$out.log"; echo "FAIL: make install with pkg-config file"
fi
