/* Per-thread caches: one bin of cached objects per (class, partition) cache.
 *
 * A bin is a stack of {object, state byte} entries, so the fast paths touch
 * only thread-local memory plus the object's own state byte, and need no
 * atomic read-modify-write. A bin refills from, and flushes half of itself
 * to, its central cache under the cache's lock. A thread's cache goes back
 * to the central caches when the thread exits, and its memory is reused by
 * the next thread.
 *
 * Under the strict defences the same caches serve harden.c instead: the
 * thread's cache is reached through pm_tcache_strict (pm_tc stays the
 * empty cache, so the fast paths never pop or push), its bins hold slots
 * taken for strict allocations, and after its entries comes the batch of
 * freed slots on their way to the quarantine. Both go back at thread exit,
 * before fork (init.c) and in pm_collect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "harden.h"
#include "init.h"
#include "options.h"
#include "os.h"
#include "sizeclass.h"
#include "tcache.h"
#include "token_stats.h"

__thread struct pm_tcache *pm_tc __attribute__((tls_model("initial-exec"))) = &pm_tcache_empty;
/* Set once this thread's cache has been handed back at exit: later
 * allocations from other destructors go straight to the central caches. */
static __thread bool pm_tc_gone __attribute__((tls_model("initial-exec")));
/* Strict: this thread's cache (pm_tcache_strict), NULL until it has one. */
static __thread struct pm_tcache *pm_tc_strict __attribute__((tls_model("initial-exec")));

struct pm_tcache pm_tcache_empty;

static pthread_key_t tcache_key;
static pm_lock_t tcache_lock = PM_LOCK_INIT;
static struct pm_tcache *tcache_free_list;
/* Every thread cache ever made (they are recycled, never unmapped), newest
 * first; published with release stores so a statistics reader can walk it
 * without the lock. */
static struct pm_tcache *tcache_all;
static size_t bin_capacity[PM_NUM_CLASSES];
static size_t entries_per_tcache;
/* bins[cid].allocs of the caches whose pages went back at their thread's
 * exit, so the statistics still count what those threads took. */
static uint64_t retired_allocs[PM_MAX_CACHES];

/* Objects a bin holds at most: up to 64, and about 64 KiB of them (at
 * least 2); above PM_MAX_SMALL at most 128 KiB of them, at least one, so
 * a thread holds no more than an object or two of each large class. */
#define PM_LARGE_BIN_BYTES (128u << 10)
static size_t capacity_of(unsigned cls) {
    size_t size = pm_class_size[cls];
    if (size > PM_MAX_SMALL)
        return size < PM_LARGE_BIN_BYTES ? PM_LARGE_BIN_BYTES / size : 1;
    size_t cap = 65536 / size;
    return cap < 2 ? 2 : cap > 64 ? 64 : cap;
}

/* Bins exist for caches that may be created later (bucket sets, dedicated
 * caches), so their capacity follows from the id alone. */
#define PM_DEDICATED_BIN_CAPACITY 8
static size_t bin_capacity_of(size_t cid) {
    if (cid >= pm_g.dedicated_cid)
        return PM_DEDICATED_BIN_CAPACITY;
    return PM_CID_CLASS(cid) < PM_NUM_CLASSES ? bin_capacity[PM_CID_CLASS(cid)] : 0;
}

/* The bins, their entries and, under the strict defences, the batch. */
static size_t tcache_bytes(void) {
    return sizeof(struct pm_tcache) + sizeof(struct pm_entry) * entries_per_tcache +
           (pm_g.slow_only ? sizeof(struct pm_strict_batch) : 0);
}

struct pm_strict_batch *pm_tcache_strict_batch(struct pm_tcache *tc) {
    return (struct pm_strict_batch *)((struct pm_entry *)(tc + 1) + entries_per_tcache);
}

static char *page_down(char *p) {
    return (char *)((uintptr_t)p & ~(uintptr_t)(PM_PAGE - 1));
}

static char *page_up(char *p) {
    return page_down(p + PM_PAGE - 1);
}

/* Where bin `cid`'s entries start among the entries that follow the bins:
 * the bins' capacities summed over the ids before it (in id order). */
