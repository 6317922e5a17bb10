#!/bin/bash
# The table of `make realworld`, drawn from the results run.sh recorded.
#   realworld/table.sh RESULTS PROGRAM...
#     RESULTS  run.sh's results directory ($BUILD/realworld/results):
#              PROGRAM-VARIANT-REP.result  suite.sh's result line of one run,
#                  "result: PASSED TOTAL WALL CPU RSS FAULTS | detail | failed"
#                  (VARIANT glibc, mimalloc, typed, random, none; REP 1..REPS)
#              build-PROGRAM-glibc, build-PROGRAM-after   build seconds
#              PROGRAM-census-MODE.census, .result        the counting runs
# Environment: REPS (default 3), COUNT_MODES (default "typed random"),
# VOID_TOKEN (the token of void, quoted in the method note).
# Every time, RSS and fault figure is the median over the repetitions; a
# ratio divides a variant's median by glibc's. A figure with no recorded
# value (no file, or a suite that did not run: "-") is shown as "missing".
set -eu
RES=${1:?usage: table.sh RESULTS PROGRAM...}
shift
REPS=${REPS:-3}
COUNT_MODES=${COUNT_MODES:-typed random}
VOID_TOKEN=${VOID_TOKEN:-?}
MODES="typed random none"
VARIANTS="glibc $MODES mimalloc" # the table's order
MISSING=missing

built() { case $1 in jq | libxml2 | gawk | lua | sqlite3 | mawk | make) return 0 ;; esac; return 1; }

