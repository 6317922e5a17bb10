/* The allocation and free fast paths, inlined into every front end.
 *
 * Read these as closely as a proof: every instruction here runs on each
 * malloc or free. Costs are x86-64 instructions as gcc -O2 emits them.
 */
#ifndef PM_FASTPATH_H
#define PM_FASTPATH_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* Partition choices below return the partition as an entry offset,
 * partition << PM_PART_SHIFT ("part_off"): or-ed with the class's offset it
 * indexes the thread-cache bins directly. */

/* Partition from the call site: a keyed hash of the return address, as the
 * kernel hashes caller ^ seed. One multiply spreads evenly spaced call sites
 * badly for some keys (their partitions bunch in waves), so the product is
 * mixed once more: xor-shift, multiply, top bits. Cost: xor, imul, mov, shr,
 * xor, imul, shr, and (8). For mode none and N = 1 the mask is 0. */
static inline size_t pm_site_part(const void *return_address) {
    uint64_t h = ((uint64_t)(uintptr_t)return_address ^ pm_g.secret) * pm_g.secret_mul;
    h ^= h >> 32;
    h *= pm_g.secret_mul;
    return (size_t)(h >> (64 - 6 - PM_PART_SHIFT)) & pm_g.part_mask;
}

/* Typed mode under Clang's typehashpointersplit: tokens in [max/2, max) are
 * types that hold pointers, [0, max/2) the others (and the fallback token 0).
 * Pointer types go to the upper half of the partitions, the rest to the
 * lower half, each by token modulo N/2. A token at or above max (a fallback
 * chosen with -mllvm -alloc-token-fallback, which is not reduced) goes to
 * partition 0. With N = 1 everything is partition 0.
 * Cost: 2 compares, a subtract and a mask (about 8, branch-free with cmov). */
static inline unsigned pm_typed_partition(uint64_t token) {
    unsigned half_n = pm_g.partitions >> 1;
    if (token >= pm_g.token_max || half_n == 0)
        return 0;
    bool holds_pointers = token >= pm_g.token_half;
    uint64_t within = holds_pointers ? token - pm_g.token_half : token;
    return (holds_pointers ? half_n : 0) + (unsigned)(within & (half_n - 1));
}

/* The partition of a call that carries a token. Cost: the mode test (2). */
static inline size_t pm_token_part(uint64_t token, const void *return_address) {
    if (PM_LIKELY(pm_g.mode == PM_MODE_TYPED))
        return (size_t)pm_typed_partition(token) << PM_PART_SHIFT;
    return pm_site_part(return_address); /* random; in mode none the mask is 0 */
}

/* A token and call site recorded by pm_token_scope_begin (a program's
 * allocation wrapper, see <partmalloc/slab.h>) for the next allocation that
 * carries a token. */
struct pm_token_override {
    size_t token;
    const void *site;
    bool pending;
};
extern __thread struct pm_token_override pm_override __attribute__((tls_model("initial-exec")));
size_t pm_token_part_overridden(void);

/* The partition of a token entry point's call. Cost over pm_token_part: a
 * TLS load and test (2). */
static inline size_t pm_token_part_at(uint64_t token, const void *return_address) {
    if (PM_UNLIKELY(pm_override.pending))
        return pm_token_part_overridden();
    return pm_token_part(token, return_address);
}

/* Token statistics, compiled in only for the counting build
 * (build/stats/libpartmalloc.so, `make stats-lib`): how many allocations
 * carried a type token, a fallback token, or none, and the census of which
 * token went to which partition. `site` is the call's return address. */
#ifdef PM_TOKEN_STATS
void pm_stat_plain(const void *site);
void pm_stat_token(uint64_t token, const void *site);
#define PM_STAT_PLAIN(site) pm_stat_plain(site)
#define PM_STAT_TOKEN(t, site) pm_stat_token((t), (site))
#else
#define PM_STAT_PLAIN(site) ((void)0)
#define PM_STAT_TOKEN(t, site) ((void)0)
#endif

/* Cache id of (class, partition offset). */
static inline size_t pm_cache_id(unsigned size_class, size_t part_off) {
    return (part_off >> PM_ENTRY_SHIFT) | size_class;
}

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
    *top->state = PM_SLOT_LIVE;
    return top->ptr;
}

/* `size`: the size asked for (the strict defences need it; the cache's
 * objects may be larger). */
static inline void *pm_alloc_cid(size_t cid, size_t size) {
    return pm_alloc_off(cid << PM_ENTRY_SHIFT, size);
}

/* Sizes above 1 KiB: the class by formula, or a large mapping. */
void *pm_alloc_medium(size_t size, size_t part_off);

/* Cost on top of pm_alloc_off: the size compare (2), the table lookup (2),
 * the bin offset (1). Sizes above 1 KiB leave by a tail call, so this path
 * needs no stack frame. */
static inline void *pm_alloc_inline(size_t size, size_t part_off) {
    if (PM_UNLIKELY(size > PM_SMALL_LOOKUP_MAX))
        return pm_alloc_medium(size, part_off);
    return pm_alloc_off(part_off | pm_class_off_small[size], size);
}

/* Where a pointer would sit if it were a slab object. */
struct pm_slot_ref {
    size_t cid;
    uint64_t idx;     /* slot number within the cache's region */
    uint8_t *state;
};

/* Offset -> slot by one multiply with m = ceil(2^64 / size). With
 * offset = q * size + r, offset * m = q * 2^64 + q * e + r * m, where
 * e = m * size - 2^64 < size. For offsets below 2^49 and sizes up to 2^15:
 * the high half is q exactly, and the low half is q * e < 2^49 when r = 0
 * but at least m >= 2^49 when r > 0 — so "low half below 2^49" says the
 * offset is the start of a slot. tests/unit/test_sizeclass.c checks both. */
struct pm_slot_div {
    uint64_t slot;
    bool is_start;
};

static inline struct pm_slot_div pm_slot_div(uint64_t offset, uint64_t magic) {
    uint64_t high, low;
#if defined(__x86_64__)
    /* One mulq; written out because gcc 12 copies the __int128 halves around. */
    __asm__("mulq %3" : "=a"(low), "=d"(high) : "a"(offset), "rm"(magic) : "cc");
#else
    unsigned __int128 product = (unsigned __int128)offset * magic;
    high = (uint64_t)(product >> 64);
    low = (uint64_t)product;
#endif
    struct pm_slot_div d = {high, (low >> 49) == 0};
    return d;
}

static inline uint64_t pm_slot_of(uint64_t offset, uint64_t magic) {
    return pm_slot_div(offset, magic).slot;
}

/* Reports a free (or `op`) of a slot that is not a live object's start. */
PM_COLD __attribute__((noreturn)) void pm_bad_slot(const void *ptr, size_t cid, const uint8_t *state, int interior,
                                                   const char *op);
PM_COLD void pm_free_outside(void *ptr);

/* Free fast path.
 * Cost: region offset and bound check (3; NULL, large and foreign pointers
 * leave here), cache id and offset in region (4), hot cache fields (3),
 * slot by multiply (2), "is the start of a slot" (2), state load and
 * "is live" (3), mark cached (1), bin full check (5), push (4). */
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
    uint8_t *state = hot->state + slot.slot;
    if (PM_UNLIKELY(!slot.is_start || *state != PM_SLOT_LIVE))
        pm_bad_slot(ptr, cid, state, !slot.is_start, "free");
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

#pragma GCC visibility pop

#endif /* PM_FASTPATH_H */
