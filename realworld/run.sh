#!/bin/bash
# `make realworld`: real programs on partmalloc, against their glibc builds.
#   realworld/run.sh [PROGRAM...]     default: jq libxml2 gawk lua sqlite3 mawk make perl git python3
# jq, libxml2, gawk, lua, sqlite3, mawk and make are fetched from Debian's
# sources (fetch.sh), built twice (build.sh: glibc = no tokens, glibc malloc;
# after = clang-22 tokens, the wrapper patch (libxml2) or
# `partmalloc cc --wrapper=...` and no patch (jq gawk lua sqlite3 mawk make), linked
# with partmalloc) and run through their
# own tests (suite.sh); perl, git and python3 are Debian's binaries running
# a workload (realworld/preload/) with and without LD_PRELOAD. Each suite
# runs on glibc and in the typed, random and none modes, REPS times,
# interleaved; then once more in typed mode (and each of COUNT_MODES) with
# the counting build writing a JSON dump per process, which census.sh sums.
# Prints the table (also written to $BUILD/realworld/results.md).
#
# Environment: BUILD (default <repo>/build-rw; needs `make BUILD=... all`),
# REPS (timing repetitions, default 3), JOBS (build jobs, default 2),
# COUNT_MODES (census runs, default "typed random"), SKIP_BUILD=1 (reuse
# the builds of an earlier run).
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
MODES="typed random none"
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
# kept in OUT.result.
run() {
    local p=$1 v=$2 out=$3 dir=- ref=
    shift 3
    local envs=("$@")
    case $p in
        jq | libxml2 | gawk | lua | sqlite3 | mawk | make)
            if [ "$v" = glibc ]; then dir=$WORK/$p-glibc; else dir=$WORK/$p-after; fi ;;
        *) [ "$v" = glibc ] || envs+=("RW_PRELOAD=${RW_PRELOAD_LIB:-$BUILD/libpartmalloc.so}") ;;
    esac
    [ "$v" = glibc ] || envs+=("PARTMALLOC_MODE=$v")
    [ "$out" = "$RES/$p-glibc-1" ] || ref=$RES/$p-glibc-1
    env "${envs[@]}" REF="$ref" bash "$RW/suite.sh" "$p" "$dir" "$out" >"$out.log" 2>&1 || true
    grep '^result: ' "$out.log" | tail -1 >"$out.result" || true
    [ -s "$out.result" ] || echo "result: 0 0 0 0 | the suite did not run (log: $out.log) | all" >"$out.result"
    step "   $p $v: $(cut -d' ' -f2- "$out.result")"
}

# every suite run, then the census runs (each a suite run and its census)
count_modes=($COUNT_MODES)
steps_begin $(($# * (REPS * 4 + ${#count_modes[@]})))
for rep in $(seq 1 "$REPS"); do
    echo "== suites, repetition $rep of $REPS"
    for p in "$@"; do
        for v in glibc $MODES; do
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
field() { cut -d' ' -f"$2" "$1"; } # FILE N: the Nth word of a result line
tests_cell() { # PROGRAM VARIANT: passed/total over the repetitions
    local lo='' hi='' t=''
    for rep in $(seq 1 "$REPS"); do
        local f=$RES/$1-$2-$rep.result
        local ps; ps=$(field "$f" 2); t=$(field "$f" 3)
        [ -z "$lo" ] || [ "$ps" -lt "$lo" ] && lo=$ps
        [ -z "$hi" ] || [ "$ps" -gt "$hi" ] && hi=$ps
    done
    if [ "$lo" = "$hi" ]; then echo "$lo/$t"; else echo "$lo-$hi/$t"; fi
}
best_time() { # PROGRAM VARIANT FIELD: the shortest suite time over the repetitions (4: wall, 5: CPU)
    for rep in $(seq 1 "$REPS"); do field "$RES/$1-$2-$rep.result" "$3"; done | sort -g | head -1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "-" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else printf "-" }'; }

{
    echo "| program | build s (glibc / tokens) | tests passed: glibc / typed / random / none | allocation calls | with a real type token | data / pointer partitions (typed) | suite on glibc: CPU s (wall s) | CPU time vs glibc: typed / random / none | wall time vs glibc: typed / random / none |"
    echo "| --- | --- | --- | ---: | ---: | --- | ---: | --- | --- |"
    for p in "$@"; do
        case $p in
            jq | libxml2 | gawk | lua | sqlite3 | mawk | make) b="$(cat "$RES/build-$p-glibc") / $(cat "$RES/build-$p-after")" ;;
            *) b="Debian's binary" ;;
        esac
        tests="$(tests_cell "$p" glibc) / $(tests_cell "$p" typed) / $(tests_cell "$p" random) / $(tests_cell "$p" none)"
        c=$(tail -1 "$RES/$p-census-typed.census" 2>/dev/null || true)
        if [ "${c%% *}" = census: ]; then
            read -r _ _ _ calls typed _ _ lower upper _ <<<"$c"
            share=$(pct "$typed" "$calls")
            split="$(pct "$lower" "$calls") / $(pct "$upper" "$calls")"
        else
            calls=- share=- split=-
        fi
        gc=$(best_time "$p" glibc 5) gw=$(best_time "$p" glibc 4)
        rc="$(ratio "$(best_time "$p" typed 5)" "$gc") / $(ratio "$(best_time "$p" random 5)" "$gc") / $(ratio "$(best_time "$p" none 5)" "$gc")"
        rw="$(ratio "$(best_time "$p" typed 4)" "$gw") / $(ratio "$(best_time "$p" random 4)" "$gw") / $(ratio "$(best_time "$p" none 4)" "$gw")"
        echo "| $p | $b | $tests | $calls | $share | $split | $gc ($gw) | $rc | $rw |"
    done
    echo
    echo "Allocation calls per partition (census of the counting build), percent of the program's calls:"
    echo
    printf '| program | mode |'; for i in $(seq 0 15); do printf ' p%02d |' "$i"; done; echo
    printf '| --- | --- |'; for i in $(seq 0 15); do printf ' ---: |'; done; echo
    for p in "$@"; do
        for m in $COUNT_MODES; do
            c=$(tail -1 "$RES/$p-census-$m.census" 2>/dev/null || true)
            [ "${c%% *}" = census: ] || continue
            calls=$(echo "$c" | cut -d' ' -f4)
            printf '| %s | %s |' "$p" "$m"
            for h in ${c#*| }; do printf ' %s |' "$(awk -v a="$h" -v b="$calls" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')"; done
            echo
        done
    done
    echo
    echo "Failed tests (union over the repetitions):"
    for p in "$@"; do
        for v in glibc $MODES; do
            names=$(for rep in $(seq 1 "$REPS"); do cut -d'|' -f3 "$RES/$p-$v-$rep.result"; done | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')
            [ -z "$names" ] || echo "- $p $v: $names"
        done
        for m in $COUNT_MODES; do
            names=$(cut -d'|' -f3 "$RES/$p-census-$m.result" | xargs)
            [ -z "$names" ] || echo "- $p census run ($m): $names"
        done
    done
    echo
    echo "Method: REPS=$REPS interleaved repetitions; times are the shortest over the repetitions of the"
    echo "suite's CPU time (user + system of all its processes) and of its wall time (tests only, not the"
    echo "build); ratios divide by the glibc build's shortest time. The census"
    echo "counts allocation calls of all processes that loaded partmalloc; a real type token is any"
    echo "token but 0 and the token of void ($VOID_TOKEN)."
} | tee "$WORK/results.md"
