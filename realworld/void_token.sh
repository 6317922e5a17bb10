#!/bin/bash
# Print the allocation token clang gives `(void *) malloc(n)` -- the type it
# infers from a bare void cast -- under the given compiler and flags:
#   realworld/void_token.sh clang-22 -O2 -fsanitize=alloc-token [...]
# Flags that are not about code generation (-D, -I, -g) are harmless.
set -eu
CC=${1:?usage: void_token.sh CC [CFLAGS...]}
shift
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/probe.c" <<'C'
#include <stdlib.h>
void *pm_void_probe(unsigned long n) { return (void *)malloc(n); }
C
"$CC" "$@" -S -emit-llvm -o "$TMP/probe.ll" "$TMP/probe.c"
# The token is the last argument of the rewritten call:
#   call ... @__alloc_token_malloc(i64 noundef %0, i64 5345636717261423590)
tok=$(sed -n 's/.*@__alloc_token_malloc(i64[^,]*, i64 \([0-9][0-9]*\)).*/\1/p' "$TMP/probe.ll" | head -1)
[ -n "$tok" ] || { echo "void_token.sh: no __alloc_token_malloc call in the probe" >&2; exit 1; }
echo "$tok"
