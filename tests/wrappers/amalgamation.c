/* A program in one file whose wrappers are static, as in an amalgamation
 * (sqlite3.c): malloc-, calloc-, realloc-style, a size header and a usable
 * size, none declared malloc or alloc_size. Built with
 * `partmalloc cc --wrapper=...`, each static wrapper's companion has to be
 * defined in this file; the checks are check.h's. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void *am_malloc(size_t n) {
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

static void *am_calloc(size_t n, size_t size) {
    return calloc(n, size);
}

static void *am_realloc(void *p, size_t n) {
    return realloc(p, n);
}

/* 16 bytes before the object hold its size */
static void *am_sized(size_t n) {
    unsigned long long *h = malloc(n + 16);
    if (!h)
        return NULL;
    h[0] = n;
    return (char *)h + 16;
}

static size_t am_sized_size(void *p) {
    return *(unsigned long long *)((char *)p - 16);
}

static void am_sized_free(void *p) {
    free((char *)p - 16);
}

static void *am_usable(size_t n, size_t *usable) {
    void *p = malloc(n);
    if (p && usable)
        *usable = malloc_usable_size(p);
    return p;
}

int main(void) {
    for (int i = 0; i < 3; i++) {
        struct tree *t = am_malloc(sizeof(struct tree));
        struct sample *s = am_malloc(sizeof(struct sample));
        struct tree *ta = am_calloc(3, sizeof(struct tree));
        struct sample *sa = am_calloc(3, sizeof(struct sample));
        char *buf = am_malloc(40);
        strcpy(buf, "grown");
        struct tree *tr = am_realloc(buf, sizeof(struct tree) * 2);
        struct tree *th = am_sized(sizeof(struct tree));
        struct sample *sh = am_sized(sizeof(struct sample));
        size_t usable = 0;
        struct tree *tu = am_usable(sizeof(struct tree), &usable);
        struct sample *su = am_usable(sizeof(struct sample), NULL);
        check("am_malloc(sizeof(struct tree))", t, 1);
        check("am_malloc(sizeof(struct sample))", s, 0);
        check("am_calloc(3, sizeof(struct tree))", ta, 1);
        check("am_calloc(3, sizeof(struct sample))", sa, 0);
        check("am_realloc(buf, sizeof(struct tree) * 2)", tr, 1);
        check("am_sized(sizeof(struct tree))", (char *)th - 16, 1);
        check("am_sized(sizeof(struct sample))", (char *)sh - 16, 0);
        check("am_usable(sizeof(struct tree), &usable)", tu, 1);
        check("am_usable(sizeof(struct sample), NULL)", su, 0);
        if (strcmp((char *)tr, "grown") != 0 || am_sized_size(th) != sizeof(struct tree) ||
            usable < sizeof(struct tree))
            return 1;
        free(t), free(s), free(ta), free(sa), free(tr), free(tu), free(su);
        am_sized_free(th), am_sized_free(sh);
    }
    return check_summary();
}
