#!/bin/sh
# The quick real-program check (`make realworld` does the full set): Lua 5.4
# from Debian's source package (apt-get source lua5.4), built unchanged with
# `partmalloc cc --wrapper=` Lua's allocation functions (realworld/build.sh), runs
# the realworld/lua scripts in typed, random and none mode. Each script must
# exit 0 and print exactly what the same Lua built for glibc prints; in typed
# mode, with the counting build, at least 95% of the allocation calls must
# carry a real type token (not 0, not the token of `void`).
# Run from the project root with $BUILD set; prints PASS:/FAIL: per check.
BUILD=${BUILD:-build}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "$BUILD" 2>/dev/null && pwd)
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; }
if [ -z "$B" ] || [ ! -f "$B/libpartmalloc.so" ] || [ ! -f "$B/stats/libpartmalloc.so" ]; then
    fail "$BUILD/libpartmalloc.so and $BUILD/stats/libpartmalloc.so are missing (make all)"
    exit 1
fi
W=$B/realworld
CI=$W/ci
mkdir -p "$W"
log=$W/ci.log

# Sources: only the package itself (clang-22 and the library are all the
# build needs; tools/setup.sh installs dpkg-dev for apt-get source).
if BUILD=$B NO_INSTALL=1 sh "$REPO/realworld/fetch.sh" lua >"$log" 2>&1; then
    pass "apt-get source lua5.4"
else
    tail -5 "$log"
    fail "apt-get source lua5.4 (realworld/fetch.sh lua)"
    exit 1
fi
for v in glibc after; do
    if ! BUILD=$B BUILD_ONLY=1 JOBS=2 bash "$REPO/realworld/build.sh" lua $v >"$log" 2>&1; then
        tail -10 "$log"
        fail "Lua 5.4 build ($v)"
        exit 1
    fi
done
pass "Lua 5.4 built for glibc, and with partmalloc cc --wrapper (no patch) against partmalloc"

# suite NAME [ENV...]: the scripts with the lua-after build, outputs compared
# with the glibc build's; one PASS/FAIL per script.
suite() {
    name=$1
    shift
    env "$@" REF="$CI/glibc" bash "$REPO/realworld/suite.sh" lua "$W/lua-after" "$CI/$name" >"$log" 2>&1
    if ! grep -q '^result: ' "$log"; then
        tail -5 "$log"
        fail "lua scripts ($name): the suite did not run"
        return
    fi
    sed -n 's/^\([a-z_]*\): ok$/\1/p' "$log" | while read -r s; do pass "lua $s.lua ($name)"; done
    grep -v -e '^[a-z_]*: ok$' -e '^result: ' "$log" | head -10
    sed -n 's/^result: .* | \(.*\)$/\1/p' "$log" | tr ' ' '\n' | sed '/^$/d' |
        while read -r s; do fail "lua $s.lua ($name)"; done
}

rm -rf "$CI"
mkdir -p "$CI"
bash "$REPO/realworld/suite.sh" lua "$W/lua-glibc" "$CI/glibc" >"$log" 2>&1
if grep -q '^result: \([1-9][0-9]*\) \1 ' "$log"; then
    pass "lua scripts on the glibc build"
else
    tail -10 "$log"
    fail "lua scripts on the glibc build"
    exit 1
fi
for mode in typed random none; do
    suite "$mode" PARTMALLOC_MODE=$mode
done

# Token coverage with the counting build.
void=$(bash "$REPO/realworld/void_token.sh" clang-22 -O2 -g -fsanitize=alloc-token -fsanitize-alloc-token-extended)
suite counting PARTMALLOC_MODE=typed LD_LIBRARY_PATH="$B/stats" PARTMALLOC_TOKEN_STATS=1 \
    PARTMALLOC_TOKEN_STATS_UNTYPED="$void"
share=$(cat "$CI/counting"/*.err | grep -a '^partmalloc token stats:' |
    awk '{ n += $4; t += $6 } END { if (n) printf "%d %d %.1f", t, n, 100 * t / n }')
if [ -n "$share" ] && awk -v t="${share%% *}" -v n="$(echo "$share" | cut -d' ' -f2)" 'BEGIN { exit !(n > 0 && t * 100 >= n * 95) }'; then
    pass "lua: ${share##* }% of $(echo "$share" | cut -d' ' -f2) allocation calls carry a real type token (>= 95%)"
else
    fail "lua: share of allocation calls with a real type token below 95% (typed/total: ${share:-none})"
fi
