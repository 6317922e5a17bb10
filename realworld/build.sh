#!/bin/bash
# Build a real-world program (Debian sources, from realworld/fetch.sh) with
# clang-22 allocation tokens against partmalloc, run its test suite, then
# count tokens.
#   realworld/build.sh PROGRAM [before|after|glibc]
#     PROGRAM: jq gawk libxml2 lua sqlite3 mawk make (no patch)
#     before  `partmalloc cc` without --wrapper
#     after   `partmalloc cc --wrapper=` the names below
#     glibc   no tokens, glibc malloc
# Needs `make BUILD=build-rw all stats-lib` (BUILD defaults to <repo>/build-rw).
# BUILD_ONLY=1 stops after the build (realworld/run.sh runs the suites itself).
# COUNT_ONLY=1 reuses build-rw/realworld/PROGRAM-VARIANT and its test log
# (no copy, build or test run) and redoes only the counting run.
# The counting run passes the token of `void` (from realworld/void_token.sh,
# same compiler and flags) in PARTMALLOC_TOKEN_STATS_UNTYPED, so that a bare
# `(void *) malloc(n)` inside a wrapper counts as fallback, not as a type.
# Prints "result: PROGRAM VARIANT | tests ... | partmalloc token stats: ..." last.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build-rw}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
PROG=${1:?usage: build.sh jq|gawk|libxml2|lua|sqlite3|mawk|make [before|after|glibc]}
VARIANT=${2:-after}
WORK=$BUILD/realworld
JOBS=${JOBS:-2}
case $PROG in
    jq | gawk | libxml2 | sqlite3 | mawk) PKG=$PROG ;;
    lua) PKG=lua5.4 ;;
    make) PKG=make-dfsg ;;
    *) echo "build.sh: unknown program '$PROG' (known: jq gawk libxml2 lua sqlite3 mawk make)" >&2; exit 1 ;;
esac
# The allocation wrappers `partmalloc cc --wrapper` names (no patch): the
# functions the program's code calls to allocate, outermost first (a named
# wrapper called inside another keeps the outer caller's type).
wrappers() {
    case $1 in
        # static (SQLITE_PRIVATE) in the amalgamation; sqlite3MemMalloc
        # beneath them, called through a function pointer, adds an 8-byte
        # size header
        sqlite3) echo sqlite3DbMallocRaw,sqlite3DbMallocRawNN,sqlite3DbMallocZero,sqlite3DbRealloc,sqlite3DbReallocOrFree,sqlite3Malloc,sqlite3MallocZero,sqlite3Realloc,sqlite3_malloc,sqlite3_malloc64,sqlite3_realloc,sqlite3_realloc64 ;;
        # under the ZMALLOC(type) macro
        mawk) echo zmalloc,zrealloc ;;
        make) echo xmalloc,xcalloc,xrealloc ;;
        # lmem.h's macros cast each result to its type (luaM_newvector,
        # luaM_growvector, ...); luaC_newobj casts to GCObject *
        # jv_mem_strdup calls strdup, whose copy gets char's token
        jq) echo jv_mem_alloc,jv_mem_alloc_unguarded,jv_mem_calloc,jv_mem_calloc_unguarded,jv_mem_realloc ;;
        # emalloc_real & co. are static inline in awk.h (the type comes from
        # the (ty) cast in the emalloc(var, ty, size, str) macro); the x*
        # functions of support/xalloc.h serve the gnulib DFA matcher
        gawk) echo emalloc_real,ezalloc_real,erealloc_real,xnmalloc,xnrealloc,x2nrealloc,x2realloc,xmemdup,xzalloc,xcalloc,xmalloc,xrealloc ;;
        lua) echo luaM_growaux_,luaM_shrinkvector_,luaM_saferealloc_,luaM_malloc_,luaM_realloc_ ;;
        # variables holding function pointers (globals.h), malloc, realloc
        # and xmlPosixStrdup at start, xmlMemMalloc & co. once the testers
        # call xmlMemSetup: each call through one carries its caller's type
        libxml2) echo xmlMalloc,xmlMallocAtomic,xmlRealloc,xmlMemStrdup ;;
    esac
}
case $VARIANT in before | after | glibc) ;; *) echo "build.sh: variant is before, after or glibc" >&2; exit 1 ;; esac
SRC=$(ls -d "$WORK/$PKG"-[0-9]*/ 2>/dev/null | head -1)
[ -n "$SRC" ] || { echo "build.sh: no $PKG source in $WORK; run realworld/fetch.sh $PROG" >&2; exit 1; }
for f in "$BUILD/libpartmalloc.so" "$BUILD/stats/libpartmalloc.so"; do
    [ -f "$f" ] || { echo "build.sh: $f missing; run make BUILD=$BUILD all stats-lib" >&2; exit 1; }
