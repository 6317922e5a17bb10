/* A program's own allocation wrappers, in the shapes real programs use:
 * checked malloc, zeroing calloc, realloc, and a size header before the
 * object. Built with -fsanitize=alloc-token so their inner calls reach
 * partmalloc's token entry points. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* 16-byte header holding the size, as sqlite3Malloc and zmalloc do. */
void *hmalloc(size_t n) {
    size_t *h = malloc(n + 16);
    if (!h)
        return NULL;
    h[0] = n;
    return (char *)h + 16;
}

void *hmalloc_base(void *p) {
    return (char *)p - 16;
}

void hfree(void *p) {
    if (p)
        free((char *)p - 16);
}
