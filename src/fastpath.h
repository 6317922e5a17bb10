/* The allocation and free fast paths, inlined into every front end.
 *
 * Read these as closely as a proof: every instruction here runs on each
 * malloc or free. Costs are x86-64 instructions as gcc -O2 emits them.
 */
#ifndef PM_FASTPATH_H
#define PM_FASTPATH_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* Partition choices below return the partition pre-shifted into cache-id
 * position (partition << PM_CLASS_BITS), so the cache id is one `or`. */

/* Partition from the call site: a keyed multiplicative hash of the return
 * address, the kernel's hash_64(caller ^ seed) with a secret multiplier; its
 * top bits are the partition. Cost: xor, imul, shr, and (4). For mode none
 * and N = 1 the mask is 0. */
static inline size_t pm_site_part(const void *return_address) {
    uint64_t h = ((uint64_t)(uintptr_t)return_address ^ pm_g.secret) * pm_g.secret_mul;
    return (size_t)(h >> (64 - 6 - PM_CLASS_BITS)) & pm_g.part_mask;
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
        return (size_t)pm_typed_partition(token) << PM_CLASS_BITS;
    return pm_site_part(return_address); /* random; in mode none the mask is 0 */
}

/* Cache id of (class, pre-shifted partition). Cost: or (1). */
static inline size_t pm_cache_id(unsigned size_class, size_t part) {
    return part | size_class;
}

/* Pops a cached object of cache `cid`.
 * Cost: TLS load, bin address (2), two loads and a compare for "bin empty"
 * (3, taken only when the bin must be refilled), pop (2), mark the slot live
 * through the state pointer kept beside it (2), return the pointer (1).
 * Before the first allocation, and in a thread without a cache, pm_tc points
 * at an all-empty cache, so no NULL test is needed here. */
static inline void *pm_alloc_cid(size_t cid) {
    struct pm_bin *bin = &pm_tc->bins[cid];
    struct pm_entry *top = bin->top;
    if (PM_UNLIKELY(top == bin->base))
        return pm_tcache_alloc_slow(cid);
    top--;
    bin->top = top;
    *top->state = PM_SLOT_LIVE;
    return top->ptr;
}

/* Sizes above 1 KiB: the class by formula, or a large mapping. */
void *pm_alloc_medium(size_t size, size_t part);

/* Cost on top of pm_alloc_cid: the size compare (2), the table lookup (3),
 * the cache id (2). Sizes above 1 KiB leave by a tail call, so this path
 * needs no stack frame. */
static inline void *pm_alloc_inline(size_t size, size_t part) {
    if (PM_UNLIKELY(size > PM_SMALL_LOOKUP_MAX))
        return pm_alloc_medium(size, part);
    return pm_alloc_cid(pm_cache_id(pm_class_of_small[(size + 7) >> 3], part));
}

/* Where a pointer would sit if it were a slab object. */
struct pm_slot_ref {
    size_t cid;
    uint64_t idx;     /* slot number within the cache's region */
    uint8_t *state;
};

/* Offset -> slot by multiply-high with ceil(2^64 / size): exact for every
 * offset below 2^49 and size below 2^15 (tests/unit/test_sizeclass.c
 * checks every class over a whole slab). */
static inline uint64_t pm_slot_of(uint64_t offset, uint64_t magic) {
    return (uint64_t)(((unsigned __int128)offset * magic) >> 64);
}

/* Reports a free (or `op`) of a slot that is not a live object's start. */
PM_COLD __attribute__((noreturn)) void pm_bad_slot(const void *ptr, size_t cid, const uint8_t *state, int interior,
                                                   const char *op);
PM_COLD void pm_free_outside(void *ptr);

/* Free fast path.
 * Cost: region offset and bound check (3; NULL, large and foreign pointers
 * leave here), cache id and offset in region (3), hot cache fields (2),
 * slot by multiply-high (2), "is the start of a slot" (3), state load and
 * "is live" (3), mark cached (1), bin full check (4), push (4). */
static inline void pm_free_inline(void *ptr) {
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)pm_region.base;
    if (PM_UNLIKELY(off >= pm_region.total)) {
        pm_free_outside(ptr);
        return;
    }
    size_t cid = off >> pm_region.shift;
    uint64_t soff = off & pm_region.mask;
    const struct pm_cache_hot *hot = &pm_hot[cid];
    uint64_t idx = pm_slot_of(soff, hot->magic);
    uint8_t *state = hot->state + idx;
    if (PM_UNLIKELY(idx * hot->obj_size != soff || *state != PM_SLOT_LIVE))
        pm_bad_slot(ptr, cid, state, idx * hot->obj_size != soff, "free");
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
