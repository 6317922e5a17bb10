/* Allocates GIB GiB of 32 KiB objects from one call site (argv[1], default
 * 16) without touching them, checks that every one is distinct, 32 KiB
 * aligned and served by the first one's cache, frees them all and
 * allocates again. Prints
 *   capacity N=<partitions> region=<MiB> live=<GiB> cache=<name>
 * and exits 0, or names what failed and exits 1. A cache that fills its
 * region takes another: one site's size class is not capped by one region
 * (tests/integration/test_modes.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partmalloc.h"

enum { OBJ = 32768 };

static void *one_site(void) {
    return malloc(OBJ);
}

static int by_address(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    size_t gib = argc > 1 ? strtoul(argv[1], NULL, 10) : 16, n = gib << 15;
    void **objs = calloc(n, sizeof *objs);
    if (!objs)
        return 1;
    struct pm_ptr_info first, info;
    for (size_t i = 0; i < n; i++) {
        objs[i] = one_site();
        if (!objs[i]) {
            printf("NULL after %.2f GiB (errno %d)\n", (double)i / 32768, errno);
            return 1;
        }
        if ((uintptr_t)objs[i] % OBJ != 0) {
            printf("object %zu at %p is not 32 KiB aligned\n", i, objs[i]);
            return 1;
        }
        if (pm_ptr_info(objs[i], i == 0 ? &first : &info) != 1 || (i && strcmp(info.cache_name, first.cache_name))) {
            printf("object %zu at %p is not in %s\n", i, objs[i], first.cache_name);
            return 1;
        }
    }
    /* distinct: no two equal once sorted (a copy: the frees below go in
     * allocation order) */
    void **sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return 1;
    memcpy(sorted, objs, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_address);
    for (size_t i = 1; i < n; i++)
        if (sorted[i] == sorted[i - 1]) {
            printf("%p handed out twice\n", sorted[i]);
            return 1;
        }
    free(sorted);
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    void *again = one_site();
    if (!again) {
        printf("no allocation after the frees\n");
        return 1;
    }
    free(again);
    free(objs);
    struct pm_config c;
    pm_get_config(&c);
    printf("capacity N=%u region=%zu live=%zu cache=%s\n", c.partitions, c.cache_region_size >> 20, gib,
           first.cache_name);
    return 0;
}
