/* The wrappers of wrappers.h, in a file of their own (another translation
 * unit than their callers, as in most programs). */
#include <malloc.h>
#include <stdlib.h>

#include "wrappers.h"

void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (!p)
        abort();
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q)
        abort();
    return q;
}

void *hmalloc(size_t n) {
    size_t *h = malloc(n + 16);
    if (!h)
        return NULL;
    h[0] = n;
    return (char *)h + 16;
}

void *hmalloc_base(void *p) { return (char *)p - 16; }
size_t hmalloc_size(void *p) { return *(size_t *)hmalloc_base(p); }
void hfree(void *p) {
    if (p)
        free(hmalloc_base(p));
}

void *umalloc(size_t n, size_t *usable) {
    void *p = malloc(n);
    if (p && usable)
        *usable = malloc_usable_size(p);
    return p;
}

void *gmalloc(double growth, size_t n) {
    return malloc((size_t)((double)n * growth));
}