done
command -v clang-22 >/dev/null || { echo "build.sh: clang-22 not found (tools/setup.sh installs it)" >&2; exit 1; }

DIR=$WORK/$PROG-$VARIANT
LOG=$WORK/$PROG-$VARIANT.log
CHECK=$WORK/$PROG-$VARIANT.check.log
BIN=$DIR/$PROG
[ "$PROG" = libxml2 ] && BIN=$DIR/xmllint
[ "$PROG" = sqlite3 ] && BIN=$DIR/testfixture
COUNT_ONLY=${COUNT_ONLY:-0}
if [ "$COUNT_ONLY" = 1 ]; then
    [ -x "$BIN" ] && [ -f "$CHECK" ] ||
        { echo "build.sh: COUNT_ONLY=1 needs an earlier build and check of $PROG $VARIANT" >&2; exit 1; }
else
    rm -rf "$DIR"
    cp -a "${SRC%/}" "$DIR"
fi
cd "$DIR"

CFLAGS="-O2 -g"
LDFLAGS=
LIBS=
CC=clang-22
# partmalloc cc adds the tokens, its plugin, -lpartmalloc and its rpath;
# RUNPATH (new dtags) so that LD_LIBRARY_PATH can swap in the counting build.
case $VARIANT in
    before) CC="$BUILD/partmalloc cc" ;;
    after) CC="$BUILD/partmalloc cc --wrapper=$(wrappers "$PROG")" ;;
esac
[ "$VARIANT" = glibc ] || LDFLAGS="-Wl,--enable-new-dtags"
# Debian's compile-time options for sqlite3 (debian/rules).
SQLITE_DEBIAN_FLAGS="-fno-strict-aliasing -DSQLITE_SECURE_DELETE -DSQLITE_ENABLE_COLUMN_METADATA
    -DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_RTREE=1 -DSQLITE_SOUNDEX=1
    -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_OMIT_LOOKASIDE=1 -DSQLITE_ENABLE_DBSTAT_VTAB
    -DSQLITE_ALLOW_ROWID_IN_VIEW -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT=1 -DSQLITE_ENABLE_LOAD_EXTENSION
    -DSQLITE_ENABLE_JSON1 -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_THREADSAFE=1
    -DSQLITE_ENABLE_FTS3_TOKENIZER=1 -DSQLITE_USE_URI=1 -DSQLITE_MAX_SCHEMA_RETRY=25
    -DSQLITE_ENABLE_PREUPDATE_HOOK -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_STMTVTAB
    -DSQLITE_MAX_VARIABLE_NUMBER=250000"
SQLITE_DEBIAN_FLAGS=$(echo $SQLITE_DEBIAN_FLAGS)

