#!/bin/sh
# Limits a server meets (RLIMIT_AS through ulimit -v, RLIMIT_DATA through
# ulimit -d): a preloaded program starts under 256 MiB, 1 GiB, 4 GiB and
# 64 GiB (ulimit -d: 256 MiB and 1 GiB) with 1, 16 and 64 partitions, and
# one cache (blocks of one size from one call site) returns NULL with ENOMEM
# there, allocates again after its frees and holds at least 80% of what
# glibc holds (ulimit -v: 1 KiB blocks at N=16 and N=64, 32 KiB blocks, and
# strict's 1 KiB blocks but for the 80%; ulimit -d: 1 KiB blocks). The
# control: the same fill without partmalloc (glibc) meets the limit too. Thread churn (512 threads at a time, 20 rounds) ends
# with the resident set near that after the first round; a zero-size
# 64 KiB-aligned block grows by realloc in every preset.
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

# One cache under ulimit -v: the default preset's 1 KiB blocks at N=16
# and N=64, its 32 KiB blocks, and strict's 1 KiB blocks. Each returns NULL
# with ENOMEM at the limit and allocates again after its frees; each but
# strict's holds at least 80% of what glibc holds in blocks of its size.
# Strict's cannot: its canary puts a 1 KiB block in the 1280-byte class,
# and the guard after every slab of that class is as large as the slab.
fill_under_as() { # $1 = MiB, $2 = size, $3 = partitions, $4 = preset, $5 = check the 80%: yes/no
    what="one cache of $2-byte blocks, $4, N=$3, under ${1} MiB"
    glibc=$( (ulimit -v $(($1 * 1024)) && "$probe" fill "$2" "$1") 2>&1)
    out=$( (ulimit -v $(($1 * 1024)) && PARTMALLOC_HARDEN=$4 PARTMALLOC_PARTITIONS=$3 LD_PRELOAD=$lib "$probe" fill "$2" "$1") 2>&1)
    glibc_held=$(echo "$glibc" | sed -n 's/.*held=\([0-9]*\).*/\1/p')
    held=$(echo "$out" | sed -n 's/.*held=\([0-9]*\).*/\1/p')
    again=$(echo "$out" | sed -n 's/.*again=\([0-9]*\).*/\1/p')
    case $glibc in
    *errno=ENOMEM*) echo "PASS: control: glibc meets the ${1} MiB limit with $2-byte blocks ($glibc)" ;;
    *) echo "FAIL: control: glibc meets the ${1} MiB limit with $2-byte blocks ($glibc)" ;;
    esac
    case $out in
    *errno=ENOMEM*) echo "PASS: $what: NULL with ENOMEM ($out)" ;;
    *) echo "FAIL: $what: NULL with ENOMEM ($out)" ;;
    esac
    if [ -n "$held" ] && [ "$held" -gt 0 ] && [ "$again" = "$held" ]; then echo "PASS: $what allocates again after its frees"
    else echo "FAIL: $what allocates again after its frees"; fi
    [ "$5" = yes ] || return 0
    if [ -n "$held" ] && [ -n "$glibc_held" ] && [ "$glibc_held" -gt 0 ] && [ $((held * 100)) -ge $((glibc_held * 80)) ]; then
        echo "PASS: $what holds >= 80% of glibc's (${held} of ${glibc_held} MiB)"
    else echo "FAIL: $what holds >= 80% of glibc's (${held:-?} of ${glibc_held:-?} MiB)"; fi
}

for mib in 256 1024; do
    fill_under_as $mib 1024 16 default yes
    fill_under_as $mib 1024 64 default yes
    fill_under_as $mib 32768 16 default yes
    fill_under_as $mib 1024 16 strict no
done

# ulimit -d counts private writable mappings, reserved without commit
# charge or not.
for mib in 256 1024; do
    for n in 1 16 64; do
        out=$( (ulimit -d $((mib * 1024)) && PARTMALLOC_PARTITIONS=$n LD_PRELOAD=$lib "$probe" start) 2>&1)
        if [ "$out" = started ]; then echo "PASS: starts under ulimit -d ${mib} MiB, N=$n"
        else echo "$out" | head -3; echo "FAIL: starts under ulimit -d ${mib} MiB, N=$n"; fi
    done
    glibc=$( (ulimit -d $((mib * 1024)) && "$probe" fill 1024 $mib) 2>&1)
    out=$( (ulimit -d $((mib * 1024)) && PARTMALLOC_PARTITIONS=16 LD_PRELOAD=$lib "$probe" fill 1024 $mib) 2>&1)
    glibc_held=$(echo "$glibc" | sed -n 's/.*held=\([0-9]*\).*/\1/p')
    held=$(echo "$out" | sed -n 's/.*held=\([0-9]*\).*/\1/p')
    again=$(echo "$out" | sed -n 's/.*again=\([0-9]*\).*/\1/p')
    case $out in
    *errno=ENOMEM*) echo "PASS: one cache under ulimit -d ${mib} MiB: NULL with ENOMEM ($out)" ;;
    *) echo "FAIL: one cache under ulimit -d ${mib} MiB: NULL with ENOMEM ($out)" ;;
    esac
    if [ -n "$held" ] && [ -n "$glibc_held" ] && [ "$glibc_held" -gt 0 ] && [ $((held * 100)) -ge $((glibc_held * 80)) ]; then
        echo "PASS: one cache under ulimit -d ${mib} MiB holds >= 80% of glibc's (${held} of ${glibc_held} MiB)"
    else echo "FAIL: one cache under ulimit -d ${mib} MiB holds >= 80% of glibc's (${held:-?} of ${glibc_held:-?} MiB)"; fi
    if [ -n "$held" ] && [ "$held" -gt 0 ] && [ "$again" = "$held" ]; then echo "PASS: one cache under ulimit -d ${mib} MiB allocates again after its frees"
    else echo "FAIL: one cache under ulimit -d ${mib} MiB allocates again after its frees"; fi
