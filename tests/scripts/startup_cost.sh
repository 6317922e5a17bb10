#!/bin/sh
# Start-up and idle cost: tests/startup/probe (built without partmalloc)
# reports its minor faults, mappings and resident set at the start of main,
# after one malloc(32), and across a fork (the parent's cost, the child's
# faults to its exit). It runs under glibc and preloaded with partmalloc
# (presets default, strict and off), interleaved, ROUNDS times; each figure
# is the smallest of its rounds (what the process needs, not what a busy
# machine adds). Bounds, against glibc's figures of the same rounds:
#   idle             faults and mappings within IDLE_MORE, RSS within IDLE_KIB
#   one malloc       faults and mappings it adds within MALLOC_MORE of glibc's
#   fork             the parent's cost and the child's faults at most FORK_MOST
#                    (one per page of the cache table was 157 at 16 partitions)
# Run from the project root with $BUILD set; prints PASS:/FAIL: per check.
BUILD=${BUILD:-build}
lib=$(cd "$BUILD" 2>/dev/null && pwd)/libpartmalloc.so
probe=$BUILD/tests/startup/probe
[ -f "$lib" ] || { echo "FAIL: $BUILD/libpartmalloc.so is missing"; exit 1; }
[ -x "$probe" ] || { echo "FAIL: $probe is missing (make test-build)"; exit 1; }
unset LD_PRELOAD PARTMALLOC_PARTITIONS PARTMALLOC_HARDEN PARTMALLOC_MODE PARTMALLOC_STATS
ROUNDS=${ROUNDS:-5}
IDLE_MORE=60
IDLE_KIB=1024
MALLOC_MORE=25
FORK_MOST=60
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

configs="glibc default strict off"
for r in $(seq "$ROUNDS"); do
    for c in $configs; do
        if [ "$c" = glibc ]; then "$probe" >>"$tmp/$c" || echo "FAIL: probe under glibc"
        else PARTMALLOC_HARDEN=$c LD_PRELOAD="$lib" "$probe" >>"$tmp/$c" || echo "FAIL: probe under $c"; fi
    done
done

# The smallest of the rounds' values of figure $2 in config $1.
fig() {
    tr ' ' '\n' <"$tmp/$1" | sed -n "s/^$2=//p" | sort -n | head -n 1
}

# check NAME VALUE MOST
check() {
    if [ -n "$2" ] && [ "$2" -le "$3" ]; then echo "PASS: $1: $2 (at most $3)"
    else echo "FAIL: $1: ${2:-no figure} (at most $3)"; fi
}

g_faults=$(fig glibc idle_faults); g_maps=$(fig glibc idle_maps); g_rss=$(fig glibc idle_rss_kb)
g_mfaults=$(fig glibc malloc_faults); g_mmaps=$(fig glibc malloc_maps)
echo "glibc: idle $g_faults faults, $g_maps mappings, $g_rss KiB; one malloc $g_mfaults faults, $g_mmaps mappings;" \
     "fork parent $(fig glibc fork_parent_faults), child $(fig glibc fork_child_faults) faults"
check "control: glibc's fork, the parent's faults" "$(fig glibc fork_parent_faults)" $FORK_MOST
check "control: glibc's fork, the child's faults" "$(fig glibc fork_child_faults)" $FORK_MOST
for c in default strict off; do
    check "$c: idle faults" "$(fig $c idle_faults)" $((g_faults + IDLE_MORE))
    check "$c: idle mappings" "$(fig $c idle_maps)" $((g_maps + IDLE_MORE))
    check "$c: idle RSS KiB" "$(fig $c idle_rss_kb)" $((g_rss + IDLE_KIB))
    check "$c: faults of one malloc" "$(fig $c malloc_faults)" $((g_mfaults + MALLOC_MORE))
    check "$c: mappings after one malloc" "$(fig $c malloc_maps)" $((g_mmaps + MALLOC_MORE))
    check "$c: fork, the parent's faults" "$(fig $c fork_parent_faults)" $FORK_MOST
    check "$c: fork, the child's faults" "$(fig $c fork_child_faults)" $FORK_MOST
done