# values PROGRAM VARIANT N: the Nth word of each repetition's result line
# (2 passed, 3 total, 4 wall, 5 CPU, 6 RSS KiB, 7 faults), numbers only.
values() {
    local rep f
    for rep in $(seq 1 "$REPS"); do
        f=$RES/$1-$2-$rep.result
        [ -f "$f" ] && cut -d'|' -f1 "$f" | awk -v n="$3" '$n ~ /^[0-9]+(\.[0-9]+)?$/ { print $n }'
    done
    return 0
}
# median PROGRAM VARIANT N: the median of values(), or nothing
median() {
    values "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.10g", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# ratio A B: A / B to three places; missing when either is
ratio() {
    if [ -z "$1" ] || [ -z "$2" ]; then echo "$MISSING"; return; fi
    awk -v a="$1" -v b="$2" -v m="$MISSING" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "%s", m }'
}
or_missing() { if [ -n "$1" ]; then echo "$1"; else echo "$MISSING"; fi; }
pct() { awk -v a="$1" -v b="$2" -v m="$MISSING" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else printf "%s", m }'; }
mib() { [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }' || echo "$MISSING"; }

tests_cell() { # PROGRAM VARIANT: passed/total, the range over the repetitions if it varied
    local lo hi t
    lo=$(values "$1" "$2" 2 | sort -n | head -1)
    hi=$(values "$1" "$2" 2 | sort -n | tail -1)
    t=$(values "$1" "$2" 3 | sort -n | tail -1)
    if [ -z "$lo" ]; then echo "$MISSING"
    elif [ "$lo" = "$hi" ]; then echo "$lo/$t"
    else echo "$lo-$hi/$t"; fi
}
join_cells() { # CELL...: the cells joined by " / "
    local out=$1
    shift
    for c in "$@"; do out="$out / $c"; done
    echo "$out"
}
cells() { # FUNCTION PROGRAM VARIANT...: FUNCTION PROGRAM VARIANT for each, joined by " / "
    local fn=$1 p=$2 out=() v
    shift 2
    for v in "$@"; do out+=("$($fn "$p" "$v")"); done
    join_cells "${out[@]}"
}
cpu_ratio() { ratio "$(median "$1" "$2" 5)" "$(median "$1" glibc 5)"; }
wall_ratio() { ratio "$(median "$1" "$2" 4)" "$(median "$1" glibc 4)"; }
rss_cell() { mib "$(median "$1" "$2" 6)"; }
faults_cell() { or_missing "$(median "$1" "$2" 7)"; }
census() { tail -1 "$RES/$1-census-$2.census" 2>/dev/null | grep '^census: ' || true; } # PROGRAM MODE

echo "| program | build s (glibc / tokens) | tests passed: glibc / typed / random / none / mimalloc | allocation calls | with a real type token | data / pointer partitions (typed) | suite on glibc: CPU s (wall s) | CPU time vs glibc: typed / random / none / mimalloc | wall time vs glibc: typed / random / none / mimalloc | peak RSS MiB: glibc / typed / mimalloc | page faults: glibc / typed / mimalloc |"
echo "| --- | --- | --- | ---: | ---: | --- | ---: | --- | --- | --- | --- |"
for p in "$@"; do
    if built "$p"; then
        b="$(or_missing "$(cat "$RES/build-$p-glibc" 2>/dev/null)") / $(or_missing "$(cat "$RES/build-$p-after" 2>/dev/null)")"
    else
        b="Debian's binary"
    fi
    c=$(census "$p" typed)
    if [ -n "$c" ]; then
        read -r _ _ _ calls typed _ _ lower upper _ <<<"$c"
        share=$(pct "$typed" "$calls")
        split="$(pct "$lower" "$calls") / $(pct "$upper" "$calls")"
    else
        calls=$MISSING share=$MISSING split=$MISSING
    fi
    gc=$(median "$p" glibc 5) gw=$(median "$p" glibc 4)
    if [ -n "$gc" ]; then g="$gc (${gw:-$MISSING})"; else g=$MISSING; fi
    echo "| $p | $b | $(cells tests_cell "$p" $VARIANTS) | $calls | $share | $split | $g" \
        "| $(cells cpu_ratio "$p" $MODES mimalloc) | $(cells wall_ratio "$p" $MODES mimalloc)" \
        "| $(cells rss_cell "$p" glibc typed mimalloc) | $(cells faults_cell "$p" glibc typed mimalloc) |"
done
echo
echo "Allocation calls per partition (census of the counting build), percent of the program's calls:"
echo
printf '| program | mode |'; for i in $(seq 0 15); do printf ' p%02d |' "$i"; done; echo
printf '| --- | --- |'; for i in $(seq 0 15); do printf ' ---: |'; done; echo
for p in "$@"; do
    for m in $COUNT_MODES; do
        c=$(census "$p" "$m")
        [ -n "$c" ] || continue
        calls=$(echo "$c" | cut -d' ' -f4)
        printf '| %s | %s |' "$p" "$m"
        for h in ${c#*| }; do printf ' %s |' "$(awk -v a="$h" -v b="$calls" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')"; done
        echo
    done
done
echo
echo "Failed tests (union over the repetitions):"
for p in "$@"; do
    for v in $VARIANTS; do
        names=$(for rep in $(seq 1 "$REPS"); do cut -s -d'|' -f3 "$RES/$p-$v-$rep.result" 2>/dev/null; done |
            tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')
        [ -z "$names" ] || echo "- $p $v: $names"
    done
    for m in $COUNT_MODES; do
        names=$(cut -s -d'|' -f3 "$RES/$p-census-$m.result" 2>/dev/null | xargs)
        [ -z "$names" ] || echo "- $p census run ($m): $names"
    done
done
echo
echo "Method: REPS=$REPS repetitions, interleaved across glibc, partmalloc's modes and mimalloc; every"
echo "figure is the median over the repetitions. CPU time is user + system of all the processes of"
echo "the suite's tests, peak RSS the largest of any one of them, page faults minor + major summed"
echo "(GNU time around each test command); wall time covers the tests only, not the build. Ratios"
echo "divide by the glibc build's median. mimalloc is Debian's libmimalloc preloaded into the glibc"
echo "build's tests (everything they start) and into the Debian binaries' workloads. The census"
echo "counts allocation calls of all processes that loaded partmalloc; a real type token is any"
echo "token but 0 and the token of void ($VOID_TOKEN). \"$MISSING\": no recorded figure."
