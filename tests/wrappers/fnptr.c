/* Allocates objects with and without pointers through the function-pointer
 * variables of fnptr.h (and a static one of this file) and checks where
 * they landed (check.h); then points two of them at the program's own
 * allocators, which must be the ones called, and prints their count as
 * "own allocator: N calls". */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fnptr.h"

static void *(*local_malloc)(size_t n) = malloc;

int main(void) {
    for (int i = 0; i < 3; i++) {
        struct tree *t = fp_malloc(sizeof(struct tree));
        struct sample *s = fp_malloc(sizeof(struct sample));
        struct tree *td = (*fp_malloc)(sizeof(struct tree));
        struct tree *ta = fp_calloc(3, sizeof(struct tree));
        struct sample *sa = fp_calloc(3, sizeof(struct sample));
        char *buf = fp_malloc(40);
        strcpy(buf, "grown");
        struct tree *tr = fp_realloc(buf, sizeof(struct tree) * 2);
        struct sample *sr = fp_realloc(NULL, sizeof(struct sample) * 2);
        char *copy = fp_strdup("a copy");
        struct tree *tl = local_malloc(sizeof(struct tree));
        struct sample *sl = local_malloc(sizeof(struct sample));
        check("fp_malloc(sizeof(struct tree))", t, 1);
        check("fp_malloc(sizeof(struct sample))", s, 0);
        check("(*fp_malloc)(sizeof(struct tree))", td, 1);
        check("fp_calloc(3, sizeof(struct tree))", ta, 1);
        check("fp_calloc(3, sizeof(struct sample))", sa, 0);
        check("fp_realloc(buf, sizeof(struct tree) * 2)", tr, 1);
        check("fp_realloc(NULL, sizeof(struct sample) * 2)", sr, 0);
        check("fp_strdup(\"a copy\")", copy, 0);
        check("local_malloc(sizeof(struct tree))", tl, 1);
        check("local_malloc(sizeof(struct sample))", sl, 0);
        if (strcmp((char *)tr, "grown") != 0 || strcmp(copy, "a copy") != 0 || ta[2].left || sa[2].values[5] != 0)
            return 1;
        free(t), free(s), free(td), free(ta), free(sa), free(tr), free(sr), free(copy), free(tl), free(sl);
    }
    /* the program's own allocators: called, and given their callers' types */
    fp_malloc = fp_counting_malloc;
    fp_realloc = fp_counting_realloc;
    struct tree *t = fp_malloc(sizeof(struct tree));
    struct sample *s = fp_malloc(sizeof(struct sample));
    struct tree *tr = fp_realloc(NULL, sizeof(struct tree));
    struct sample *sr = fp_realloc(NULL, sizeof(struct sample));
    check("own fp_malloc(sizeof(struct tree))", t, 1);
    check("own fp_malloc(sizeof(struct sample))", s, 0);
    check("own fp_realloc(NULL, sizeof(struct tree))", tr, 1);
    check("own fp_realloc(NULL, sizeof(struct sample))", sr, 0);
    free(t), free(s), free(tr), free(sr);
    fp_malloc = malloc;
    fp_realloc = realloc;
    printf("own allocator: %d calls\n", fp_counted);
    return check_summary();
}
