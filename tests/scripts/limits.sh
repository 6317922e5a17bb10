#!/bin/sh
# Limits a server meets (RLIMIT_AS through ulimit -v): a preloaded program
# starts under 256 MiB, 1 GiB, 4 GiB and 64 GiB with 1, 16 and 64
# partitions, and one cache (1 KiB blocks from one call site) returns NULL
# with ENOMEM there and allocates again after its frees. The control: the
# same fill without partmalloc (glibc) meets the limit too.
# Run from the project root with $BUILD set; prints PASS:/FAIL: per check.
BUILD=${BUILD:-build}
lib=$(cd "$BUILD" 2>/dev/null && pwd)/libpartmalloc.so
[ -f "$lib" ] || { echo "FAIL: $BUILD/libpartmalloc.so is missing"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
probe=$tmp/probe
cc -std=gnu17 -O1 -pthread tests/limits/probe.c -o "$probe" || { echo "FAIL: build the probe"; exit 1; }
unset LD_PRELOAD PARTMALLOC_PARTITIONS PARTMALLOC_HARDEN

for mib in 256 1024 4096 65536; do
    for n in 1 16 64; do
        out=$( (ulimit -v $((mib * 1024)) && PARTMALLOC_PARTITIONS=$n LD_PRELOAD=$lib "$probe" start) 2>&1)
        if [ "$out" = started ]; then echo "PASS: starts under ${mib} MiB, N=$n"
        else echo "$out" | head -3; echo "FAIL: starts under ${mib} MiB, N=$n"; fi
    done
done

for mib in 256 1024; do
    glibc=$( (ulimit -v $((mib * 1024)) && "$probe" fill 1024 $mib) 2>&1)
    case $glibc in
    *errno=ENOMEM*) echo "PASS: control: glibc meets the ${mib} MiB limit ($glibc)" ;;
    *) echo "FAIL: control: glibc meets the ${mib} MiB limit ($glibc)" ;;
    esac
    out=$( (ulimit -v $((mib * 1024)) && PARTMALLOC_PARTITIONS=16 LD_PRELOAD=$lib "$probe" fill 1024 $mib) 2>&1)
    held=$(echo "$out" | sed -n 's/.*held=\([0-9]*\).*/\1/p')
    again=$(echo "$out" | sed -n 's/.*again=\([0-9]*\).*/\1/p')
    case $out in
    *errno=ENOMEM*) echo "PASS: one cache under ${mib} MiB: NULL with ENOMEM ($out)" ;;
    *) echo "FAIL: one cache under ${mib} MiB: NULL with ENOMEM ($out)" ;;
    esac
    if [ -n "$held" ] && [ "$held" -gt 0 ] && [ "$again" = "$held" ]; then echo "PASS: one cache under ${mib} MiB allocates again after its frees"
    else echo "FAIL: one cache under ${mib} MiB allocates again after its frees"; fi
done
