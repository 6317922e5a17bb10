#!/bin/sh
# partmalloc works from the very first allocation: in a constructor of a
# library loaded before it, inside the dynamic loader (dlopen/dlclose),
# in new threads; linked or preloaded.
BUILD=${BUILD:-build}
out="$BUILD/tests/early"
mkdir -p "$out"
cc -O1 -fPIC -shared tests/early/early_lib.c -o "$out/libearly.so" || { echo "FAIL: build early lib"; exit 1; }
cc -O1 -Iinclude tests/early/early_main.c -o "$out/early_main" -L"$out" -Wl,-rpath,"$out" -learly -pthread \
    || { echo "FAIL: build early main"; exit 1; }
lib=$(cd "$BUILD" && pwd)/libpartmalloc.so
check() { # name, command...
    name=$1; shift
    result=$("$@" 2>&1)
    if [ "$result" = "ok" ]; then echo "PASS: $name"; else echo "$result"; echo "FAIL: $name"; fi
}
for mode in typed random none; do
    check "preloaded after a constructor library ($mode)" env PARTMALLOC_MODE=$mode LD_PRELOAD="$out/libearly.so $lib" "$out/early_main"
    check "preloaded first ($mode)" env PARTMALLOC_MODE=$mode LD_PRELOAD="$lib" "$out/early_main"
done
check "preloaded with immediate binding" env LD_BIND_NOW=1 LD_PRELOAD="$lib" "$out/early_main"
