/* Token statistics for the counting build (-DPM_TOKEN_STATS): every
 * allocation entry point counts whether its call carried a type token, the
 * fallback token (0, or one at or above the token max), or no token. With
 * PARTMALLOC_TOKEN_STATS set, the totals go to stderr at exit:
 *   partmalloc token stats: N allocations, T with a type token (P%), F fallback, U without a token
 * The normal build compiles the counters out of every fast path. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "fastpath.h"

#ifdef PM_TOKEN_STATS
static uint64_t typed_count, fallback_count, plain_count;

void pm_stat_plain(void) {
    __atomic_fetch_add(&plain_count, 1, __ATOMIC_RELAXED);
}

void pm_stat_token(uint64_t token) {
    if (pm_override.pending) /* inside a wrapper's companion: the caller's token counts */
        token = pm_override.token;
    bool fallback = token == 0 || (pm_g.token_max && token >= pm_g.token_max);
    __atomic_fetch_add(fallback ? &fallback_count : &typed_count, 1, __ATOMIC_RELAXED);
}

__attribute__((destructor)) static void report(void) {
    if (!secure_getenv("PARTMALLOC_TOKEN_STATS"))
        return;
    uint64_t t = typed_count, f = fallback_count, u = plain_count, n = t + f + u;
    char line[256];
    size_t at = 0;
    const char *parts[] = {"partmalloc token stats: ", " allocations, ", " with a type token (", "%), ",
                           " fallback, ", " without a token\n"};
    uint64_t pct10 = n ? t * 1000 / n : 0;
    for (size_t i = 0; parts[i][0]; i++) {
        for (const char *s = parts[i]; *s; s++)
            line[at++] = *s;
        if (i == 0)
            at += pm_fmt_u64(line + at, n);
        else if (i == 1)
            at += pm_fmt_u64(line + at, t);
        else if (i == 2) {
            at += pm_fmt_u64(line + at, pct10 / 10);
            line[at++] = '.';
            at += pm_fmt_u64(line + at, pct10 % 10);
        } else if (i == 3)
            at += pm_fmt_u64(line + at, f);
        else if (i == 4)
            at += pm_fmt_u64(line + at, u);
        if (i == 5)
            break;
    }
    pm_write_stderr(line, at);
}
#endif
