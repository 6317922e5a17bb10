#!/bin/sh
# The API fuzzer's bounded slice (tests/fuzz/, docs/reliability.md): every
# regression input and every seed replayed (one result each), then
# FUZZ_SLICE_SECONDS (60) of fuzzing from the seeds, which passes when
# nothing crashed. A crash's input is kept in $BUILD/fuzz/crashes/; once
# understood and fixed it belongs in tests/fuzz/regressions/.
BUILD=${BUILD:-build}
bin="$BUILD/fuzz/fuzz_api"
seconds=${FUZZ_SLICE_SECONDS:-60}
if [ ! -x "$bin" ]; then
    make -s --no-print-directory BUILD="$BUILD" "$bin" >/dev/null 2>&1 || {
        echo "FAIL: fuzz: cannot build $bin"
        exit 1
    }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for f in tests/fuzz/regressions/* tests/fuzz/corpus/*; do
    [ -f "$f" ] || continue
    case "$f" in *.md) continue ;; esac
    if timeout 120 "$bin" "$f" >"$tmp/log" 2>&1; then
        echo "PASS: fuzz: replay $f"
    else
        grep -a -E "model disagreement|ERROR|runtime error|partmalloc:" "$tmp/log" | head -5
        echo "FAIL: fuzz: replay $f"
    fi
done

mkdir -p "$BUILD/fuzz/crashes" "$tmp/corpus"
timeout $((seconds * 3 + 60)) "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    -dict=tests/fuzz/api.dict -print_final_stats=1 -artifact_prefix="$BUILD/fuzz/crashes/" \
    "$tmp/corpus" tests/fuzz/corpus >"$tmp/log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/log")
if [ "$rc" -eq 0 ]; then
    echo "PASS: fuzz: ${seconds}s from the seeds, ${execs:-?} executions, no crash"
else
    grep -a -E "model disagreement|ERROR|runtime error|partmalloc:|Test unit written" "$tmp/log" | head -10
    echo "FAIL: fuzz: ${seconds}s from the seeds (exit $rc): the input is in $BUILD/fuzz/crashes/"
fi
