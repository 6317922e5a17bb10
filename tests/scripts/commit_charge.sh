#!/bin/sh
# Commit charge: under vm.overcommit_memory = 2 the kernel charges every
# private writable mapping, MAP_NORESERVE or not. A preloaded program that
# allocates nothing of its own (N = 16 and 64, default and strict) has at
# most IDLE_MIB of such mappings; holding HOLD_MIB MiB in 64-byte blocks
# (and the array of their pointers) adds between 1 and 1.25 times those
# bytes, at most 3 times under strict, whose 72-byte slots (the canary)
# are each followed by a guard that the kernel's guard marks leave in a
# writable mapping. The control: the same program without partmalloc
# (glibc) is measured the same way and is under the bound too.
# Run from the project root with $BUILD set; prints PASS:/FAIL: per check.
BUILD=${BUILD:-build}
lib=$(cd "$BUILD" 2>/dev/null && pwd)/libpartmalloc.so
[ -f "$lib" ] || { echo "FAIL: $BUILD/libpartmalloc.so is missing"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
hold=$tmp/charge_hold
cc -std=gnu17 -O1 tests/limits/charge_hold.c -o "$hold" || { echo "FAIL: build charge_hold"; exit 1; }
unset LD_PRELOAD PARTMALLOC_PARTITIONS PARTMALLOC_HARDEN
IDLE_MIB=16
HOLD_MIB=256

# Chargeable bytes of `$hold MIB 64` run with the environment given.
charge_of() {
    mkfifo "$tmp/in"
    env "$@" "$hold" "$HOLD" 64 < "$tmp/in" > "$tmp/out" &
    pid=$!
    exec 3> "$tmp/in"
    while ! grep -q ready "$tmp/out" 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 0.05; done
    python3 tests/scripts/commit_charge.py $pid
    exec 3>&-
    wait $pid
    rm -f "$tmp/in"
}

HOLD=0
glibc=$(charge_of)
if [ "$glibc" -le $((IDLE_MIB << 20)) ]; then echo "PASS: control: glibc idle chargeable $glibc bytes"
else echo "FAIL: control: glibc idle chargeable $glibc bytes"; fi
for n in 16 64; do
    for preset in default strict; do
        HOLD=0
        idle=$(charge_of PARTMALLOC_PARTITIONS=$n PARTMALLOC_HARDEN=$preset LD_PRELOAD="$lib")
        if [ -n "$idle" ] && [ "$idle" -le $((IDLE_MIB << 20)) ]; then
            echo "PASS: idle N=$n $preset: $idle bytes chargeable (at most $IDLE_MIB MiB)"
        else echo "FAIL: idle N=$n $preset: ${idle:-no} bytes chargeable (at most $IDLE_MIB MiB)"; fi
        HOLD=$HOLD_MIB
        held=$(charge_of PARTMALLOC_PARTITIONS=$n PARTMALLOC_HARDEN=$preset LD_PRELOAD="$lib")
        grown=$(( ${held:-0} - ${idle:-0} ))
        own=$(( (HOLD_MIB << 20) + (HOLD_MIB << 20) / 64 * 8 ))
        if [ $preset = strict ]; then most=$((own * 3)); else most=$((own * 5 / 4)); fi
        if [ "$grown" -ge $own ] && [ "$grown" -le $most ]; then
            echo "PASS: holding $own bytes N=$n $preset adds $grown bytes chargeable"
        else echo "FAIL: holding $own bytes N=$n $preset adds $grown bytes chargeable (from $own to $most)"; fi
    done
done
