#!/bin/bash
# Build jq or gawk (Debian sources, from realworld/fetch.sh) with clang-22
# allocation tokens against partmalloc, run its test suite, then count tokens.
#   realworld/build.sh PROGRAM [before|after|glibc]
#     before  -fsanitize=alloc-token, unpatched source, linked with partmalloc
#     after   + realworld/patches/PROGRAM.patch, -fsanitize-alloc-token-extended,
#             -DPARTMALLOC_WRAPPERS -I<repo>/include
#     glibc   unpatched, no tokens, glibc malloc (to tell pre-existing failures)
# Needs `make BUILD=build-rw all stats-lib` (BUILD defaults to <repo>/build-rw).
# COUNT_ONLY=1 reuses build-rw/realworld/PROGRAM-VARIANT and its make check log
# (no copy, build or test run) and redoes only the counting run.
# The counting run passes the token of `void` (from realworld/void_token.sh,
# same compiler and flags) in PARTMALLOC_TOKEN_STATS_UNTYPED, so that a bare
# `(void *) malloc(n)` inside a wrapper counts as fallback, not as a type.
# Prints "result: PROGRAM VARIANT tests ... | partmalloc token stats: ..." last.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build-rw}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
PROG=${1:?usage: build.sh jq|gawk [before|after|glibc]}
VARIANT=${2:-after}
WORK=$BUILD/realworld
JOBS=${JOBS:-$(nproc)}
SRC=$(ls -d "$WORK"/$PROG-[0-9]*/ 2>/dev/null | grep -v -e '-before/$' -e '-after/$' -e '-glibc/$' | head -1)
[ -n "$SRC" ] || { echo "build.sh: no $PROG source in $WORK; run realworld/fetch.sh" >&2; exit 1; }
for f in "$BUILD/libpartmalloc.so" "$BUILD/stats/libpartmalloc.so"; do
    [ -f "$f" ] || { echo "build.sh: $f missing; run make BUILD=$BUILD all stats-lib" >&2; exit 1; }
done

DIR=$WORK/$PROG-$VARIANT
LOG=$WORK/$PROG-$VARIANT.log
COUNT_ONLY=${COUNT_ONLY:-0}
if [ "$COUNT_ONLY" = 1 ]; then
    [ -x "$DIR/$PROG" ] && [ -f "$WORK/$PROG-$VARIANT.check.log" ] ||
        { echo "build.sh: COUNT_ONLY=1 needs an earlier build and check of $PROG $VARIANT" >&2; exit 1; }
else
    rm -rf "$DIR"
    cp -a "${SRC%/}" "$DIR"
fi
cd "$DIR"

CFLAGS="-O2 -g"
LDFLAGS=
LIBS=
case $VARIANT in
    glibc) ;;
    before)
        CFLAGS="$CFLAGS -fsanitize=alloc-token" ;;
    after)
        [ "$COUNT_ONLY" = 1 ] || patch -s -p1 < "$REPO/realworld/patches/$PROG.patch"
        CFLAGS="$CFLAGS -fsanitize=alloc-token -fsanitize-alloc-token-extended -DPARTMALLOC_WRAPPERS -I$REPO/include" ;;
    *) echo "build.sh: variant is before, after or glibc" >&2; exit 1 ;;
esac
if [ "$VARIANT" != glibc ]; then
    # RUNPATH (not RPATH) so that LD_LIBRARY_PATH can swap in the counting build.
    LDFLAGS="-L$BUILD -Wl,-rpath,$BUILD -Wl,--enable-new-dtags"
    LIBS="-lpartmalloc"
fi

if [ "$COUNT_ONLY" != 1 ]; then
echo "== $PROG $VARIANT: configure and build (log: $LOG)"
{
    case $PROG in
        jq)
            autoreconf -fi
            ./configure CC=clang-22 CFLAGS="$CFLAGS" LDFLAGS="$LDFLAGS" LIBS="$LIBS" \
                --disable-docs --disable-valgrind --disable-maintainer-mode --disable-shared \
                --with-oniguruma=yes ;;
        gawk)
            # pma would route malloc through pma_malloc, out of the tokens' sight.
            ./configure CC=clang-22 CFLAGS="$CFLAGS" LDFLAGS="$LDFLAGS" LIBS="$LIBS" \
                --disable-pma
            # Debian's source drops the manual's source (gawktexi.in): skip doc/, awklib/.
            for d in doc awklib; do printf '%%:\n\t@:\n' >$d/Makefile; done ;;
    esac
    make -j"$JOBS"
} >"$LOG" 2>&1 || { tail -30 "$LOG"; echo "build.sh: build failed" >&2; exit 1; }
if [ "$VARIANT" != glibc ]; then
    ldd "./$PROG" | grep -q "$BUILD/libpartmalloc.so" || { echo "build.sh: $PROG not linked with partmalloc" >&2; exit 1; }
