#!/bin/sh
# The benchmark suite says how far it is: each repetition's line ends in
# "[k of n runs, about T left]", and the callgrind runs count themselves
# the same way, the last one with nothing left. A quick run of one
# workload under two allocators, twice.
BUILD=${BUILD:-build}
if [ ! -x "$BUILD/bench/launch" ]; then
    make -s --no-print-directory BUILD="$BUILD" bench-build >/dev/null 2>&1 || {
        echo "FAIL: bench progress: cannot build the benchmarks"
        exit 1
    }
fi
out=$(python3 bench/run.py --build "$BUILD" --quick --only churn --configs pm-typed-16,glibc --reps 2 --no-docs 2>&1)
left='about [0-9][0-9]* \(s\|min [0-9][0-9] s\) left\]$'
expect() { # DESCRIPTION REGEX
    if printf '%s\n' "$out" | grep -q -e "$2"; then
        echo "PASS: bench progress: $1"
    else
        printf '%s\n' "$out" | tail -20
        echo "FAIL: bench progress: $1"
    fi
}
expect "repetition 1 of 2: 2 of 4 runs, the time left" "^   rep 1/2: .*  \[2 of 4 runs, $left"
expect "repetition 2 of 2: 4 of 4 runs, nothing left" "^   rep 2/2: .*  \[4 of 4 runs, about 0 s left\]$"
if command -v valgrind >/dev/null; then
    n=$(printf '%s\n' "$out" | sed -n 's/^== callgrind: \([0-9]*\) runs$/\1/p')
    expect "callgrind announces its runs" "^== callgrind: [0-9][0-9]* runs$"
    expect "callgrind counts its runs, the last with nothing left" \
        "^   [a-z0-9-]* \[${n:-x} of ${n:-x} callgrind runs, about 0 s left\]$"
    expect "callgrind's first run" "^   [a-z0-9-]* \[1 of ${n:-x} callgrind runs, $left"
fi
