/* A static wrapper declared malloc and alloc_size, called from the same
 * file: kept out of line and given its companion in this file by
 * partmalloc cc's plugin, so that it links at -O0 and keeps its callers'
 * types at -O2 (where it would otherwise be inlined before the calls are
 * rewritten). */
#include <stdlib.h>

#include "check.h"

static void *local_alloc(size_t n) __attribute__((malloc, alloc_size(1)));
static void *local_alloc(size_t n) {
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

int main(void) {
    for (int i = 0; i < 3; i++) {
        struct tree *t = local_alloc(sizeof(struct tree));
        struct sample *s = local_alloc(sizeof(struct sample));
        check("local_alloc(sizeof(struct tree))", t, 1);
        check("local_alloc(sizeof(struct sample))", s, 0);
        free(t), free(s);
    }
    return check_summary();
}
