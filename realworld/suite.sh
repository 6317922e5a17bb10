#!/bin/bash
# Run one real-world program's own tests (or workload) and summarize them.
#   realworld/suite.sh PROGRAM DIR OUT
#     PROGRAM  jq gawk libxml2 lua sqlite3 mawk make (built trees,
#              realworld/build.sh) or
#              perl git python3 (Debian's binaries; DIR is ignored)
#     DIR      the built tree
#     OUT      a directory for the logs (emptied first): OUT/NAME.out and
#              OUT/NAME.err per test where the suite has separate tests
# Environment, passed through to the tests: PARTMALLOC_MODE and friends,
# LD_LIBRARY_PATH (the counting build). Besides:
#     RW_PRELOAD  a library to preload into the tests' commands: the Debian
#                 binaries' workloads (perl, git, python3), or a built
#                 program's suite with everything it starts (mimalloc into
#                 the glibc build); unset: nothing preloaded
#     REF         an earlier OUT of the same program (the glibc run): lua,
#                 perl, git and python3 outputs must then be identical to it
# Prints the suite's log, then one line:
#   result: PASSED TOTAL WALL CPU RSS FAULTS | detail | failed test names
# WALL is the wall time of the tests in seconds; CPU, RSS and FAULTS come from
# GNU time around each command of the tests: CPU the user and system time of
# all the processes they ran (less sensitive to other load on the machine),
# RSS the largest peak resident set of any one of those processes in KiB,
# FAULTS their page faults (minor and major) summed. Exits 0 when the suite
# ran (whatever its results), 1 when it could not run.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
PROG=${1:?usage: suite.sh PROGRAM DIR OUT}
DIR=${2:?usage: suite.sh PROGRAM DIR OUT}
OUT=${3:?usage: suite.sh PROGRAM DIR OUT}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
REF=${REF:-}
rm -rf "$OUT"
mkdir -p "$OUT"
LOG=$OUT/log
: >"$LOG"

now() { date +%s.%N; }
# timed COMMAND...: runs COMMAND (with RW_PRELOAD preloaded) under GNU time,
# which appends "user sys maxrss minor major" of COMMAND and all its waited-for
# descendants to OUT/.rusage. GNU time writes a "Command exited with non-zero
# status" line there first when COMMAND fails: usage() reads only the
# five-number lines.
[ -x /usr/bin/time ] || { echo "suite.sh: /usr/bin/time (GNU time) missing; tools/setup.sh installs it" >&2; exit 1; }
timed() {
    if [ -n "${RW_PRELOAD:-}" ]; then
        /usr/bin/time -a -o "$OUT/.rusage" -f '%U %S %M %R %F' env LD_PRELOAD="$RW_PRELOAD" "$@"
    else
        /usr/bin/time -a -o "$OUT/.rusage" -f '%U %S %M %R %F' "$@"
    fi
}
# usage: "CPU RSS FAULTS" over the commands timed so far (CPU summed, RSS the
# largest, FAULTS summed).
usage() {
    awk 'NF == 5 && $0 ~ /^[0-9. ]+$/ { cpu += $1 + $2; if ($3 > rss) rss = $3; faults += $4 + $5; n++ }
         END { if (n) printf "%.2f %d %d", cpu, rss, faults; else printf "- - -" }' "$OUT/.rusage" 2>/dev/null
}
passed=0 total=0 failed="" detail=""
ok() { passed=$((passed + 1)); total=$((total + 1)); }
bad() { total=$((total + 1)); failed="$failed $1"; }

# check NAME STATUS: a test that writes OUT/NAME.out passes when it exited 0,
# printed something, wrote no partmalloc report and matches REF/NAME.out.
check() {
    name=$1 status=$2
    if [ "$status" != 0 ] || [ ! -s "$OUT/$name.out" ]; then
        echo "$name: exit status $status" >>"$LOG"; tail -5 "$OUT/$name.err" >>"$LOG"; bad "$name"
    elif grep -q '^partmalloc: ' "$OUT/$name.err"; then
        grep '^partmalloc: ' "$OUT/$name.err" | head -3 >>"$LOG"; bad "$name"
    elif [ -n "$REF" ] && ! cmp -s "$REF/$name.out" "$OUT/$name.out"; then
        echo "$name: output differs from $REF/$name.out" >>"$LOG"
        diff "$REF/$name.out" "$OUT/$name.out" 2>&1 | head -10 >>"$LOG"; bad "$name"
    else
        echo "$name: ok" >>"$LOG"; ok
    fi
}

# sqlite's test scripts, realworld/suite.sh sqlite3 (about 15 s on glibc).
SQLITE_TESTS="select1 select2 select3 select4 select5 select6 select7 select8 select9 insert insert2 insert3
    insert4 insert5 update delete join join2 join3 join4 join5 join6 where where2 where3 func func2 func3
    expr trigger1 trigger2 index index2 with1 window1 window2 window3 fts3aa fts3ab json101 json102
    vacuum trans collate1 view"
