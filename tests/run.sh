#!/bin/sh
# Runs every built test and prints one closing line:
#   check: N passed, N failed
# preceded, when something failed, by the list of what failed.
#
# A Criterion suite (unit, integration, and their ASan and TSan builds)
# writes a TAP report (--tap=FILE); each "ok" counts as passed, each
# "not ok" as failed, a "# SKIP" as neither. A suite that writes no report
# (it crashed or was killed) counts one failure; one whose report has fewer
# results than its plan, a failure for each missing; one that exits nonzero
# although every result is ok, one failure.
# A script counts its PASS:/FAIL: lines.
BUILD=${BUILD:-build}
passed=0
failed=0
failures=""
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
tap=$tmp/tap
nl='
'

failure() { # $1 = what failed
    failures="$failures$nl  $1"
}

# Counts the TAP report of suite $1, which exited with $2.
count_tap() {
    if [ ! -s "$tap" ]; then
        failed=$((failed + 1))
        failure "$1: no TAP report (exit $2)"
        echo "-- $1: no TAP report (exit $2): 1 failed"
        return
    fi
    # "passed failed skipped missing", then the name of each failed test;
    # without a plan ("1..N") the report is cut short: one missing.
    awk '
        /^1\.\.[0-9]+/ { plan = substr($0, 4) + 0; planned = 1; next }
        /^ok / { n++; if ($0 ~ /# SKIP/) s++; else p++; next }
        /^not ok / { n++; f++; bad = bad "\n" $4; next }
        END {
            m = !planned ? 1 : plan > n ? plan - n : 0
            printf "%d %d %d %d%s\n", p, f, s, m, bad
        }' "$tap" >"$tmp/counts"
    read -r suite_passed suite_failed suite_skipped suite_missing <"$tmp/counts"
    passed=$((passed + suite_passed))
    failed=$((failed + suite_failed))
    sed 1d "$tmp/counts" >"$tmp/bad"
    while read -r test; do
        failure "$1: $test"
    done <"$tmp/bad"
    if [ "$suite_missing" -gt 0 ]; then
        failed=$((failed + suite_missing))
        suite_failed=$((suite_failed + suite_missing))
        failure "$1: $suite_missing test(s) without a result (exit $2)"
    elif [ "$suite_failed" -eq 0 ] && [ "$2" -ne 0 ]; then
        failed=$((failed + 1))
        suite_failed=1
        failure "$1: every test ok, but exit $2"
    fi
    echo "-- $1: $suite_passed passed, $suite_failed failed, $suite_skipped skipped"
}

# Runs the suite $1 (a path under $BUILD/tests/), named $2 in the results,
# with the environment settings that follow (VAR=value each), and counts
# its TAP report. Under ASan a fault kills the process as it would without
# it: the guard-page tests expect SIGSEGV.
run_suite() {
    bin=$1
    label=$2
    shift 2
    [ -x "$bin" ] || return 0
    echo "== $label"
    rm -f "$tap"
    env ASAN_OPTIONS=handle_segv=0 "$@" "$bin" -j2 --short-filename --tap="$tap" >"$log" 2>&1
    rc=$?
    grep -a -E "^\[----\]|^\[FAIL\]|ERROR|WARNING: ThreadSanitizer|runtime error" "$log" | head -40
    count_tap "$label" "$rc"
    # A race TSan reports in a test's worker leaves the test passed and
    # the exit status 0: the report itself is the failure.
    races=$(grep -a -c "WARNING: ThreadSanitizer" "$log")
    if [ "$races" -gt 0 ]; then
        failed=$((failed + 1))
        failure "$label: ThreadSanitizer reported $races race(s)"
    fi
}

# Runs the suite $1 of $BUILD/tests/ again with one setting $2.
rerun() {
    run_suite "$BUILD/tests/$1" "$1 ($2)" "$2"
}

for bin in "$BUILD"/tests/test_* "$BUILD"/tests/asan/test_* "$BUILD"/tests/tsan/test_*; do
    run_suite "$bin" "${bin#"$BUILD"/tests/}"
done

# With 1 MiB regions caches fill their first region at once and take more:
# the isolation and misuse checks must hold for caches that span several
# regions.
for name in test_isolation test_api test_death test_fork; do
    rerun "$name" PARTMALLOC_REGION_SIZE=1M
done

# The misuse, isolation, statistics, slab and thread checks again under
# strict, whose frees go through their own checks and the quarantine (not
# the ASan and TSan builds: about 22 s more, most of it test_threads).
for name in test_misuse test_death test_isolation test_stats test_slab test_threads; do
    rerun "$name" PARTMALLOC_HARDEN=strict
done

# The injected OS failures swept again in strict, and with 1 MiB regions.
rerun test_os_inject PARTMALLOC_HARDEN=strict
rerun test_os_inject PARTMALLOC_REGION_SIZE=1M

# Memory returned under strict too, where malloc_trim drains the quarantine.
rerun test_trim PARTMALLOC_HARDEN=strict
# Kept empty slabs under strict, whose frees reach their slabs through the
# quarantine, and with no hardening.
rerun test_purge PARTMALLOC_HARDEN=strict
rerun test_purge PARTMALLOC_HARDEN=off

# No metadata within reach of any kind of block, again under strict (with
# inaccessible zero-size objects), with 1 and 64 partitions (16 above) and
# with 1 MiB regions (blocks in taken regions).
for setting in "PARTMALLOC_HARDEN=strict,zero_inaccessible=on" PARTMALLOC_PARTITIONS=1 PARTMALLOC_PARTITIONS=64 \
    PARTMALLOC_REGION_SIZE=1M; do
    rerun test_metadata "$setting"
done

for script in tests/scripts/*.sh; do
    [ -f "$script" ] || continue
    name=$(basename "$script")
    echo "== $name"
    BUILD="$BUILD" sh "$script" >"$log" 2>&1
    rc=$?
    cat "$log" | tail -n 40
    p=$(grep -c "^PASS:" "$log")
    f=$(grep -c "^FAIL:" "$log")
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
    if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then failure "$name"; fi
done

[ -n "$failures" ] && echo "failed:$failures"
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
