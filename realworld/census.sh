#!/bin/sh
# Sum the JSON dumps of a run with the counting build (PARTMALLOC_STATS=
# DIR/%p.json,json, LD_LIBRARY_PATH or LD_PRELOAD of build/stats) into one
# line:
#   census: PROCESSES PARTITIONS CALLS TYPED FALLBACK NOTOKEN LOWER UPPER TYPED_LOWER TYPED_UPPER | H0 H1 ...
#   realworld/census.sh DIR [UNTYPED]
# CALLS counts allocation calls (malloc, calloc, realloc, ... of any size)
# over all processes; TYPED those that carried a real type token; FALLBACK
# those with token 0, a token at or above the token max, or one listed in
# UNTYPED (comma-separated: the token of `void`, realworld/void_token.sh);
# NOTOKEN those without a token. LOWER/UPPER split CALLS by partition
# (0..N/2-1: types without pointers in typed mode; N/2..N-1: with), and
# TYPED_LOWER/TYPED_UPPER the typed calls alone. H0... are the calls per
# partition. Dumps without a census (the normal library) add nothing.
set -eu
DIR=${1:?usage: census.sh DIR [UNTYPED]}
UNTYPED=${2:-}
command -v jq >/dev/null || { echo "census.sh: jq (Debian's) is needed to read the dumps" >&2; exit 1; }
n=$(find "$DIR" -maxdepth 1 -name '*.json' | wc -l)
[ "$n" -gt 0 ] || { echo "census.sh: no JSON dumps in $DIR" >&2; exit 1; }
find "$DIR" -maxdepth 1 -name '*.json' -print0 | xargs -0 cat | jq -n -r --arg untyped "$UNTYPED" '
  ($untyped | split(",") | map(select(length > 0))) as $u
  | reduce inputs as $d ({procs: 0, parts: 0, calls: 0, typed: 0, fallback: 0, plain: 0,
                          lower: 0, upper: 0, tlower: 0, tupper: 0, hist: {}};
      .procs += 1
      | .parts = ([.parts, $d.partitions] | max)
      | ($d.partitions / 2) as $half
      | reduce ($d.census // [])[] as $e (.;
          .calls += $e.allocs
          | .hist[$e.partition | tostring] += $e.allocs
          | (if $e.partition >= $half then .upper += $e.allocs else .lower += $e.allocs end)
          | if $e.token == null then .plain += $e.allocs
            elif $e.token == "0" or any($u[]; . == $e.token)
                 or ($d.token_max > 0 and ($e.token | tonumber) >= $d.token_max) then .fallback += $e.allocs
            else .typed += $e.allocs
                 | (if $e.partition >= $half then .tupper += $e.allocs else .tlower += $e.allocs end)
            end))
  | "census: \(.procs) \(.parts) \(.calls) \(.typed) \(.fallback) \(.plain) \(.lower) \(.upper) \(.tlower) \(.tupper) | "
    + ([range(0; .parts) as $p | .hist[$p | tostring] // 0 | tostring] | join(" "))'
