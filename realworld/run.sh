#!/bin/bash
# `make realworld`: real programs on partmalloc, against their glibc builds.
#   realworld/run.sh [PROGRAM...]     default: jq libxml2 gawk lua sqlite3 mawk make perl git python3
# jq, libxml2, gawk, lua, sqlite3, mawk and make are fetched from Debian's
# sources (fetch.sh), built twice (build.sh: glibc = no tokens, glibc malloc;
# after = clang-22 tokens with `partmalloc cc --wrapper=...` and no patch,
# linked with partmalloc) and run through their
# own tests (suite.sh); perl, git and python3 are Debian's binaries running
# a workload (realworld/preload/) with and without LD_PRELOAD. Each suite
# runs on glibc, on mimalloc (Debian's libmimalloc preloaded into the glibc
# build's tests) and in the typed, random and none modes, REPS times,
# interleaved; then once more in each of COUNT_MODES with the counting build
# writing a JSON dump per process, which census.sh sums. Each run's result
# line (suite.sh: tests, wall, CPU, peak RSS, page faults) is kept in
# $BUILD/realworld/results; table.sh draws the table from them (printed, and
# written to $BUILD/realworld/results.md).
#
# Environment: BUILD (default <repo>/build-rw; needs `make BUILD=... all`),
# REPS (timing repetitions, default 3), JOBS (build jobs, default 2),
# COUNT_MODES (census runs, default "typed random"), SKIP_BUILD=1 (reuse
# the builds of an earlier run), MODES (partmalloc's modes the suites run
# in, default "typed random none"), MIMALLOC (the library preloaded for the
# mimalloc runs; default Debian's libmimalloc.so.2).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build-rw}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export BUILD
WORK=$BUILD/realworld
RES=$WORK/results
REPS=${REPS:-3}
export JOBS=${JOBS:-2}
COUNT_MODES=${COUNT_MODES:-typed random}
MODES=${MODES:-typed random none}
# every variant a suite runs in, in the order of the interleaved runs
VARIANTS="glibc mimalloc $MODES"
[ $# -gt 0 ] || set -- jq libxml2 gawk lua sqlite3 mawk make perl git python3
RW=$REPO/realworld

die() { echo "realworld: $*" >&2; exit 1; }
for f in "$BUILD/libpartmalloc.so" "$BUILD/stats/libpartmalloc.so"; do
    [ -f "$f" ] || die "$f missing; run make BUILD=$BUILD all"
done
built=() preloaded=()
for p in "$@"; do
    case $p in
        jq | libxml2 | gawk | lua | sqlite3 | mawk | make) built+=("$p") ;;
        perl | git | python3) preloaded+=("$p") ;;
        *) die "unknown program '$p' (known: jq libxml2 gawk lua sqlite3 mawk make perl git python3)" ;;
    esac
done
for b in perl git python3; do [ -x "/usr/bin/$b" ] || die "/usr/bin/$b missing (tools/setup.sh installs it)"; done
MIMALLOC=${MIMALLOC:-$(/sbin/ldconfig -p | awk '$1 == "libmimalloc.so.2" { print $NF; exit }')}
[ -n "$MIMALLOC" ] && [ -f "$MIMALLOC" ] || die "libmimalloc.so.2 missing (tools/setup.sh installs libmimalloc2.0)"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) missing (tools/setup.sh installs time)"
command -v jq >/dev/null || die "Debian's jq is needed to read the statistics dumps (realworld/fetch.sh installs it)"
mkdir -p "$RES"
now() { date +%s; }

# Progress: "k of n" and the time left, estimated from the mean so far.
duration() { # SECONDS
    if [ "$1" -lt 60 ]; then echo "$1 s"
    elif [ "$1" -lt 3600 ]; then printf '%d min %02d s\n' $(($1 / 60)) $(($1 % 60))
    else printf '%d h %02d min\n' $(($1 / 3600)) $(($1 / 60 % 60)); fi
}
STEP=0 STEPS=0 STEPS_START=0
steps_begin() { STEP=0 STEPS=$1 STEPS_START=$(now); }
step() { # WHAT: one step done, said with the count and the time left
    STEP=$((STEP + 1))
    local left=$((($(now) - STEPS_START) * (STEPS - STEP) / STEP))
    echo "$1  [$STEP of $STEPS, about $(duration "$left") left]"
}

