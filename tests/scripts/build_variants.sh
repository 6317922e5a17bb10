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
# The installed command finds the installed library, the counting build and
# the headers beside it: it builds a program with tokens and runs it.
tool="$stage/usr/bin/partmalloc"
prog="$out/installed_prog"
printf '#include <stdlib.h>\nstruct node { struct node *next; };\nint main(void) { struct node *n = malloc(sizeof(struct node)); free(n); return 0; }\n' >"$out/prog.c"
if [ -x "$tool" ] && [ -f "$stage/usr/lib/partmalloc/libpartmalloc-counting.so" ] &&
   "$tool" cc -g "$out/prog.c" -o "$prog" >"$out.log" 2>&1 &&
   ldd "$prog" | grep -q "stage/usr/bin/../lib/libpartmalloc.so" &&
   "$tool" run --stats json -- "$prog" 2>"$out.json" && grep -q '"census":\[' "$out.json"; then
    echo "PASS: the installed command builds and runs a program with the installed library"
else
    cat "$out.log" "$out.json"; echo "FAIL: the installed command builds and runs a program with the installed library"
fi
# A versioned soname with the links a distribution installs; the static
# library's C++ operators need libstdc++ (Libs.private); uninstall removes
# every installed file.
lib="$stage/usr/lib"
if readelf -d "$lib/libpartmalloc.so.0" 2>/dev/null | grep -q 'SONAME.*\[libpartmalloc.so.0\]' &&
   [ -L "$lib/libpartmalloc.so" ] && [ -L "$lib/libpartmalloc.so.0" ] &&
   PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_LIBDIR="$lib/pkgconfig" pkg-config --static --libs partmalloc | grep -q -- "-lstdc++"; then
    echo "PASS: versioned soname, its links, Libs.private"
else
    ls -l "$lib"; echo "FAIL: versioned soname, its links, Libs.private"
fi
if make -s BUILD="$out/clang" CC=clang-22 CXX=clang++-22 uninstall PREFIX=/usr DESTDIR="$stage" >"$out.log" 2>&1 &&
   [ -z "$(find "$stage" -type f -o -type l)" ]; then
    echo "PASS: make uninstall removes every installed file"
else
    cat "$out.log"; find "$stage" -type f -o -type l; echo "FAIL: make uninstall removes every installed file"
fi
# Plain make on a machine without a build package names it and the way to
# install it (tools/setup.sh decides what is missing).
if out_missing=$(PATH="$out/fakebin:$PATH" sh -c 'mkdir -p "$0" && printf "#!/bin/sh\necho not-installed\n" >"$0/dpkg-query" && chmod +x "$0/dpkg-query" && make -s BUILD="$1/missing" all 2>&1' "$out/fakebin" "$out"); then
    echo "$out_missing"; echo "FAIL: missing packages are named"
elif echo "$out_missing" | grep -q "missing Debian packages: libjansson-dev" &&
     echo "$out_missing" | grep -q "make setup"; then
    echo "PASS: missing packages are named"
else
    echo "$out_missing"; echo "FAIL: missing packages are named"
fi
