/* Prints the allocation token clang-22 gives `struct tree` (the definition in
 * tests/kapi/wrappers.c), built with the same token flags as wrappers, so
 * that test_slab_programs can list it in PARTMALLOC_TOKEN_STATS_UNTYPED. */
#include <stdio.h>

struct tree { /* keep in sync with tests/kapi/wrappers.c */
    struct tree *left, *right;
    void *payload;
};

int main(void) {
    printf("%llu\n", (unsigned long long)__builtin_infer_alloc_token(sizeof(struct tree)));
    return 0;
}