static size_t class_entries_before[PM_NUM_CLASSES + 1]; /* within a group */

static size_t entries_before(size_t cid) {
    size_t group_entries = class_entries_before[PM_NUM_CLASSES];
    if (cid >= pm_g.dedicated_cid)
        return (pm_g.dedicated_cid >> PM_CLASS_BITS) * group_entries +
               (cid - pm_g.dedicated_cid) * PM_DEDICATED_BIN_CAPACITY;
    unsigned cls = PM_CID_CLASS(cid);
    return PM_CID_GROUP(cid) * group_entries + class_entries_before[cls < PM_NUM_CLASSES ? cls : PM_NUM_CLASSES];
}

/* A thread cache's bins are set up one at a time, on first use: a fresh
 * (or decommitted) cache reads all zero, where a bin's top equals both its
 * base and its end, so the allocation fast path sees an empty bin and the
 * free fast path a full one, and both come here; no fast-path instruction
 * tests for it. A thread using a few caches writes the pages of those
 * bins only, not the bins of every cache id (56 KiB at 16 partitions). */
static struct pm_bin *bin_ready(struct pm_tcache *tc, size_t cid) {
    struct pm_bin *bin = &tc->bins[cid];
    if (PM_UNLIKELY(!bin->end)) {
        struct pm_entry *e = (struct pm_entry *)(tc + 1) + entries_before(cid); /* entries follow the bins */
        bin->base = bin->top = e;
        bin->end = e + bin_capacity_of(cid);
    }
    return bin;
}

void pm_tcache_bin_setup(struct pm_tcache *tc, size_t cid) {
    bin_ready(tc, cid);
}

static void tcache_release(void *arg);

void pm_tcache_init(void) {
    for (unsigned cls = 0; cls < PM_NUM_CLASSES; cls++)
        bin_capacity[cls] = capacity_of(cls);
    for (unsigned cls = 0; cls < PM_NUM_CLASSES; cls++)
        class_entries_before[cls + 1] = class_entries_before[cls] + bin_capacity[cls];
    entries_per_tcache = entries_before(pm_g.num_caches);
    if (pthread_key_create(&tcache_key, tcache_release) != 0)
        pm_fatal("cannot create the thread-cache key");
}

/* Thread caches reserved at once when none is free, without an
 * address-space limit: the kernel keeps each reservation its own mapping,
 * so one per cache would add a mapping for most new caches. */
#define PM_TCACHE_BATCH 8

/* The caches are reserved read-only (no commit charge, no mapping split
 * for the ones no thread has yet) and handed out from [carve_next,
 * carve_end) under tcache_lock; a cache is made writable as a whole when
 * a thread takes it, and goes on the list of all caches then. A cache on
 * the free list has at least the page of its list links writable. */
static char *carve_next, *carve_end;

static size_t tcache_stride(void) {
    return (tcache_bytes() + PM_PAGE - 1) & ~(size_t)(PM_PAGE - 1);
}

static bool links_commit(struct pm_tcache *tc) {
    return pm_os_commit_covering(&tc->next_free, (size_t)((char *)(&tc->next_all + 1) - (char *)&tc->next_free));
}

static bool tcache_commit(struct pm_tcache *tc) {
    return pm_os_commit_covering(tc, tcache_bytes());
}

/* A cache from the free list or the reserved range; NULL, and nothing
 * reserved, if there is none. Under tcache_lock. */
static struct pm_tcache *tcache_take(bool *fresh) {
    struct pm_tcache *tc = tcache_free_list;
    *fresh = false;
    if (tc) {
        tcache_free_list = tc->next_free;
    } else if (carve_next < carve_end) {
        tc = (struct pm_tcache *)carve_next;
        carve_next += tcache_stride();
        *fresh = true;
    }
    return tc;
}

/* Reserves a batch of caches (one under an address-space limit) and takes
 * the first; NULL if the OS refuses even one. */
