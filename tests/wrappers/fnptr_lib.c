/* The variables of fnptr.h and the allocators they may hold, in a file of
 * their own (the library's). */
#include <stdlib.h>
#include <string.h>

#include "fnptr.h"

fp_malloc_fn fp_malloc = malloc;
fp_calloc_fn fp_calloc = calloc;
fp_realloc_fn fp_realloc = realloc;
fp_strdup_fn fp_strdup = fp_own_strdup;

char *fp_own_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = fp_malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

int fp_counted;

void *fp_counting_malloc(size_t n) {
    fp_counted++;
    return malloc(n);
}

void *fp_counting_realloc(void *p, size_t n) {
    fp_counted++;
    return realloc(p, n);
}
