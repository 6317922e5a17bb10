#!/bin/sh
# realworld/table.sh on synthetic recorded results (no program is built or
# run): the mimalloc, peak RSS and page fault columns are there, medians and
# ratios are computed right, a program or a run with nothing recorded shows
# "missing" rather than 0. Control: the same checks on a table.sh changed to
# take the shortest time instead of the median and to print 0 for a missing
# figure must fail.
# Run from the project root; prints PASS:/FAIL: per check.
REPO=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; }
R=$T/results
mkdir -p "$R"

# result PROGRAM VARIANT REP PASSED TOTAL WALL CPU RSS FAULTS [FAILED]
result() {
    echo "result: $4 $5 $6 $7 $8 $9 | synthetic | ${10:-}" >"$R/$1-$2-$3.result"
}
# jq: built; CPU medians glibc 20, typed 24, random 30, none 21, mimalloc 18
# (recorded out of order, so that the first or the shortest is not the median)
echo 37 >"$R/build-jq-glibc"
echo 35 >"$R/build-jq-after"
result jq glibc 1 4 4 31 30 10240 1000
result jq glibc 2 4 4 21 10 20480 3000
result jq glibc 3 4 4 22 20 15360 2000
result jq typed 1 4 4 25 26 30720 5000
result jq typed 2 4 4 24 22 20480 4000
result jq typed 3 3 4 26 24 25600 4500 shtest
result jq random 1 4 4 30 30 20480 4000
result jq random 2 4 4 30 30 20480 4000
result jq random 3 4 4 30 30 20480 4000
# none: the third run did not run (run.sh's line for it), two medians averaged
result jq none 1 4 4 21 20 20480 4000
result jq none 2 4 4 23 22 20480 4000
echo "result: - - - - - - | the suite did not run (log: x) | all" >"$R/jq-none-3.result"
result jq mimalloc 1 4 4 17 17 8192 900
result jq mimalloc 2 4 4 19 19 8192 1100
result jq mimalloc 3 4 4 18 18 8192 1000
echo "census: 4 16 1000 990 10 0 400 600 390 600 | 100 0 0 0 0 0 0 300 0 0 0 0 0 0 0 600" >"$R/jq-census-typed.census"
echo "result: 4 4 1 1 1 1 | synthetic | " >"$R/jq-census-typed.result"
# perl: Debian's binary, the mimalloc runs never recorded; over a million
# faults on glibc (printed in full, not as 1.31719e+06)
for rep in 1 2 3; do
    result perl glibc $rep 1 1 5 5 4096 1317190
    for v in typed random none; do result perl $v $rep 1 1 5 5 4096 100; done
done
# git: nothing recorded at all

table() { # TABLE_SH: the table of jq, perl and git
    REPS=3 COUNT_MODES=typed VOID_TOKEN=42 bash "$1" "$R" jq perl git 2>"$T/err"
}
row() { grep "^| $1 |" "$T/out" | head -1 | tr -s ' ' | sed 's/ |$//'; } # PROGRAM: its row in the first table
cell() { row "$1" | awk -F' [|] ' -v n="$2" '{ print $n }'; } # PROGRAM N: the Nth column (program is 1)

