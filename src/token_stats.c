/* Token statistics for the counting build (-DPM_TOKEN_STATS): every
 * allocation entry point counts whether its call carried a type token, the
 * fallback token (0, or one at or above the token max), or no token. With
 * PARTMALLOC_TOKEN_STATS set, the totals go to stderr at exit:
 *   partmalloc token stats: N allocations, T with a type token (P%), F fallback, U without a token
 * The normal build compiles the counters out of every fast path. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "fmt.h"
#include "os.h"
#include "partition.h"
#include "slab.h"
#include "token_stats.h"

#ifdef PM_TOKEN_STATS
static uint64_t typed_count, fallback_count, plain_count;

/* The census: allocations per (partition, token), so the partmalloc command
 * can name the types in each partition in any mode. An open-addressing
 * table under one lock (this build is for looking, not for speed); pairs
 * beyond its size are counted as dropped. */
#define CENSUS_SLOTS 8192u
struct census_slot {
    uint64_t token;
    uint32_t partition;
    bool used;
    uint64_t allocs;
};
static struct census_slot census[CENSUS_SLOTS];
static uint64_t census_dropped;
static pm_lock_t census_lock = PM_LOCK_INIT;

/* The sites: slots per allocation call site, so that the command can say
 * when one site (a wrapper around malloc, say) serves most of a program's
 * allocations. Same lock; sites beyond the table's size are not counted. */
#define SITE_SLOTS 4096u
struct site_slot {
    uintptr_t site;
    uint64_t token;
    uint64_t allocs;
    uint64_t classes;
    bool used;
};
static struct site_slot sites[SITE_SLOTS];
static uint64_t sites_used;

/* Under census_lock. */
static void census_count(uint64_t token, uint32_t part) {
    uint64_t h = (token ^ ((uint64_t)part << 56)) * 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0, at = (uint32_t)(h >> 51); i < CENSUS_SLOTS; i++, at = (at + 1) & (CENSUS_SLOTS - 1)) {
        struct census_slot *s = &census[at];
        if (!s->used) {
            *s = (struct census_slot){token, part, false, 0};
            __atomic_store_n(&s->used, true, __ATOMIC_RELEASE);
        } else if (s->token != token || s->partition != part) {
            continue;
        }
        s->allocs++;
        return;
    }
    census_dropped++;
}

/* Under census_lock. */
static void site_count(uintptr_t site, uint64_t token, unsigned size_class) {
    uint64_t h = (uint64_t)site * 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0, at = (uint32_t)(h >> 52); i < SITE_SLOTS; i++, at = (at + 1) & (SITE_SLOTS - 1)) {
        struct site_slot *s = &sites[at];
        if (!s->used) {
            *s = (struct site_slot){.site = site};
            __atomic_store_n(&s->used, true, __ATOMIC_RELEASE);
            sites_used++;
        } else if (s->site != site) {
            continue;
        }
        s->token = token;
        s->allocs++;
        s->classes |= 1ull << (size_class % 64);
        return;
    }
}

static void census_add(uint64_t token, uint32_t part, uintptr_t site, unsigned size_class) {
    pm_lock(&census_lock);
    census_count(token, part);
    if (site)
        site_count(site, token, size_class);
    pm_unlock(&census_lock);
}

void pm_census_lock_all(void) {
    pm_lock(&census_lock);
}
void pm_census_unlock_all(void) {
    pm_unlock(&census_lock);
}
void pm_census_reinit_locks(void) {
    pthread_mutex_init(&census_lock, NULL);
}

size_t pm_token_census(struct pm_census_entry *out, size_t max) {
    size_t n = 0;
    for (uint32_t i = 0; i < CENSUS_SLOTS; i++) {
        if (!__atomic_load_n(&census[i].used, __ATOMIC_ACQUIRE))
            continue;
        if (n < max)
            out[n] = (struct pm_census_entry){census[i].token, census[i].partition, census[i].allocs};
        n++;
    }
    return n;
}

/* The `max` busiest sites by insertion into a sorted list: no allocation,
 * so that a signal handler can call it. Read without the lock, as the
 * census: counts of a site in use may be a few calls behind. */