static struct pm_tcache *tcache_reserve(bool *fresh) {
    size_t stride = tcache_stride(), count = PM_TCACHE_BATCH;
    if (pm_os_space_limit() != SIZE_MAX)
        count = 1;
    char *block = pm_os_meta_reserve(stride * count, PM_USE_TCACHE);
    if (!block && count > 1)
        block = pm_os_meta_reserve(stride * (count = 1), PM_USE_TCACHE);
    if (!block)
        return NULL;
    pm_lock(&tcache_lock);
    /* Another thread's reservation may have come first: its rest is used
     * before this batch, whose rest is given up (address space only). */
    struct pm_tcache *tc = tcache_take(fresh);
    if (!tc) {
        tc = (struct pm_tcache *)block;
        carve_next = block + stride;
        carve_end = block + stride * count;
        *fresh = true;
    }
    pm_unlock(&tcache_lock);
    if ((char *)tc != block)
        pm_os_meta_free(block, stride * count);
    return tc;
}

static struct pm_tcache *tcache_create(void) {
    bool fresh;
    pm_lock(&tcache_lock);
    struct pm_tcache *tc = tcache_take(&fresh);
    pm_unlock(&tcache_lock);
    if (!tc && !(tc = tcache_reserve(&fresh)))
        return NULL;
    if (!tcache_commit(tc)) {
        /* Kept for a later thread if its links can be written. */
        if (!fresh || links_commit(tc)) {
            pm_lock(&tcache_lock);
            if (fresh) {
                tc->next_all = tcache_all;
                __atomic_store_n(&tcache_all, tc, __ATOMIC_RELEASE);
            }
            tc->next_free = tcache_free_list;
            tcache_free_list = tc;
            pm_unlock(&tcache_lock);
        }
        return NULL;
    }
    if (fresh) {
        pm_lock(&tcache_lock);
        tc->next_all = tcache_all;
        __atomic_store_n(&tcache_all, tc, __ATOMIC_RELEASE);
        pm_unlock(&tcache_lock);
    }
    tc->next_free = NULL;
    pthread_setspecific(tcache_key, tc);
    if (pm_g.slow_only)
        pm_tc_strict = tc;
    else
        pm_tc = tc;
    return tc;
}

struct pm_tcache *pm_tcache_strict(void) {
    struct pm_tcache *tc = pm_tc_strict;
    if (PM_LIKELY(tc != NULL))
        return tc;
    return pm_tc_gone ? NULL : tcache_create();
}

static void bin_flush(size_t cid, struct pm_bin *bin, size_t n) {
    pm_cache_flush(cid, bin->base, n);
    size_t rest = (size_t)(bin->top - bin->base) - n;
    memmove(bin->base, bin->base + n, rest * sizeof(struct pm_entry));
    bin->top = bin->base + rest;
}

void pm_tcache_hold(struct pm_tcache *tc, size_t cid, struct pm_entry e) {
    struct pm_bin *bin = bin_ready(tc, cid);
    if (bin->top == bin->end)
        bin_flush(cid, bin, (size_t)(bin->end - bin->base + 1) / 2);
    *bin->top++ = e;
}

/* Everything `tc` holds goes back: under the strict defences the batch to
 * the quarantine first (the slots it sends back go to the central caches,
 * not to these bins), then every bin. */
static void tcache_flush(struct pm_tcache *tc) {
    if (pm_g.slow_only)
        pm_strict_batch_flush(pm_tcache_strict_batch(tc), NULL);
    for (size_t cid = 0; cid < pm_g.num_caches; cid++) {
        struct pm_bin *bin = &tc->bins[cid];
        if (bin->top != bin->base)
            bin_flush(cid, bin, (size_t)(bin->top - bin->base));
    }
}

void pm_tcache_flush_current(void) {
    struct pm_tcache *tc = pm_g.slow_only ? pm_tc_strict : pm_tc;
    if (tc && tc != &pm_tcache_empty)
        tcache_flush(tc);
}

/* Adds the bins' counters to retired_allocs before the bins are zeroed; a
 * statistics reader running in between counts them twice in that reading. */
static void bins_retire(struct pm_tcache *tc) {
    for (size_t cid = 0; cid < pm_g.num_caches; cid++) {
        uint64_t n = __atomic_load_n(&tc->bins[cid].allocs, __ATOMIC_RELAXED);
        if (n)
            __atomic_fetch_add(&retired_allocs[cid], n, __ATOMIC_RELAXED);
    }
}