done

# The margin: past round 0, up to 3.8 MiB more stayed resident in 14 runs;
# thread caches kept resident on the free list (~94 KiB each) go past it in
# most runs as the most threads alive at once rises. Mappings still grow
# with it (slabs of the busiest round), so they are not bounded here.
# Under strict a thread's cache refills from one slab at a time and its
# frees wait in the quarantine, so which slabs stay resident after a round
# depends on how many of the 512 threads were alive at once: the resident
# set after a round moves by up to 10 MiB either way from one round to the
# next (39 to 54 MiB after round 0 in 9 runs). There the bound is against
# the largest of the first 5 rounds: no growth once warm.
churn_rss_margin=4096
for preset in default strict; do
    out=$(PARTMALLOC_HARDEN=$preset LD_PRELOAD=$lib "$probe" churn 512 20 2>&1)
    rss0=$(echo "$out" | sed -n 's/.*rss=\([0-9]*\),.*/\1/p')
    rss1=$(echo "$out" | sed -n 's/.*rss=[0-9]*,\([0-9]*\) .*/\1/p')
    base=$rss0 since="round 0"
    if [ "$preset" = strict ]; then
        base=$(echo "$out" | sed -n 's/.*warm=\([0-9]*\).*/\1/p') since="the largest of rounds 0-4"
    fi
    if [ -n "$rss1" ] && [ -n "$base" ] && [ "$rss1" -le $((base + churn_rss_margin)) ]; then
        echo "PASS: $preset: thread churn 512x20 keeps RSS within $churn_rss_margin KiB of $since ($out)"
    else echo "FAIL: $preset: thread churn 512x20 keeps RSS within $churn_rss_margin KiB of $since ($out)"; fi
done

for preset in default strict off; do
    out=$(PARTMALLOC_HARDEN=$preset LD_PRELOAD=$lib "$probe" aligned0 2>&1)
    if [ "$out" = grown ]; then echo "PASS: $preset: a zero-size 64 KiB-aligned block grows by realloc"
    else echo "$out" | head -3; echo "FAIL: $preset: a zero-size 64 KiB-aligned block grows by realloc"; fi
done

# A script that holds 2 million short strings (about 250 MiB with glibc)
# under an address-space limit.
if command -v perl >/dev/null 2>&1; then
    for mib in 1024 4096; do
        for n in 16 64; do
            out=$( (ulimit -v $((mib * 1024)) && PARTMALLOC_PARTITIONS=$n LD_PRELOAD=$lib perl -e 'push @a, "x" x 40 for 1 .. 2e6; print "ok\n"') 2>&1)
            if [ "$out" = ok ]; then echo "PASS: perl holds 2e6 strings under ${mib} MiB, N=$n"
            else echo "$out" | head -3; echo "FAIL: perl holds 2e6 strings under ${mib} MiB, N=$n"; fi
        done
    done
else
    echo "FAIL: perl is missing"
fi

# Many live blocks above 32 KiB: 200,000 of one size from one call site,
# for sizes from 40 KiB to 1 MiB, hold under the kernel's map-count limit
# (vm.max_map_count, 65,530 by default) without raising it, and a small
# allocation from another site still succeeds while they are live. The
# blocks are not touched, so little of them is resident. The control: the
# same count with glibc.
blocks=200000
max_maps=2000 # far below vm.max_map_count: a mapping per block would need 200,000

glibc=$("$probe" count 1048576 $blocks 2>&1)
case $glibc in
"blocks=$blocks small=ok"*) echo "PASS: control: glibc holds $blocks blocks of 1 MiB ($glibc)" ;;
*) echo "FAIL: control: glibc holds $blocks blocks of 1 MiB ($glibc)" ;;
esac

check() { # $1 = size, $2 = partitions, $3 = preset
    what="$blocks live blocks of $1 bytes, $3, N=$2"
    out=$(PARTMALLOC_HARDEN=$3 PARTMALLOC_PARTITIONS=$2 LD_PRELOAD=$lib "$probe" count "$1" $blocks 2>&1)
    maps=$(echo "$out" | sed -n 's/.* maps=\([0-9]*\).*/\1/p')
    case $out in
    "blocks=$blocks small=ok"*) echo "PASS: $what, small allocations still work ($out)" ;;
    *) echo "FAIL: $what, small allocations still work ($out)" ;;
    esac
    # maps=0: /proc/self/maps could not be read, at the limit itself
    if [ -n "$maps" ] && [ "$maps" -gt 0 ] && [ "$maps" -le $max_maps ]; then echo "PASS: $what in $maps mappings (at most $max_maps)"
    else echo "FAIL: $what in ${maps:-?} mappings (at most $max_maps)"; fi
}

for size in 40960 65536 262144 1048576; do
    check $size 16 default
done
check 1048576 64 default
# strict keeps every block above 32 KiB a mapping of its own, with a guard
# page on each side: where the kernel has guard marks they split no
# mapping, and neighbouring blocks merge into one.
if [ "$("$probe" guard_marks)" = yes ]; then
    for size in 40960 1048576; do
        check $size 16 strict
    done
else
    echo "strict: not checked: this kernel has no guard marks (MADV_GUARD_INSTALL), so each large block splits mappings"
fi
