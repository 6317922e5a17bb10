#!/bin/sh
# The counting build (which `partmalloc run` preloads) holds its census lock
# across fork like every other lock: a child forked while threads allocate
# can allocate. Each run is bounded by timeout(1): a deadlock is a failure.
BUILD=${BUILD:-build}
lib="$BUILD/stats/libpartmalloc.so"
probe="$BUILD/tests/helpers/fork_spin"
if [ ! -f "$lib" ] || [ ! -x "$probe" ]; then
    echo "FAIL: $lib or $probe missing"
    exit 1
fi
for mode in typed random; do
    out=$(PARTMALLOC_MODE=$mode LD_PRELOAD="$lib" timeout 120 "$probe" 300 2>&1)
    if [ "$out" = "forks 300 ok 300" ]; then
        echo "PASS: counting build, $mode: 300 forks while 3 threads allocate"
    else
        echo "$out" | tail -3
        echo "FAIL: counting build, $mode: 300 forks while 3 threads allocate"
    fi
done
