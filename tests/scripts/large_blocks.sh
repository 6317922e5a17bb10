#!/bin/sh
# Many live blocks above 32 KiB: 200,000 of one size from one call site,
# for sizes from 40 KiB to 1 MiB, hold under the kernel's map-count limit
# (vm.max_map_count, 65,530 by default) without raising it, and a small
# allocation from another site still succeeds while they are live. The
# blocks are not touched, so little of them is resident. The control: the
# same count with glibc.
# Run from the project root with $BUILD set; prints PASS:/FAIL: per check.
BUILD=${BUILD:-build}
lib=$(cd "$BUILD" 2>/dev/null && pwd)/libpartmalloc.so
[ -f "$lib" ] || { echo "FAIL: $BUILD/libpartmalloc.so is missing"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
probe=$tmp/probe
cc -std=gnu17 -O1 -pthread tests/limits/probe.c -o "$probe" || { echo "FAIL: build the probe"; exit 1; }
unset LD_PRELOAD PARTMALLOC_PARTITIONS PARTMALLOC_HARDEN
blocks=200000
max_maps=2000 # far below vm.max_map_count: a mapping per block would need 200,000

glibc=$("$probe" count 1048576 $blocks 2>&1)
case $glibc in
"blocks=$blocks small=ok"*) echo "PASS: control: glibc holds $blocks blocks of 1 MiB ($glibc)" ;;
*) echo "FAIL: control: glibc holds $blocks blocks of 1 MiB ($glibc)" ;;
esac

check() { # $1 = size, $2 = partitions
    out=$(PARTMALLOC_PARTITIONS=$2 LD_PRELOAD=$lib "$probe" count "$1" $blocks 2>&1)
    maps=$(echo "$out" | sed -n 's/.* maps=\([0-9]*\).*/\1/p')
    case $out in
    "blocks=$blocks small=ok"*) echo "PASS: $blocks live blocks of $1 bytes, N=$2, small allocations still work ($out)" ;;
    *) echo "FAIL: $blocks live blocks of $1 bytes, N=$2, small allocations still work ($out)" ;;
    esac
    if [ -n "$maps" ] && [ "$maps" -le $max_maps ]; then echo "PASS: $blocks blocks of $1 bytes in $maps mappings (at most $max_maps)"
    else echo "FAIL: $blocks blocks of $1 bytes in ${maps:-?} mappings (at most $max_maps)"; fi
}

for size in 40960 65536 262144 1048576; do
    check $size 16
done
check 1048576 64
