/* Per-thread caches (tcache.c): per thread, a bin of free objects for
 * every cache; the fast paths pop and push there, the slow paths refill
 * and flush through the slab layer. */
#ifndef PM_TCACHE_H
#define PM_TCACHE_H

#include "slab.h"

#pragma GCC visibility push(hidden)

struct pm_bin {
    struct pm_entry *top;   /* next free entry slot; entries below are cached objects */
    struct pm_entry *base;
    struct pm_entry *end;
    uint64_t allocs;        /* objects this thread took from the bin, ever (statistics) */
};

struct pm_tcache {
    /* First, at offset 0 with 32-byte bins: each bin (its top, base, end
     * and counter) lies within one cache line. */
    struct pm_bin bins[PM_MAX_CACHES];
    struct pm_tcache *next_free;
    struct pm_tcache *next_all;        /* every cache ever made, for statistics */
};

extern __thread struct pm_tcache *pm_tc __attribute__((tls_model("initial-exec")));
extern struct pm_tcache pm_tcache_empty;

/* Strict (pm_g.slow_only): a freed slot on its way to the quarantine. */
struct pm_quarantined {
    void *ptr;
    uint8_t *state;
    size_t cid;
};
/* Strict: the freed slots a thread holds, every check done and their state
 * CACHED, until PM_STRICT_BATCH of them enter the quarantine in one locked
 * step (harden.c). It follows the cache's entries. */
#define PM_STRICT_BATCH 32u
struct pm_strict_batch {
    size_t count;
    struct pm_quarantined slots[PM_STRICT_BATCH];
};
/* Strict: this thread's cache, made on first use; NULL once the thread has
 * handed it back at exit, or if there is no memory for one. Its bins hold
 * the slots pm_strict_alloc hands out (state CACHED or CACHED_NEVER, so
 * they count as cached), while pm_tc stays the empty cache: the fast paths
 * always take the slow ones, which go to harden.c. */
struct pm_tcache *pm_tcache_strict(void);
struct pm_strict_batch *pm_tcache_strict_batch(struct pm_tcache *tc);
/* `tc`'s bin of `cid`, set up first if it never was (bins are set up on
 * first use: a zeroed bin has no entries). The test is inline, the set-up
 * out of line. */
void pm_tcache_bin_setup(struct pm_tcache *tc, size_t cid);
static inline struct pm_bin *pm_tcache_bin(struct pm_tcache *tc, size_t cid) {
    struct pm_bin *bin = &tc->bins[cid];
    if (PM_UNLIKELY(!bin->end))
        pm_tcache_bin_setup(tc, cid);
    return bin;
}
/* Holds the cached slot `e` of `cid` in `tc`'s bin, half the bin going back
 * to the central cache first if it is full. */
void pm_tcache_hold(struct pm_tcache *tc, size_t cid, struct pm_entry e);

/* `size`: the size asked for (slow_only defences need it). */
void *pm_tcache_alloc_slow(size_t cid, size_t size);
void pm_tcache_free_slow(size_t cid, void *ptr, uint8_t *state);
void pm_tcache_flush_current(void);
void pm_tcache_init(void);
void pm_tcache_lock_all(void);
void pm_tcache_reinit_locks(void);
void pm_tcache_unlock_all(void);
/* Sum over every thread cache of bins[cid].allocs (racy reads: statistics). */
uint64_t pm_tcache_allocs(size_t cid);

/* Adds one to a counter only this thread writes and statistics read from
 * other threads. A plain add (1 instruction); under TSan an atomic store, so
 * the read-on-demand design is checked rather than reported (3). */
static inline void pm_count(uint64_t *counter) {
#if defined(__SANITIZE_THREAD__)
    __atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED);
#else
    (*counter)++;
#endif
}

_Static_assert(sizeof(struct pm_bin) == 1u << PM_ENTRY_SHIFT, "bins are indexed by shift");

#pragma GCC visibility pop

#endif /* PM_TCACHE_H */