fi

echo "== $PROG $VARIANT: make check"
set +e
make -k check >"$WORK/$PROG-$VARIANT.check.log" 2>&1
set -e
fi
CHECK=$WORK/$PROG-$VARIANT.check.log
case $PROG in
    jq)
        # The automake harness runs four scripts; jqtest/onigtest hold the cases.
        pass=$(sed -n 's/^# PASS: *//p' "$CHECK" | tail -1)
        fail=$(sed -n 's/^# FAIL: *//p' "$CHECK" | tail -1)
        total=$(sed -n 's/^# TOTAL: *//p' "$CHECK" | tail -1)
        cases=$(cat tests/jqtest.log tests/onigtest.log 2>/dev/null | sed -n 's/^\([0-9]*\) of \([0-9]*\) tests passed.*/\1 \2/p' |
            awk '{ p += $1; t += $2 } END { printf "%d/%d", p, t }')
        TESTS="$pass/$total scripts passed ($fail failed), $cases cases"
        failed=$(grep -E '^(FAIL|ERROR):' "$CHECK" | tr '\n' ' ')
        ;;
    gawk)
        # Each test prints its name; each failure's diff is headed "==== _NAME ====".
        # (Not the test/_NAME files: the counting run's scripts write some too.)
        total=$(grep -cE '^[A-Za-z0-9][A-Za-z0-9_+.-]*$' "$CHECK")
        failed=$(sed -n 's/^=\{5,\} _\([^ ]*\) =\{5,\}$/\1/p' "$CHECK" | tr '\n' ' ')
        nfail=$(echo $failed | wc -w)
        TESTS="$((total - nfail))/$total passed ($nfail failed)"
        ;;
esac
echo "tests: $TESTS"
[ -z "${failed// /}" ] || echo "failed: $failed"

STATS="(no counting run for glibc)"
if [ "$VARIANT" != glibc ]; then
    echo "== $PROG $VARIANT: counting run"
    SLOG=$WORK/$PROG-$VARIANT.stats.log
    : >"$SLOG"
    # shellcheck disable=SC2086  # CFLAGS is a list of flags
    VOID_TOKEN=$("$REPO/realworld/void_token.sh" clang-22 $CFLAGS)
    echo "void token: $VOID_TOKEN (PARTMALLOC_TOKEN_STATS_UNTYPED)"
    export LD_LIBRARY_PATH=$BUILD/stats PARTMALLOC_TOKEN_STATS=1 PARTMALLOC_TOKEN_STATS_UNTYPED=$VOID_TOKEN
    case $PROG in
        jq) # jq's own test cases: the whole language, one process per file.
            for t in jq onig base64 optional; do
                [ -f tests/$t.test ] || continue
                ./jq -L tests/modules --run-tests tests/$t.test >/dev/null 2>>"$SLOG" || true
            done ;;
        gawk) # every test script with its input, one process each, in a scratch
              # copy of test/ (some scripts write files such as _out1)
            rm -rf count-test
            cp -a test count-test
            cd count-test
            for a in *.awk; do
                n=${a%.awk}
                in=/dev/null; [ -f "$n.in" ] && in=$n.in
                timeout 5 ../gawk -f "$a" <"$in" >/dev/null 2>>"$SLOG" || true
            done
            cd ..
            rm -rf count-test ;;
    esac
    unset LD_LIBRARY_PATH PARTMALLOC_TOKEN_STATS PARTMALLOC_TOKEN_STATS_UNTYPED
    STATS=$(grep -a '^partmalloc token stats:' "$SLOG" | awk '
        { n += $4; t += $6; f += $12; u += $14; k++ }
        END { printf "partmalloc token stats: %d allocations, %d with a type token (%.1f%%), %d fallback, %d without a token [%d processes; void token %s counted as fallback]",
              n, t, n ? 100 * t / n : 0, f, u, k, v }' v="$VOID_TOKEN")
fi
echo "$STATS"
echo "result: $PROG $VARIANT | $TESTS | $STATS"