size_t pm_site_census(struct pm_site_entry *out, size_t max, uint64_t *seen) {
    size_t n = 0;
    for (uint32_t i = 0; i < SITE_SLOTS && max; i++) {
        const struct site_slot *s = &sites[i];
        if (!__atomic_load_n(&s->used, __ATOMIC_ACQUIRE))
            continue;
        struct pm_site_entry e = {.site = s->site, .token = s->token, .allocs = s->allocs, .classes = s->classes};
        if (n == max && e.allocs <= out[n - 1].allocs)
            continue;
        size_t at = n < max ? n++ : n - 1;
        for (; at > 0 && out[at - 1].allocs < e.allocs; at--)
            out[at] = out[at - 1];
        out[at] = e;
    }
    *seen = __atomic_load_n(&sites_used, __ATOMIC_RELAXED);
    return n;
}

/* The token of this thread's allocation call in progress, for the census
 * when (and if) it takes a slot. */
static __thread uint64_t pending_token __attribute__((tls_model("initial-exec"))) = PM_CENSUS_NO_TOKEN;
static __thread const void *pending_site __attribute__((tls_model("initial-exec")));

void pm_stat_plain(const void *site) {
    __atomic_fetch_add(&plain_count, 1, __ATOMIC_RELAXED);
    pending_token = PM_CENSUS_NO_TOKEN;
    pending_site = site;
}

/* A slot of cache `cache_id` handed out: the pending call's token counts in
 * the census under the cache's partition (kmalloc caches: the partitions of
 * the histogram). A slot with no call pending counts as without a token. */
void pm_stat_slot(size_t cache_id) {
    const struct pm_cache *c = &pm_caches[cache_id];
    uint64_t token = pending_token;
    const void *site = pending_site;
    pending_token = PM_CENSUS_NO_TOKEN;
    pending_site = NULL;
    if (c->kind == PM_KIND_KMALLOC)
        census_add(token, c->partition, (uintptr_t)site, c->size_class);
}

/* Tokens that stand for no real type besides the fallback: clang gives a
 * call like `(void *)malloc(n)` the token of `void`. The realworld scripts
 * find such tokens with a probe and list them in
 * PARTMALLOC_TOKEN_STATS_UNTYPED (comma-separated). */
static uint64_t untyped[8];
static size_t untyped_count;
static int untyped_read;

static void read_untyped(void) {
    const char *v = secure_getenv("PARTMALLOC_TOKEN_STATS_UNTYPED");
    while (v && *v && untyped_count < 8) {
        char *end;
        unsigned long long t = strtoull(v, &end, 0);
        if (end == v)
            break;
        untyped[untyped_count++] = t;
        v = *end == ',' ? end + 1 : end;
    }
}

static bool is_untyped(uint64_t token) {
    if (!__atomic_load_n(&untyped_read, __ATOMIC_ACQUIRE)) {
        static pm_lock_t lock = PM_LOCK_INIT;
        pm_lock(&lock);
        if (!untyped_read) {
            read_untyped();
            __atomic_store_n(&untyped_read, 1, __ATOMIC_RELEASE);
        }
        pm_unlock(&lock);
    }
    for (size_t i = 0; i < untyped_count; i++)
        if (untyped[i] == token)
            return true;
    return false;
}

void pm_stat_token(uint64_t token, const void *site) {
    if (pm_override.pending) { /* inside a wrapper's companion: the caller's token counts */
        token = pm_override.token;
        site = pm_override.site;
    }
    pending_token = token;
    pending_site = site;
    bool fallback = token == 0 || (pm_g.token_max && token >= pm_g.token_max) || is_untyped(token);
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

void pm_token_stats_check(void) {}
#else
/* PARTMALLOC_TOKEN_STATS asks for counts this build does not keep: say so
 * once at start, rather than print nothing at exit. */
void pm_token_stats_check(void) {
    static const char msg[] =
        "partmalloc: PARTMALLOC_TOKEN_STATS is ignored: this library does not count tokens; "
        "use the counting build (`partmalloc run` preloads it; `make stats-lib` builds "
        "stats/libpartmalloc.so)\n";
    if (secure_getenv("PARTMALLOC_TOKEN_STATS"))
        pm_write_stderr(msg, sizeof msg - 1);
}

void pm_census_lock_all(void) {}
void pm_census_unlock_all(void) {}
void pm_census_reinit_locks(void) {}

size_t pm_token_census(struct pm_census_entry *out, size_t max) {
    (void)out;
    (void)max;
    return 0;
}

size_t pm_site_census(struct pm_site_entry *out, size_t max, uint64_t *seen) {
    (void)out;
    (void)max;
    *seen = 0;
    return 0;
}
#endif