# ---- fetch and build ----
if [ ${#built[@]} -gt 0 ]; then
    bash "$RW/fetch.sh" "${built[@]}"
    steps_begin $((${#built[@]} * 2))
    for p in "${built[@]}"; do
        for v in glibc after; do
            if [ "${SKIP_BUILD:-0}" = 1 ] && [ -f "$RES/build-$p-$v" ]; then
                step "== build of $p ($v): kept"
                continue
            fi
            echo "== building $p ($v)"
            t0=$(now)
            BUILD_ONLY=1 bash "$RW/build.sh" "$p" "$v" || die "build of $p ($v) failed"
            echo "$(($(now) - t0))" >"$RES/build-$p-$v"
            step "   built $p ($v) in $(duration $(($(now) - t0)))"
        done
    done
fi
VOID_TOKEN=$(bash "$RW/void_token.sh" clang-22 -O2 -g -fsanitize=alloc-token -fsanitize-alloc-token-extended)

# ---- the suites ----
# run PROGRAM VARIANT OUT [extra env...]: one suite run; its result line is
# kept in OUT.result. VARIANT glibc, mimalloc (the glibc build or Debian's
# binary with MIMALLOC preloaded) or a mode of partmalloc.
run() {
    local p=$1 v=$2 out=$3 dir=- ref=
    shift 3
    local envs=("$@")
    case $p in
        jq | libxml2 | gawk | lua | sqlite3 | mawk | make)
            case $v in glibc | mimalloc) dir=$WORK/$p-glibc ;; *) dir=$WORK/$p-after ;; esac ;;
        *) case $v in
               glibc | mimalloc) ;;
               *) envs+=("RW_PRELOAD=${RW_PRELOAD_LIB:-$BUILD/libpartmalloc.so}") ;;
           esac ;;
    esac
    case $v in
        glibc) ;;
        mimalloc) envs+=("RW_PRELOAD=$MIMALLOC") ;;
        *) envs+=("PARTMALLOC_MODE=$v") ;;
    esac
    [ "$out" = "$RES/$p-glibc-1" ] || ref=$RES/$p-glibc-1
    env "${envs[@]}" REF="$ref" bash "$RW/suite.sh" "$p" "$dir" "$out" >"$out.log" 2>&1 || true
    grep '^result: ' "$out.log" | tail -1 >"$out.result" || true
    # no counts for a suite that did not run: table.sh shows it as missing
    [ -s "$out.result" ] || echo "result: - - - - - - | the suite did not run (log: $out.log) | all" >"$out.result"
    step "   $p $v: $(cut -d' ' -f2- "$out.result")"
}

# every suite run, then the census runs (each a suite run and its census)
count_modes=($COUNT_MODES)
variants=($VARIANTS)
steps_begin $(($# * (REPS * ${#variants[@]} + ${#count_modes[@]})))
for rep in $(seq 1 "$REPS"); do
    echo "== suites, repetition $rep of $REPS"
    for p in "$@"; do
        for v in $VARIANTS; do
            unset RW_PRELOAD_LIB
            run "$p" "$v" "$RES/$p-$v-$rep"
        done
    done
done

echo "== census runs (counting build: $COUNT_MODES)"
for p in "$@"; do
    for m in $COUNT_MODES; do
        d=$RES/$p-census-$m
        rm -rf "$d.dumps"
        mkdir -p "$d.dumps"
        case $p in
            jq | libxml2 | gawk | lua | sqlite3 | mawk | make)
                unset RW_PRELOAD_LIB
                run "$p" "$m" "$d" LD_LIBRARY_PATH="$BUILD/stats" PARTMALLOC_STATS="$d.dumps/%p.json,json" ;;
            *)
                RW_PRELOAD_LIB=$BUILD/stats/libpartmalloc.so \
                    run "$p" "$m" "$d" PARTMALLOC_STATS="$d.dumps/%p.json,json" ;;
        esac
        bash "$RW/census.sh" "$d.dumps" "$VOID_TOKEN" >"$d.census" 2>&1 || echo "census: failed" >>"$d.census"
        echo "   $p $m census: $(tail -1 "$d.census")"
    done
done

# ---- the table ----
REPS=$REPS COUNT_MODES=$COUNT_MODES VOID_TOKEN=$VOID_TOKEN bash "$RW/table.sh" "$RES" "$@" | tee "$WORK/results.md"
