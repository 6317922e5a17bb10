/* What partition.h leaves out of line: the unknown group's slow path and
 * the token scope.
 *
 * The token scope: a program's allocation wrapper records its caller's
 * token and call site (pm_token_scope_begin, <partmalloc/slab.h>), and the
 * next allocation that carries a token is placed as that call would be.
 * Scopes nest: an inner one whose token names no type keeps the outer's. */
#include "partition.h"
#include "partmalloc/slab.h"

__thread struct pm_token_override pm_override __attribute__((tls_model("initial-exec")));

PM_EXPORT void pm_token_scope_begin(size_t token, const void *call_site) {
    /* A wrapper called by another wrapper (sqlite3Malloc inside
     * sqlite3DbMallocRaw) gets the token of that inner call, which names no
     * type (it returns into the outer wrapper's `void *`): the outer caller's
     * token, recorded first, stays. An inner call with a type replaces it. */
    if (pm_override.pending && pm_token_is_unknown(token, pm_g.token_max, pm_g.void_token))
        return;
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

/* A token that names no type (typed mode, N >= 4): a partition of the
 * unknown group, [0, N/4), by call site. The first such call also turns
 * calls without a token to the unknown group, if start-up did not find the
 * program's tokens (pm_program_has_tokens): this call is the proof. */
pm_part_t pm_unknown_token_part(const void *return_address) {
    if (PM_UNLIKELY(__atomic_load_n(&pm_g.site_mask, __ATOMIC_RELAXED) != pm_g.unknown_mask))
        __atomic_store_n(&pm_g.site_mask, pm_g.unknown_mask, __ATOMIC_RELAXED);
    return pm_site_part_in(return_address, pm_g.unknown_mask);
}
