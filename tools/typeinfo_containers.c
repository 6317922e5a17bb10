/* The containers the DWARF type reader's state is made of: a growing string
 * (the names being printed), maps from DIEs and from strings to words (on the
 * C library's search trees), and growing arrays of DIEs. Below dwarf_walk.c,
 * type_name.c and holds_pointers.c; declared in typeinfo_internal.h. */
#define _GNU_SOURCE
#include "typeinfo_internal.h"

#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the string builder --------------------------------------------------- */

void sb_addn(struct sb *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void sb_add(struct sb *b, const char *s) { sb_addn(b, s, strlen(s)); }

void sb_addf(struct sb *b, const char *fmt, ...) {
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof buf)
        sb_addn(b, buf, (size_t)n);
    else
        b->oom = true;
}

const char *sb_str(const struct sb *b) { return b->s ? b->s : ""; }

void sb_free(struct sb *b) {
    free(b->s);
    *b = (struct sb){0};
}

/* ---- maps ------------------------------------------------------------------ */

static int word_cmp(const void *a, const void *b) {
    uintptr_t x = ((const struct map_entry *)a)->key.word, y = ((const struct map_entry *)b)->key.word;
    return (x > y) - (x < y);
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(((const struct map_entry *)a)->key.str, ((const struct map_entry *)b)->key.str);
}

static bool map_get(void *const *root, int (*cmp)(const void *, const void *), struct map_entry probe, uintptr_t *val) {
    struct map_entry *const *e = tfind(&probe, root, cmp);
    if (e)
        *val = (*e)->val;
    return e != NULL;
}

/* Inserts e unless its key is present; returns the entry with that key, or
 * NULL when out of memory. */
static struct map_entry *map_put(void **root, int (*cmp)(const void *, const void *), struct map_entry e) {
    struct map_entry *copy = malloc(sizeof *copy);
    if (!copy)
        return NULL;
    *copy = e;
    struct map_entry **at = tsearch(copy, root, cmp);
    if (!at || *at != copy)
        free(copy);
    return at ? *at : NULL;
}

bool umap_get(const struct umap *m, uintptr_t key, uintptr_t *val) {
    return map_get(&m->root, word_cmp, (struct map_entry){.key.word = key}, val);
}

bool umap_put(struct umap *m, uintptr_t key, uintptr_t val) {
    return map_put(&m->root, word_cmp, (struct map_entry){.key.word = key, .val = val}) != NULL;
}

bool smap_get(const struct smap *m, const char *key, uintptr_t *val) {
    return map_get(&m->root, str_cmp, (struct map_entry){.key.str = (char *)key}, val);
}

bool smap_put(struct smap *m, const char *key, uintptr_t val) {
    char *copy = strdup(key);
    struct map_entry *e = copy ? map_put(&m->root, str_cmp, (struct map_entry){.key.str = copy, .val = val}) : NULL;
    if (!e || e->key.str != copy)
        free(copy);
    return e != NULL;
}

void umap_free(struct umap *m) {
    tdestroy(m->root, free);
    m->root = NULL;
}

/* Frees an smap's entry (for tdestroy). */
static void free_str_entry(void *e) {
    free(((struct map_entry *)e)->key.str);
    free(e);
}

void smap_free(struct smap *m) {
    tdestroy(m->root, free_str_entry);
    m->root = NULL;
}

/* ---- DIE arrays ------------------------------------------------------------- */

size_t dies_push(struct dies *a, const Dwarf_Die *die, bool cxx) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        Dwarf_Die *d = realloc(a->d, cap * sizeof *d);
        if (!d)
            return 0;
        a->d = d;
        bool *c = realloc(a->cxx, cap * sizeof *c);
        if (!c)
            return 0;
        a->cxx = c;
        a->cap = cap;
    }
    a->d[a->n] = *die;
    a->cxx[a->n] = cxx;
    return ++a->n;
}

void dies_free(struct dies *a) {
    free(a->d);
    free(a->cxx);
    *a = (struct dies){0};
}

bool scoped_push(struct scoped *a, const Dwarf_Die *die, const char *raw) {
    if (a->d.n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        char **p = realloc(a->raw, cap * sizeof *p);
        if (!p)
            return false;
        a->raw = p;
        a->cap = cap;
    }
    char *copy = strdup(raw);
    if (!copy || !dies_push(&a->d, die, false)) {
        free(copy);
        return false;
    }
    a->raw[a->d.n - 1] = copy;
    return true;
}

void scoped_free(struct scoped *a) {
    for (size_t i = 0; i < a->d.n; i++)
        free(a->raw[i]);
    free(a->raw);
    dies_free(&a->d);
    *a = (struct scoped){0};
}
