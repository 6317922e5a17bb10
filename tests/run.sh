#!/bin/sh
# Runs every built test and prints one closing line:
#   check: N passed, N failed
# A Criterion suite counts its tests; a script counts its PASS:/FAIL: lines.
BUILD=${BUILD:-build}
passed=0
failed=0
failures=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count_criterion() { # $1 = name
    line=$(grep -a "Synthesis:" "$log" | tail -n 1)
    t=$(echo "$line" | sed -n 's/.*Tested: \([0-9]*\).*/\1/p')
    p=$(echo "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    if [ -z "$t" ] || [ -z "$p" ]; then
        failed=$((failed + 1)); failures="$failures $1"; return
    fi
    passed=$((passed + p))
    if [ "$t" -ne "$p" ] || [ "$2" -ne 0 ]; then
        failed=$((failed + t - p)); [ "$t" -eq "$p" ] && failed=$((failed + 1))
        failures="$failures $1"
    fi
}

for bin in "$BUILD"/tests/test_* "$BUILD"/tests/asan/test_* "$BUILD"/tests/tsan/test_*; do
    [ -x "$bin" ] || continue
    name=${bin#"$BUILD"/tests/}
    echo "== $name"
    # Under ASan, let a fault kill the process as it would without it: the
    # guard-page tests expect SIGSEGV.
    ASAN_OPTIONS=handle_segv=0 "$bin" -j2 --short-filename >"$log" 2>&1
    rc=$?
    grep -a -E "^\[----\]|^\[FAIL\]|Synthesis|ERROR|WARNING: ThreadSanitizer|runtime error" "$log" | head -40
    count_criterion "$name" "$rc"
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
    if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then failures="$failures $name"; fi
done

[ -n "$failures" ] && echo "failed:$failures"
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
