#!/bin/sh
# `make install` into a fresh prefix, as a new user would use it: a program
# built with CMake's find_package (the shared and the static imported
# target) and one built with pkg-config, each run and checked to allocate
# through partmalloc; then `make uninstall` leaves no file behind.
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; }
# run NAME PROGRAM: the program prints "ok"
run() {
    result=$("$2" 2>&1)
    if [ "$result" = "ok" ]; then pass "$1"; else echo "$result"; fail "$1"; fi
}
# installed: every file and link left under the prefix
installed() { find "$prefix" \( -type f -o -type l \) 2>/dev/null | sort; }

if make -s --no-print-directory BUILD="$BUILD" PREFIX="$prefix" install >"$tmp/install.log" 2>&1; then
    pass "make install PREFIX=<fresh prefix>"
else
    cat "$tmp/install.log"; fail "make install PREFIX=<fresh prefix>"; exit 1
fi
for f in lib/cmake/partmalloc/partmalloc-config.cmake lib/cmake/partmalloc/partmalloc-config-version.cmake \
         lib/pkgconfig/partmalloc.pc lib/libpartmalloc.so.0 include/partmalloc.h \
         share/man/man1/partmalloc.1 share/man/man7/partmalloc.7 share/doc/partmalloc/guide.md; do
    if [ -e "$prefix/$f" ]; then pass "installed $f"; else fail "installed $f"; fi
done

# `man partmalloc` with the prefix's manual pages: the command's page, then the library's.
for section in 1 7; do
    if MANWIDTH=80 man -M "$prefix/share/man" "$section" partmalloc 2>/dev/null | grep -q "^partmalloc($section)"; then
        pass "man -M PREFIX/share/man $section partmalloc"
    else
        fail "man -M PREFIX/share/man $section partmalloc"
    fi
done

# CMake: find_package(partmalloc 0.1) with both imported targets.
if cmake -S tests/install -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" 2>&1 &&
   cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1; then
    pass "cmake find_package(partmalloc 0.1) builds"
    run "find_package: partmalloc::partmalloc program allocates through partmalloc" "$tmp/cmake/consumer"
    run "find_package: partmalloc::partmalloc_static program allocates through partmalloc" "$tmp/cmake/consumer_static"
    if readelf -d "$tmp/cmake/consumer_static" | grep -q 'libpartmalloc'; then
        fail "find_package: the static target does not need libpartmalloc.so"
    else
        pass "find_package: the static target does not need libpartmalloc.so"
    fi
else
    cat "$tmp/cmake.log"; fail "cmake find_package(partmalloc 0.1) builds"
fi
# The control: a release the installed one cannot stand for is refused.
mkdir -p "$tmp/newer"
sed 's/find_package(partmalloc 0.1 REQUIRED)/find_package(partmalloc 0.2 REQUIRED)/' tests/install/CMakeLists.txt \
    >"$tmp/newer/CMakeLists.txt"
cp tests/install/consumer.c "$tmp/newer/"
if cmake -S "$tmp/newer" -B "$tmp/newer/build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/newer.log" 2>&1; then
    fail "cmake find_package(partmalloc 0.2) is refused by 0.1"
elif grep -q 'compatible with requested version "0.2"' "$tmp/newer.log"; then
    pass "cmake find_package(partmalloc 0.2) is refused by 0.1"
else
    cat "$tmp/newer.log"; fail "cmake find_package(partmalloc 0.2) is refused by 0.1 (for its version)"
fi

# pkg-config, with the library's folder as the program's rpath.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
if cc -std=c17 -O1 tests/install/consumer.c -o "$tmp/pc_consumer" $(pkg-config --cflags --libs partmalloc) \
      -Wl,-rpath,"$(pkg-config --variable=libdir partmalloc)" 2>"$tmp/pc.log"; then
    pass "pkg-config --cflags --libs partmalloc builds"
    run "pkg-config: program allocates through partmalloc" "$tmp/pc_consumer"
else
    cat "$tmp/pc.log"; fail "pkg-config --cflags --libs partmalloc builds"
fi
if [ "$(pkg-config --modversion partmalloc)" = "$(sed -n 's/^#define PARTMALLOC_VERSION "\(.*\)"/\1/p' include/partmalloc.h)" ]; then
    pass "pkg-config --modversion is the header's version"
else
    fail "pkg-config --modversion is the header's version"
fi

# Another LIBDIR after the plain build: the installed command finds its
# libraries there (it is rebuilt for the new place).
other=$tmp/other
if make -s --no-print-directory BUILD="$BUILD" PREFIX="$other" LIBDIR="$other/lib64" install >"$tmp/other.log" 2>&1; then
    preload=$(realpath -m -s "$("$other/bin/partmalloc" run --no-census -- sh -c 'echo "$LD_PRELOAD"' 2>&1 | head -1)")
    if [ "$preload" = "$other/lib64/libpartmalloc.so.0" ]; then
        pass "make install LIBDIR=PREFIX/lib64: partmalloc run preloads PREFIX/lib64/libpartmalloc.so.0"
    else
        echo "$preload"; fail "make install LIBDIR=PREFIX/lib64: partmalloc run preloads PREFIX/lib64/libpartmalloc.so.0"
    fi
else
    cat "$tmp/other.log"; fail "make install LIBDIR=PREFIX/lib64"
fi
# Back to the default LIBDIR for what follows.
make -s --no-print-directory BUILD="$BUILD" all >/dev/null 2>&1

if make -s --no-print-directory BUILD="$BUILD" PREFIX="$prefix" uninstall >"$tmp/uninstall.log" 2>&1; then
    pass "make uninstall"
else
    cat "$tmp/uninstall.log"; fail "make uninstall"
fi
left=$(installed)
if [ -z "$left" ]; then pass "make uninstall leaves no file in the prefix"; else echo "$left"; fail "make uninstall leaves no file in the prefix"; fi
