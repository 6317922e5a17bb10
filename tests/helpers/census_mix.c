/* Allocation calls that are not one slot each, for the counting build's
 * census (tests/integration/test_stats_programs.c): reallocs that stay in
 * place, reallocs that move to another size class, large blocks, calloc,
 * aligned blocks, and frees between them. The census must count exactly
 * the slots the caches hand out. Prints "ok" and exits 0. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile keep[400];

int main(void) {
    for (int i = 0; i < 100; i++) {
        char *p = malloc(40);
        p = realloc(p, 36);   /* same size class: in place */
        p = realloc(p, 44);   /* still in place */
        p = realloc(p, 300);  /* another class: a new slot */
        keep[i] = p;
    }
    for (int i = 0; i < 50; i++) {
        char *big = malloc(1100000); /* a large block (above 1 MiB): no slot */
        big = realloc(big, 200000);
        free(big);
        keep[100 + i] = calloc(3, 24);
        keep[150 + i] = aligned_alloc(64, 128);
    }
    for (int i = 0; i < 100; i += 2)
        free(keep[i]);
    for (int i = 0; i < 50; i++)
        keep[200 + i] = malloc((size_t)(8 * (i % 16) + 8));
    puts("ok");
    return 0;
}