# checks LABEL: every check on $T/out; prints PASS/FAIL lines prefixed by LABEL
checks() {
    l=$1
    ok() { pass "$l$1"; }
    no() { fail "$l$1"; }
    head -1 "$T/out" | grep -q 'tests passed: glibc / typed / random / none / mimalloc' &&
        head -1 "$T/out" | grep -q 'CPU time vs glibc: typed / random / none / mimalloc' &&
        head -1 "$T/out" | grep -q 'peak RSS MiB: glibc / typed / mimalloc' &&
        head -1 "$T/out" | grep -q 'page faults: glibc / typed / mimalloc' &&
        [ "$(head -1 "$T/out" | tr -cd '|' | wc -c)" = "$(sed -n 2p "$T/out" | tr -cd '|' | wc -c)" ] &&
        ok "header: tests, CPU and wall per variant with mimalloc, peak RSS, page faults; the separator row as wide" ||
        no "header columns: $(head -1 "$T/out")"
    [ "$(cell jq 8)" = "1.200 / 1.500 / 1.050 / 0.900" ] &&
        ok "CPU ratios are medians over medians: typed 24/20, random 30/20, none (21+22)/2 over 20, mimalloc 18/20" ||
        no "jq CPU ratios: '$(cell jq 8)' (want 1.200 / 1.500 / 1.050 / 0.900)"
    [ "$(cell jq 7)" = "20 (22)" ] && ok "glibc's CPU and wall medians: 20 (22)" ||
        no "jq glibc CPU (wall): '$(cell jq 7)' (want 20 (22))"
    [ "$(cell jq 9)" = "1.136 / 1.364 / 1.000 / 0.818" ] && ok "wall ratios: 25/22, 30/22, 22/22, 18/22" ||
        no "jq wall ratios: '$(cell jq 9)' (want 1.136 / 1.364 / 1.000 / 0.818)"
    [ "$(cell jq 10)" = "15.0 / 25.0 / 8.0" ] && ok "peak RSS in MiB, medians: 15360, 25600, 8192 KiB" ||
        no "jq peak RSS: '$(cell jq 10)' (want 15.0 / 25.0 / 8.0)"
    [ "$(cell jq 11)" = "2000 / 4500 / 1000" ] && ok "page faults, medians: 2000, 4500, 1000" ||
        no "jq page faults: '$(cell jq 11)' (want 2000 / 4500 / 1000)"
    [ "$(cell jq 3)" = "4/4 / 3-4/4 / 4/4 / 4/4 / 4/4" ] &&
        ok "tests passed per variant, a range where a repetition failed one, the run that did not run left out" ||
        no "jq tests: '$(cell jq 3)' (want 4/4 / 3-4/4 / 4/4 / 4/4 / 4/4)"
    [ "$(cell jq 2)" = "37 / 35" ] && [ "$(cell jq 4)" = 1000 ] && [ "$(cell jq 5)" = "99.0%" ] &&
        [ "$(cell jq 6)" = "40.0% / 60.0%" ] && ok "build seconds and the census: 1000 calls, 99.0% typed, 40.0% / 60.0%" ||
        no "jq build/census: '$(cell jq 2)' '$(cell jq 4)' '$(cell jq 5)' '$(cell jq 6)'"
    [ "$(cell perl 8)" = "1.000 / 1.000 / 1.000 / missing" ] && [ "$(cell perl 3)" = "1/1 / 1/1 / 1/1 / 1/1 / missing" ] &&
        [ "$(cell perl 10)" = "4.0 / 4.0 / missing" ] && [ "$(cell perl 2)" = "Debian's binary" ] &&
        [ "$(cell perl 11)" = "1317190 / 100 / missing" ] &&
        ok "a variant never recorded (perl on mimalloc) is missing in every column, not 0" ||
        no "perl without mimalloc runs: '$(cell perl 3)' '$(cell perl 8)' '$(cell perl 10)' '$(cell perl 11)'"
    gr=$(row git)
    [ -n "$gr" ] && ! echo "$gr" | grep -qE '\| 0(\.0+)?( |%)|/ 0(\.0+)? ' &&
        [ "$(cell git 7)" = missing ] && [ "$(cell git 11)" = "missing / missing / missing" ] &&
        ok "a program with nothing recorded (git) has a row of missing figures and no 0" ||
        no "git's row: '$gr'"
    grep -q '^- jq typed: shtest $' "$T/out" && grep -q '^- jq none: all $' "$T/out" &&
        ok "failed tests: jq typed shtest, and the none run that did not run" ||
        no "failed tests: $(sed -n '/^Failed/,/^$/p' "$T/out" | tr '\n' ';')"
    grep -q '^| jq | typed | 10.0 | 0.0 .* 30.0 |.* 60.0 |$' "$T/out" && ok "histogram row in percent of the calls" ||
        no "histogram: $(grep '^| jq | typed' "$T/out")"
}

if table "$REPO/realworld/table.sh" >"$T/out"; then
    pass "table.sh ran on synthetic results"
else
    fail "table.sh failed: $(cat "$T/err")"
fi
checks ""

# Control: the shortest time instead of the median, 0 instead of missing.
sed -e 's/^MISSING=missing$/MISSING=0/' \
    -e 's/if (NR) printf "%.10g", NR % 2 ? v\[(NR + 1) \/ 2\] : (v\[NR \/ 2\] + v\[NR \/ 2 + 1\]) \/ 2/if (NR) printf "%.10g", v[1]/' \
    "$REPO/realworld/table.sh" >"$T/control.sh"
if cmp -s "$T/control.sh" "$REPO/realworld/table.sh"; then
    fail "control: the changes to table.sh did not apply"
elif table "$T/control.sh" >"$T/out"; then
    checks "control: " >"$T/control"
    if grep -q '^FAIL: control: jq CPU ratios' "$T/control" && grep -q "^FAIL: control: git's row" "$T/control" &&
        grep -q '^FAIL: control: perl without mimalloc' "$T/control"; then
        pass "control: a table with the shortest times and 0 for missing figures fails the ratio and missing checks ($(grep -c '^FAIL' "$T/control") of $(grep -c '^[A-Z]*:' "$T/control") checks)"
    else
        fail "control: the checks passed a wrong table: $(grep '^PASS' "$T/control" | tr '\n' ';')"
    fi
else
    fail "control: the changed table.sh failed: $(cat "$T/err")"
fi
