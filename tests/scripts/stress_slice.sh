#!/bin/sh
# The multi-threaded stress's bounded slice (tests/stress/): the control
# (a changed pattern must be caught, by whichever check meets the block
# first: free, realloc, handing over), 30 s under TSan over three cells,
# then the whole grid with the library as the process's allocator for
# STRESS_SLICE_SECONDS (1) a cell. Under TSan the statistics operation is
# left out: its reads race with other threads' allocations.
BUILD=${BUILD:-build}
bin="$BUILD/stress/stress_api"
tsan="$BUILD/stress/stress_api_tsan"
for b in "$bin" "$tsan"; do
    [ -x "$b" ] || make -s --no-print-directory BUILD="$BUILD" "$b" >/dev/null 2>&1 || {
        echo "FAIL: stress: cannot build $b"
        exit 1
    }
done

out=$(STRESS_CORRUPT=1 STRESS_SECONDS=5 timeout 60 "$bin" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && echo "$out" | grep -q "model disagreement: before [^:]*: block .* byte"; then
    echo "PASS: stress: a changed pattern is reported (exit $rc)"
else
    echo "$out" | tail -3
    echo "FAIL: stress: a changed pattern went unnoticed (exit $rc)"
fi

for cell in "typed default 16" "random strict 64" "none off 1"; do
    set -- $cell
    out=$(PARTMALLOC_MODE=$1 PARTMALLOC_HARDEN=$2 PARTMALLOC_PARTITIONS=$3 PARTMALLOC_TOKEN_MAX=16 \
          STRESS_SECONDS=10 STRESS_NO_STATS=1 timeout 120 "$tsan" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "PASS: stress (TSan): mode=$1 harden=$2 partitions=$3: $(echo "$out" | tail -1)"
    else
        echo "$out" | grep -a -E "model disagreement|SUMMARY|partmalloc:" | head -5
        echo "FAIL: stress (TSan): mode=$1 harden=$2 partitions=$3 (exit $rc)"
    fi
done

STRESS_SECONDS=${STRESS_SLICE_SECONDS:-1} sh tests/stress/grid.sh "$bin"
