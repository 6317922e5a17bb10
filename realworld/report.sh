#!/bin/bash
# Before/after for jq and gawk: build, test suite, token counts; then a table.
#   realworld/report.sh            (after realworld/fetch.sh and
#                                   make BUILD=build-rw all stats-lib)
# GLIBC=1 adds a glibc build of each (tests only) to tell pre-existing failures.
# COUNT_ONLY=1 reuses the builds and test logs and redoes only the counting runs.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build-rw}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export BUILD
variants="before after"
[ "${GLIBC:-0}" = 1 ] && variants="glibc $variants"
rows=()
for p in jq gawk; do
    for v in $variants; do
        out=$("$REPO/realworld/build.sh" "$p" "$v" 2>&1 | tee /dev/stderr | grep '^result: ' | tail -1)
        [ -n "$out" ] || out="result: $p $v | build failed | "
        rows+=("$out")
    done
done
echo
echo "| program | build | tests passed | allocations | with a type token |"
echo "| --- | --- | --- | ---: | ---: |"
for r in "${rows[@]}"; do
    echo "$r" | awk -F' [|] ' '{
        split($1, a, " "); stats = $3
        n = "-"; share = "-"
        if (match(stats, /: [0-9]+ allocations/)) n = substr(stats, RSTART + 2, RLENGTH - 14)
        if (match(stats, /\([0-9.]+%\)/)) share = substr(stats, RSTART + 1, RLENGTH - 2)
        printf "| %s | %s | %s | %s | %s |\n", a[2], a[3], $2, n, share }'
done
