/* Which partition a call goes to (partition.c holds the token scope).
 *
 * Typed mode reads the call's Clang allocation token; random mode, and any
 * call without a token, hashes the call site with the process's secret;
 * mode none has one partition. The choices return a pm_part_t (types.h):
 * the partition pre-shifted, ready to be or-ed with a class's offset.
 */
#ifndef PM_PARTITION_H
#define PM_PARTITION_H

#include "options.h"

#pragma GCC visibility push(hidden)

/* The typed mapping, as a pure function of the configuration, so the
 * partmalloc command (which names the types in each partition) uses the
 * very rule the library does. Under Clang's typehashpointersplit, tokens in
 * [max/2, max) are types that hold pointers, [0, max/2) the others (and the
 * fallback token 0). Pointer types go to the upper half of the partitions,
 * the rest to the lower half, each by token modulo N/2. A token at or above
 * max (a fallback chosen with -mllvm -alloc-token-fallback, which is not
 * reduced) goes to partition 0. With N = 1 everything is partition 0.
 * `token_max` is UINT64_MAX for a program built without -falloc-token-max;
 * `token_half` is token_max / 2 (a parameter so the library passes it
 * precomputed). Cost: 2 compares, a subtract and a mask (about 8,
 * branch-free with cmov). */
static inline unsigned pm_typed_partition_of(uint64_t token, uint64_t token_max, uint64_t token_half,
                                             unsigned partitions) {
    unsigned half_n = partitions >> 1;
    if (token >= token_max || half_n == 0)
        return 0;
    bool holds_pointers = token >= token_half;
    uint64_t within = holds_pointers ? token - token_half : token;
    return (holds_pointers ? half_n : 0) + (unsigned)(within & (half_n - 1));
}

/* The process's typed mapping. */
static inline unsigned pm_typed_partition(uint64_t token) {
    return pm_typed_partition_of(token, pm_g.token_max, pm_g.token_half, pm_g.partitions);
}

/* Partition from the call site: a keyed hash of the return address, as the
 * kernel hashes caller ^ seed. One multiply spreads evenly spaced call sites
 * badly for some keys (their partitions bunch in waves), so the product is
 * mixed once more: xor-shift, multiply, top bits. Cost: xor, imul, mov, shr,
 * xor, imul, shr, and (8). For mode none and N = 1 the mask is 0. */
static inline pm_part_t pm_site_part(const void *return_address) {
    uint64_t h = ((uint64_t)(uintptr_t)return_address ^ pm_g.secret) * pm_g.secret_mul;
    h ^= h >> 32;
    h *= pm_g.secret_mul;
    pm_part_t p = {(size_t)(h >> (64 - 6 - PM_PART_SHIFT)) & pm_g.part_mask};
    return p;
}

/* The partition of a call that carries a token. Cost: the mode test (2). */
static inline pm_part_t pm_token_part(uint64_t token, const void *return_address) {
    if (PM_LIKELY(pm_g.mode == PM_MODE_TYPED))
        return pm_part_of_index(pm_typed_partition(token));
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
/* The recorded call's partition; ends the scope's hold on the next call. */
pm_part_t pm_token_part_overridden(void);

/* The partition of a token entry point's call. Cost over pm_token_part: a
 * TLS load and test (2). */
static inline pm_part_t pm_token_part_at(uint64_t token, const void *return_address) {
    if (PM_UNLIKELY(pm_override.pending))
        return pm_token_part_overridden();
    return pm_token_part(token, return_address);
}

#pragma GCC visibility pop

#endif /* PM_PARTITION_H */