/* Gives back every page of an idle cache but the one holding its list
 * links: bins and entries read as zero again, as in a fresh cache. Without
 * this each cache on the free list keeps the pages its thread touched, and
 * there are as many of them as threads were ever alive at once. */
static void tcache_decommit(struct pm_tcache *tc) {
    char *start = (char *)tc, *end = page_up(start + tcache_bytes());
    char *keep = page_down((char *)&tc->next_free), *keep_end = page_up((char *)(&tc->next_all + 1));
    if (keep > start)
        pm_os_decommit(start, (size_t)(keep - start));
    if (end > keep_end)
        pm_os_decommit(keep_end, (size_t)(end - keep_end));
}

static void tcache_release(void *arg) {
    struct pm_tcache *tc = arg;
    tcache_flush(tc);
    pm_tc = &pm_tcache_empty;
    pm_tc_strict = NULL;
    pm_tc_gone = true;
    bins_retire(tc);
    tcache_decommit(tc);
    pm_lock(&tcache_lock);
    tc->next_free = tcache_free_list;
    tcache_free_list = tc;
    pm_unlock(&tcache_lock);
}

/* One object straight from the central cache, for threads without a cache. */
static void *alloc_uncached(size_t cid) {
    struct pm_entry e;
    if (pm_cache_refill(cid, &e, 1) == 0) {
        errno = ENOMEM;
        return NULL;
    }
    *e.state = PM_SLOT_LIVE;
    __atomic_fetch_add(&pm_caches[cid].uncached_allocs, 1, __ATOMIC_RELAXED);
    PM_STAT_SLOT(cid);
    return e.ptr;
}

void *pm_tcache_alloc_slow(size_t cid, size_t size) {
    /* Before initialization the partition mask is 0: `cid` is partition 0
     * of its class, a valid cache under any configuration. */
    pm_ensure_init();
    if (pm_g.slow_only)
        return pm_strict_alloc(cid, size);
    struct pm_tcache *tc = pm_tc;
    if (tc == &pm_tcache_empty) {
        if (pm_tc_gone || !(tc = tcache_create()))
            return alloc_uncached(cid);
    }
    struct pm_bin *bin = bin_ready(tc, cid);
    if (bin->top == bin->base) {
        size_t cap = (size_t)(bin->end - bin->base);
        size_t n = pm_cache_refill(cid, bin->base, cap / 2 ? cap / 2 : 1);
        if (n == 0) {
            errno = ENOMEM;
            return NULL;
        }
        bin->top = bin->base + n;
    }
    struct pm_entry *e = --bin->top;
    pm_count(&bin->allocs);
    PM_STAT_SLOT(cid);
    *e->state = PM_SLOT_LIVE;
    return e->ptr;
}

void pm_tcache_free_slow(size_t cid, void *ptr, uint8_t *state) {
    if (pm_g.slow_only) {
        pm_strict_free(cid, ptr, state);
        return;
    }
    struct pm_entry e = {ptr, state};
    struct pm_tcache *tc = pm_tc;
    if (tc == &pm_tcache_empty) {
        if (pm_tc_gone || !(tc = tcache_create())) {
            pm_cache_flush(cid, &e, 1);
            return;
        }
    }
    struct pm_bin *bin = bin_ready(tc, cid);
    if (bin->top == bin->end)
        bin_flush(cid, bin, (size_t)(bin->end - bin->base + 1) / 2);
    *bin->top++ = e;
}

uint64_t pm_tcache_allocs(size_t cid) {
    uint64_t sum = __atomic_load_n(&retired_allocs[cid], __ATOMIC_RELAXED);
    for (struct pm_tcache *tc = __atomic_load_n(&tcache_all, __ATOMIC_ACQUIRE); tc; tc = tc->next_all)
        sum += __atomic_load_n(&tc->bins[cid].allocs, __ATOMIC_RELAXED);
    return sum;
}

void pm_tcache_lock_all(void) {
    pm_lock(&tcache_lock);
}

void pm_tcache_unlock_all(void) {
    pm_unlock(&tcache_lock);
}

void pm_tcache_reinit_locks(void) {
    pthread_mutex_init(&tcache_lock, NULL);
}
