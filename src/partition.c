/* The token scope: a program's allocation wrapper records its caller's
 * token and call site (pm_token_scope_begin, <partmalloc/slab.h>), and the
 * next allocation that carries a token is placed as that call would be. */
#include "partition.h"
#include "partmalloc/slab.h"

__thread struct pm_token_override pm_override __attribute__((tls_model("initial-exec")));

PM_EXPORT void pm_token_scope_begin(size_t token, const void *call_site) {
    pm_override.token = token;
    pm_override.site = call_site;
    pm_override.pending = true;
}

PM_EXPORT void pm_token_scope_end(void) {
    pm_override.pending = false;
}

/* The first allocation inside the scope takes the recorded token and site. */
pm_part_t pm_token_part_overridden(void) {
    pm_override.pending = false;
    return pm_token_part(pm_override.token, pm_override.site);
}
