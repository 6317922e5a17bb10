/* What the programs under tests/partitions/ share: failing, checking an
 * allocation, sorting addresses. */
#ifndef PM_TESTS_PARTITIONS_COMMON_H
#define PM_TESTS_PARTITIONS_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "partmalloc.h"

/* Prints "error: <why>" and exits 1 (the suite reads stdout). */
static inline void die(const char *why) {
    printf("error: %s\n", why);
    exit(1);
}

/* What partmalloc knows of p, which must be a live slab object's start. */
static inline struct pm_ptr_info info_of(const void *p) {
    struct pm_ptr_info info = {0};
    if (!p || !pm_ptr_info(p, &info) || !info.is_small || !info.live || info.start != p)
        die("an allocation failed or is not a live slab object");
    return info;
}

/* qsort/bsearch order of uintptr_t. */
static inline int cmp_uptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

#endif
