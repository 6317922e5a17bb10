/* Tokens through a program's wrappers: with the companions defined below
 * (one line each) and -fsanitize-alloc-token-extended, objects allocated
 * through xmalloc & co land in their type's half; built without the
 * extension (WITHOUT_COMPANIONS) they all get the wrapper's fallback token.
 * Prints "pointer-half N/M" lines and exits 0 when the expectation for the
 * build holds. */
#include <partmalloc/slab.h>
#include <stdio.h>
#include <stdlib.h>

#include "wrappers.h"

#ifndef WITHOUT_COMPANIONS
PARTMALLOC_TOKEN_COMPANION(void *, xmalloc, (n), size_t n)
PARTMALLOC_TOKEN_COMPANION(void *, xcalloc, (n, size), size_t n, size_t size)
PARTMALLOC_TOKEN_COMPANION(void *, xrealloc, (p, n), void *p, size_t n)
PARTMALLOC_TOKEN_COMPANION(void *, hmalloc, (n), size_t n)
#endif

struct tree {
    struct tree *left, *right;
    void *payload;
};

struct sample {
    double values[6];
};

static struct pm_config config;
static int right, wrong;

/* Whether `partition` is one of the typed-mode group's partitions: the
 * types with pointers' for `holds_pointers`, else the known pointer-free
 * types'. An unknown (the wrapper's own token) is in neither for N >= 4. */
static int in_group(unsigned partition, int holds_pointers) {
    struct pm_group_range r = config.groups[holds_pointers ? PM_GROUP_POINTERS : PM_GROUP_NO_POINTERS];
    return partition >= r.first && partition < r.first + r.count;
}

static void check(const char *what, const void *p, int holds_pointers) {
    struct pm_ptr_info info;
    if (!pm_ptr_info(p, &info)) {
        printf("no object: %s\n", what);
        wrong++;
        return;
    }
    int ok = in_group(info.partition, holds_pointers);
    if (ok)
        right++;
    else
        wrong++;
    printf("%-34s partition %2u %s\n", what, info.partition, ok ? "ok" : "WRONG");
}

int main(void) {
    pm_get_config(&config);
    for (int i = 0; i < 4; i++) {
        struct tree *t = xmalloc(sizeof(struct tree));
        struct sample *s = xmalloc(sizeof(struct sample));
        struct tree *ta = xcalloc(3, sizeof(struct tree));
        struct sample *sa = xcalloc(3, sizeof(struct sample));
        char *buf = xmalloc(48);
        struct tree *tr = xrealloc(buf, sizeof(struct tree) * 2);
        struct tree *th = hmalloc(sizeof(struct tree));
        struct sample *sh = hmalloc(sizeof(struct sample));
        check("xmalloc(sizeof(struct tree))", t, 1);
        check("xmalloc(sizeof(struct sample))", s, 0);
        check("xcalloc(3, sizeof(struct tree))", ta, 1);
        check("xcalloc(3, sizeof(struct sample))", sa, 0);
        check("xrealloc(buf, sizeof(tree) * 2)", tr, 1);
        check("hmalloc(sizeof(struct tree))", hmalloc_base(th), 1);
        check("hmalloc(sizeof(struct sample))", hmalloc_base(sh), 0);
        free(t), free(s), free(ta), free(sa), free(tr);
        hfree(th), hfree(sh);
    }
    printf("typed through wrappers: %d right, %d wrong\n", right, wrong);
#ifdef WITHOUT_COMPANIONS
    return wrong > 0 ? 0 : 1; /* without them the types are lost */
#else
    return wrong == 0 ? 0 : 1;
#endif
}
