/* Allocates objects with and without pointers through each wrapper of
 * wrappers.h and checks where they landed (check.h). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wrappers.h"

int main(void) {
    for (int i = 0; i < 3; i++) {
        struct tree *t = xmalloc(sizeof(struct tree));
        struct sample *s = xmalloc(sizeof(struct sample));
        struct tree *ta = xcalloc(3, sizeof(struct tree));
        struct sample *sa = xcalloc(3, sizeof(struct sample));
        char *buf = xmalloc(40);
        strcpy(buf, "grown");
        struct tree *tr = xrealloc(buf, sizeof(struct tree) * 2);
        struct tree *th = hmalloc(sizeof(struct tree));
        struct sample *sh = hmalloc(sizeof(struct sample));
        size_t usable = 0;
        struct tree *tu = umalloc(sizeof(struct tree), &usable);
        struct sample *su = umalloc(sizeof(struct sample), NULL);
        struct tree *tg = gmalloc(1.0, sizeof(struct tree));
        struct sample *sg = gmalloc(1.0, sizeof(struct sample));
        check("xmalloc(sizeof(struct tree))", t, 1);
        check("xmalloc(sizeof(struct sample))", s, 0);
        check("xcalloc(3, sizeof(struct tree))", ta, 1);
        check("xcalloc(3, sizeof(struct sample))", sa, 0);
        check("xrealloc(buf, sizeof(struct tree) * 2)", tr, 1);
        check("hmalloc(sizeof(struct tree))", hmalloc_base(th), 1);
        check("hmalloc(sizeof(struct sample))", hmalloc_base(sh), 0);
        check("umalloc(sizeof(struct tree), &usable)", tu, 1);
        check("umalloc(sizeof(struct sample), NULL)", su, 0);
        check("gmalloc(1.0, sizeof(struct tree))", tg, 1);
        check("gmalloc(1.0, sizeof(struct sample))", sg, 0);
        if (strcmp((char *)tr, "grown") != 0 || hmalloc_size(th) != sizeof(struct tree) ||
            usable < sizeof(struct tree))
            return 1;
        free(t), free(s), free(ta), free(sa), free(tr), free(tu), free(su), free(tg), free(sg);
        hfree(th), hfree(sh);
    }
    return check_summary();
}