export LC_ALL=C TZ=UTC PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0

case $PROG in
    jq | gawk | libxml2 | lua | sqlite3 | mawk | make) cd "$DIR" ;;
    perl | git | python3) ;;
    *) echo "suite.sh: unknown program '$PROG' (known: jq gawk libxml2 lua sqlite3 mawk make perl git python3)" >&2; exit 1 ;;
esac

start=$(now)
case $PROG in
    jq)
        # automake's harness: tests/mantest, jqtest, onigtest, shtest
        timed make -k check >"$LOG" 2>&1 || true
        end=$(now)
        p=$(sed -n 's/^# PASS: *//p' "$LOG" | tail -1)
        f=$(sed -n 's/^# FAIL: *//p' "$LOG" | tail -1)
        e=$(sed -n 's/^# ERROR: *//p' "$LOG" | tail -1)
        s=$(sed -n 's/^# SKIP: *//p' "$LOG" | tail -1)
        [ -n "$p" ] || { cat "$LOG"; echo "suite.sh: jq: no test summary in the log" >&2; exit 1; }
        passed=$p total=$((p + ${f:-0} + ${e:-0}))
        failed=$(grep -E '^(FAIL|ERROR):' "$LOG" | sed 's/^[A-Z]*: //' | tr '\n' ' ')
        cases=$(cat tests/*.log 2>/dev/null | sed -n 's/^\([0-9]*\) of \([0-9]*\) tests passed.*/\1 \2/p' |
            awk '{ p += $1; t += $2 } END { printf "%d/%d", p, t }')
        detail="test scripts; $cases jq --run-tests cases; ${s:-0} skipped" ;;
    gawk)
        timed make -k check >"$LOG" 2>&1 || true
        end=$(now)
        # Each test prints its name; each failure's diff is headed
        # "==== _NAME ====", and the summary is "N TESTS FAILED".
        total=$(grep -cE '^[A-Za-z0-9][A-Za-z0-9_+.-]*$' "$LOG" || true)
        failed=$(sed -n 's/^=\{5,\} _\([^ ]*\) =\{5,\}$/\1/p' "$LOG" | tr '\n' ' ')
        n=$(sed -n 's/^\([0-9]*\) TESTS\{0,1\} FAILED.*/\1/p' "$LOG" | tail -1)
        grep -q 'ALL TESTS PASSED' "$LOG" && n=0
        [ -n "$n" ] || { tail -20 "$LOG"; echo "suite.sh: gawk: no test summary in the log" >&2; exit 1; }
        passed=$((total - n))
        detail="make check" ;;
    libxml2)
        # Debian's +dfsg source drops upstream's test/ and result/ trees, so
        # runtest has only Debian's own few cases; the other testers of
        # `make runtests` need no data (runxmlconf needs the W3C suite: left out).
        for t in runtest testrecurse testapi testchar testdict testlimits; do
            st=0
            timed ./$t >"$OUT/$t.out" 2>"$OUT/$t.err" </dev/null || st=$?
            summary=$(grep -a -h -E '^Total' "$OUT/$t.out" "$OUT/$t.err" | tail -1)
            echo "$t: exit $st ${summary}" >>"$LOG"
            if [ "$st" = 0 ] && ! grep -q '^partmalloc: ' "$OUT/$t.err"; then ok; else bad "$t"; fi
        done
        end=$(now)
        detail=$(sed -n 's/^\([a-z]*\): exit [0-9]* Total:\{0,1\} \(.*\)/\1 \2/p' "$LOG" | sed 's/,/;/g' | paste -sd, | sed 's/,/, /g') ;;
    sqlite3)
        # A bounded subset of sqlite's Tcl suite (test/*.test through
        # testfixture; the whole of `make test` takes hours on two cores):
        # the core SQL statements, functions, triggers, windows, FTS3, JSON,
        # transactions and VACUUM. Each script ends "N errors out of M tests".
        for t in $SQLITE_TESTS; do
            st=0
            timed ./testfixture "test/$t.test" >"$OUT/$t.out" 2>"$OUT/$t.err" </dev/null || st=$?
            summary=$(sed -n 's/^\([0-9]*\) errors out of \([0-9]*\) tests.*/\1 \2/p' "$OUT/$t.out" | tail -1)
            echo "$t: exit $st, ${summary:-no summary}" >>"$LOG"
            if [ -n "$summary" ] && [ "${summary%% *}" = 0 ] && ! grep -q '^partmalloc: ' "$OUT/$t.err"; then ok; else bad "$t"; fi
            cases=$((${cases:-0} + ${summary#* }))
            errors=$((${errors:-0} + ${summary%% *}))
        done
        end=$(now)
        detail="testfixture test/*.test scripts; $((cases - errors))/$cases cases" ;;
    mawk)
        # mawk's own `make check`: test/mawktest (six groups, each ending
        # "... OK" or "... had N failures") and test/fpe_test.
        timed make -k check >"$LOG" 2>&1 || true
        end=$(now)
        passed=$(grep -cE '^[a-z].* OK$' "$LOG" | awk '{ print $1 }')
        passed=$((passed - $(grep -c '^tested .* OK$' "$LOG" || true)))
        failed=$(sed -n 's/^\(.*\) had .* failures\{0,1\}$/\1/p' "$LOG" | tr ' ' '_' | tr '\n' ' ')
        total=$((passed + $(echo "$failed" | wc -w)))
        if grep -q '^results consistent' "$LOG"; then ok; else bad fpe_test; fi
        grep -q '^mawk_test failed' "$LOG" && bad mawk_test
        detail="make check (mawktest, fpe_test)" ;;
    make)
        # GNU make's own tests (`make check`'s tests/run_make_tests.pl), one
        # line per script, "CATEGORY/NAME .... ok (N passed)" or ".... FAILED
        # (P/N passed)"; the counts are its test cases.
        # The driver clears the environment but for a few variables
        # (test_driver.pl's resetENV), partmalloc's among those it drops: the
        # make under test is a script that sets them again and runs the
        # built make under the script's own name (its $(MAKE)).
        {
            echo '#!/bin/bash'
            env | grep '^PARTMALLOC_' | while IFS= read -r kv; do printf 'export %q\n' "$kv"; done
            # RW_PRELOAD too, which timed() gives the driver and the driver drops
            [ -z "${RW_PRELOAD:-}" ] || printf 'export LD_PRELOAD=%q\n' "$RW_PRELOAD"
            printf 'exec -a "$0" %q "$@"\n' "$DIR/make"
        } >"$OUT/make"
        chmod +x "$OUT/make"
        (cd tests && timed perl ./run_make_tests.pl -srcdir "$DIR" -make "$OUT/make") >"$LOG" 2>&1 || true
        end=$(now)
        grep -qE 'Tests? in [0-9]+ Categor' "$LOG" || { tail -20 "$LOG"; echo "suite.sh: make: no test summary in the log" >&2; exit 1; }
        read -r passed total <<<"$(awk '/ \.+ ok +\([0-9]+ passed\)/ { n = $NF; sub(/\(/, "", $(NF - 1)); p += $(NF - 1); t += $(NF - 1) }
                                      / \.+ FAILED +\([0-9]+\/[0-9]+ passed\)/ { split($(NF - 1), a, "/"); sub(/\(/, "", a[1]); p += a[1]; t += a[2] }
                                      END { print p + 0, t + 0 }' "$LOG")"
        failed=$(sed -n 's/^\([A-Za-z_0-9/-]*\) \.* FAILED.*/\1/p' "$LOG" | tr '\n' ' ')
        detail="make check (run_make_tests.pl)" ;;
    lua)
        for s in "$REPO"/realworld/lua/*.lua; do
            n=$(basename "$s" .lua)
            st=0
            timed ./lua "$s" >"$OUT/$n.out" 2>"$OUT/$n.err" </dev/null || st=$?
            if [ "$st" = 0 ] && ! tail -1 "$OUT/$n.out" | grep -q "^$n: ok"; then st=ok-line; fi
            check "$n" "$st"
        done
        end=$(now)
        detail="realworld/lua scripts" ;;
    python3)
        # Debian's python3 with its own allocator (pymalloc) and with every
        # object from malloc (PYTHONMALLOC=malloc)
        for m in pymalloc malloc; do
            st=0
            timed env PYTHONMALLOC=$m /usr/bin/python3 "$REPO/realworld/preload/work.py" \
                >"$OUT/work-$m.out" 2>"$OUT/work-$m.err" </dev/null || st=$?
            check "work-$m" "$st"
        done
        end=$(now)
        detail="realworld/preload/work.py" ;;
    perl)
        st=0
        timed /usr/bin/perl "$REPO/realworld/preload/work.pl" >"$OUT/work.out" 2>"$OUT/work.err" </dev/null || st=$?
        check work "$st"
        end=$(now)
        detail="realworld/preload/work.pl" ;;
    git)
        # The session script and everything it starts (sh, git and its
        # helpers) run with the library preloaded.
        tmp=$(mktemp -d)
        st=0
        timed env HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT=/usr/bin/git \
            sh "$REPO/realworld/preload/git_session.sh" "$tmp/repo" >"$OUT/session.out" 2>"$OUT/session.err" </dev/null || st=$?
        rm -rf "$tmp"
        check session "$st"
        end=$(now)
        detail="realworld/preload/git_session.sh" ;;
esac
cat "$LOG"
wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
echo "result: $passed $total $wall $(usage) | $detail | ${failed# }"
