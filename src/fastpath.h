/* The allocation and free fast paths, inlined into every front end.
 *
 * Read these as closely as a proof: every instruction here runs on each
 * malloc or free. Costs are x86-64 instructions as gcc -O2 emits them.
 *
 * The overall shape: a front end (malloc.c, alloc_token.c, api.c, kapi.c,
 * new.cc) picks a partition (partition.h) and calls pm_alloc_inline or
 * pm_free_inline below. Every way out of them, and where it goes:
 *
 *   allocation
 *     size > 1 KiB                 pm_alloc_medium (alloc.c): the class by
 *                                  formula, or above 32 KiB pm_large_alloc
 *                                  (large.c: a mapping of its own)
 *     bin empty                    pm_tcache_alloc_slow (tcache.c): first
 *                                  use starts the library (init.c) and
 *                                  makes the thread's cache; a refill takes
 *                                  slots from the cache's slabs
 *                                  (pm_cache_refill, slab.c), which may
 *                                  carve a new slab and commit its pages
 *                                  (os.c); with the strict defences
 *                                  everything goes to pm_strict_alloc
 *                                  (harden.c) instead
 *   free
 *     outside the primary regions  pm_free_outside (alloc.c): NULL, an
 *                                  object in a region its cache took when
 *                                  the first was full (slab.c), a malloc(0)
 *                                  pointer (harden.c), a large block
 *                                  (large.c), or not ours (abort)
 *     not a live object's start    pm_bad_slot (alloc.c): the one-line
 *                                  report of a double or invalid free
 *     bin full                     pm_tcache_free_slow (tcache.c): half the
 *                                  bin goes back to its slabs
 *                                  (pm_cache_flush, slab.c), where an empty
 *                                  slab's pages may go back to the OS; or
 *                                  pm_strict_free (harden.c)
 * Everything else (realloc, aligned and zeroed allocations, sized frees,
 * usable size) is alloc.c over these same paths.
 */
#ifndef PM_FASTPATH_H
#define PM_FASTPATH_H

#include "sizeclass.h"
#include "slot.h"
#include "tcache.h"
#include "token_stats.h"

#pragma GCC visibility push(hidden)

/* ---- the exits (alloc.c) ---- */

/* Sizes above 1 KiB: the class by formula, or a large mapping. */
void *pm_alloc_medium(size_t size, pm_part_t part);
/* Reports a free (or `op`) of a slot that is not a live object's start. */
PM_COLD __attribute__((noreturn)) void pm_bad_slot(const void *ptr, size_t cid, const uint8_t *state, int interior,
                                                   const char *op);
/* Frees a pointer outside the primary slab regions. */
PM_COLD void pm_free_outside(void *ptr);

/* ---- allocation ---- */

/* Pops a cached object of the cache whose bin is at `entry_off`.
 * Cost: TLS load, bin address (2), two loads and a compare for "bin empty"
 * (3, taken only when the bin must be refilled), pop (2), mark the slot live
 * through the state pointer kept beside it (2), count the allocation in the
 * bin's own counter (1: an add to the cache line just read; statistics merge
 * the threads' counters on read, and frees follow as allocs - live, so free
 * counts nothing), return the pointer (1).
 * Before the first allocation, and in a thread without a cache, pm_tc points
 * at an all-empty cache, so no NULL test is needed here. */
static inline void *pm_alloc_off(size_t entry_off, size_t size) {
    struct pm_bin *bin = (struct pm_bin *)((char *)pm_tc->bins + entry_off);
    struct pm_entry *top = bin->top;
    if (PM_UNLIKELY(top == bin->base))
        return pm_tcache_alloc_slow(entry_off >> PM_ENTRY_SHIFT, size);
    top--;
    bin->top = top;
    pm_count(&bin->allocs);
    PM_STAT_SLOT(entry_off >> PM_ENTRY_SHIFT); /* the counting build's census; nothing otherwise */
    *top->state = PM_SLOT_LIVE;
    return top->ptr;
}

/* `size`: the size asked for (the strict defences need it; the cache's
 * objects may be larger). */
static inline void *pm_alloc_cid(size_t cid, size_t size) {
    return pm_alloc_off(cid << PM_ENTRY_SHIFT, size);
}

/* Cost on top of pm_alloc_off: the size compare (2), the table lookup (2),
 * the bin offset (1). Sizes above 1 KiB leave by a tail call, so this path
 * needs no stack frame. */
static inline void *pm_alloc_inline(size_t size, pm_part_t part) {
    if (PM_UNLIKELY(size > PM_SMALL_LOOKUP_MAX))
        return pm_alloc_medium(size, part);
    return pm_alloc_off(part.off | pm_class_off_small[size], size);
}

/* ---- free ---- */

/* Frees the slot of cache `cid` whose state byte is `state`: the checks and
 * the thread cache, for the fast path below and for regions a cache took
 * past its primary one (pm_free_outside). */
static inline void pm_free_slot(void *ptr, size_t cid, uint8_t *state, bool is_start) {
    if (PM_UNLIKELY(!is_start || *state != PM_SLOT_LIVE))
        pm_bad_slot(ptr, cid, state, !is_start, "free");
    *state = PM_SLOT_CACHED;
    struct pm_bin *bin = &pm_tc->bins[cid];
    struct pm_entry *top = bin->top;
    if (PM_UNLIKELY(top == bin->end)) {
        pm_tcache_free_slow(cid, ptr, state);
        return;
    }
    top->ptr = ptr;
    top->state = state;
    bin->top = top + 1;
}

/* Free fast path.
 * Cost: region offset and bound check (3; NULL, large and foreign pointers,
 * and objects in regions taken past the primary ones, leave here), cache id
 * and offset in region (4), hot cache fields (3), slot by multiply (2),
 * then pm_free_slot: "is the start of a slot" (2), state load and "is live"
 * (3), mark cached (1), bin full check (5), push (4). */
static inline void pm_free_inline(void *ptr) {
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)pm_region.base;
    if (PM_UNLIKELY(off >= pm_region.total)) {
        pm_free_outside(ptr);
        return;
    }
    size_t cid = off >> pm_region.shift;
    uint64_t soff = off & pm_region.mask;
    const struct pm_cache_hot *hot = &pm_hot[cid];
    struct pm_slot_div slot = pm_slot_div(soff, hot->magic);
    pm_free_slot(ptr, cid, hot->state + slot.slot, slot.is_start);
}

#pragma GCC visibility pop

#endif /* PM_FASTPATH_H */