if [ "$COUNT_ONLY" != 1 ]; then
echo "== $PROG $VARIANT: configure and build (log: $LOG)"
start=$(date +%s)
{
    case $PROG in
        jq)
            autoreconf -fi
            ./configure CC="$CC" CFLAGS="$CFLAGS" LDFLAGS="$LDFLAGS" LIBS="$LIBS" \
                --disable-docs --disable-valgrind --disable-maintainer-mode --disable-shared \
                --with-oniguruma=yes
            make -j"$JOBS" ;;
        gawk)
            # pma would route malloc through pma_malloc, out of the tokens' sight.
            ./configure CC="$CC" CFLAGS="$CFLAGS" LDFLAGS="$LDFLAGS" LIBS="$LIBS" \
                --disable-pma
            # Debian's source drops the manual's source (gawktexi.in): skip doc/, awklib/.
            for d in doc awklib; do printf '%%:\n\t@:\n' >$d/Makefile; done
            make -j"$JOBS" ;;
        libxml2)
            # Debian's patches touch Makefile.am (a testcatalog program).
            autoreconf -fi
            ./configure CC="$CC" CFLAGS="$CFLAGS" LDFLAGS="$LDFLAGS" LIBS="$LIBS" \
                --disable-shared --without-python
            make -j"$JOBS"
            make -j"$JOBS" runtest testrecurse testapi testchar testdict testlimits ;;
        lua)
            # Debian builds Lua with libtool from debian/; the interpreter
            # alone is all the scripts need: compile the sources directly.
            # luaconf.h includes the multiarch header debian/rules writes.
            printf '#define DEB_HOST_MULTIARCH "%s"\n' "${DEB_HOST_MULTIARCH:-$(gcc -dumpmachine)}" \
                >src/lua5.4-deb-multiarch.h
            cd src
            # shellcheck disable=SC2086  # CC and CFLAGS are lists of words
            for c in ./*.c; do [ "$c" = ./luac.c ] || printf '%s\n' "$c"; done | xargs -P "$JOBS" -n 4 \
                $CC $CFLAGS -std=gnu99 -Wall -DLUA_COMPAT_5_3 -DLUA_USE_LINUX -c
            # shellcheck disable=SC2086
            $CC $CFLAGS -o ../lua ./*.o $LDFLAGS -Wl,-E -lm -ldl $LIBS
            cd .. ;;
        sqlite3)
            # Debian's configure options and compile-time options
            # (debian/rules; SQLITE_OMIT_LOOKASIDE: no sub-allocator of
            # sqlite's own between its objects and malloc); the amalgamation
            # sqlite3.c, its shell and testfixture (the Tcl test harness).
            ./configure CC="$CC" CFLAGS="$CFLAGS $SQLITE_DEBIAN_FLAGS" LDFLAGS="$LDFLAGS" \
                --enable-threadsafe --enable-load-extension --enable-json --enable-fts4 --enable-fts5 \
                --disable-shared
            make -j"$JOBS" sqlite3 testfixture ;;
        mawk)
            # DEBUG_ZMALLOC, mawk's own switch: zmalloc calls malloc for each
            # object instead of cutting 2 KiB chunks into pieces, which would
            # put objects of every type in a chunk typed by its first one.
            ./configure CC="$CC" CFLAGS="$CFLAGS -DDEBUG_ZMALLOC" LDFLAGS="$LDFLAGS"
            make -j"$JOBS" ;;
        make)
            # Debian's build: autoreconf, no Guile.
            autoreconf -fi
            ac_cv_lib_util_getloadavg=no ./configure CC="$CC" CFLAGS="$CFLAGS" LDFLAGS="$LDFLAGS" \
                --with-guile=no --disable-nls
            make -j"$JOBS" ;;
    esac
} >"$LOG" 2>&1 || { tail -30 "$LOG"; echo "build.sh: $PROG $VARIANT: build failed (log: $LOG)" >&2; exit 1; }
echo "build time: $(($(date +%s) - start)) s"
if [ "$VARIANT" != glibc ]; then
    ldd "$BIN" | grep -q "$BUILD/libpartmalloc.so" || { echo "build.sh: $BIN not linked with partmalloc" >&2; exit 1; }
fi
[ "${BUILD_ONLY:-0}" = 1 ] && { echo "result: $PROG $VARIANT | built"; exit 0; }

echo "== $PROG $VARIANT: test suite"
"$REPO/realworld/suite.sh" "$PROG" "$DIR" "$WORK/$PROG-$VARIANT.suite" >"$CHECK" 2>&1 || true
fi
summary=$(grep '^result: ' "$CHECK" | tail -1)
[ -n "$summary" ] || summary="result: 0 0 0 | the suite did not run | "
# "result: PASSED TOTAL SECONDS | detail | failed names"
TESTS=$(echo "$summary" | awk -F' [|] ' '{ split($1, a, " "); printf "%d/%d passed (%s)", a[2], a[3], $2 }')
failed=$(echo "$summary" | awk -F' [|] ' '{ print $3 }')
echo "tests: $TESTS"
[ -z "${failed// /}" ] || echo "failed: $failed"

STATS="(no counting run for glibc)"
if [ "$VARIANT" != glibc ]; then
    echo "== $PROG $VARIANT: counting run"
    SLOG=$WORK/$PROG-$VARIANT.stats.log
    : >"$SLOG"
    # partmalloc cc adds the token flags itself; the probe needs them spelled out.
    VOID_FLAGS="$CFLAGS -fsanitize=alloc-token -fsanitize-alloc-token-extended"
    # shellcheck disable=SC2086  # VOID_FLAGS is a list of flags
    VOID_TOKEN=$("$REPO/realworld/void_token.sh" clang-22 $VOID_FLAGS)
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
        libxml2 | lua) # the suite itself, its stderr kept apart
            "$REPO/realworld/suite.sh" "$PROG" "$DIR" "$WORK/$PROG-$VARIANT.count" >/dev/null 2>&1 || true
            cat "$WORK/$PROG-$VARIANT.count"/*.err >>"$SLOG" 2>/dev/null || true ;;
    esac
    unset LD_LIBRARY_PATH PARTMALLOC_TOKEN_STATS PARTMALLOC_TOKEN_STATS_UNTYPED
    STATS=$(grep -a '^partmalloc token stats:' "$SLOG" | awk '
        { n += $4; t += $6; f += $12; u += $14; k++ }
        END { printf "partmalloc token stats: %d allocations, %d with a type token (%.1f%%), %d fallback, %d without a token [%d processes; void token %s counted as fallback]",
              n, t, n ? 100 * t / n : 0, f, u, k, v }' v="$VOID_TOKEN")
fi
echo "$STATS"
echo "result: $PROG $VARIANT | $TESTS | $STATS"
