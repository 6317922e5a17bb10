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
#include "typed_map.h"

#pragma GCC visibility push(hidden)

/* Partition from the call site: a keyed hash of the return address, as the
 * kernel hashes caller ^ seed. One multiply spreads evenly spaced call sites
 * badly for some keys (their partitions bunch in waves), so the product is
 * mixed once more: xor-shift, multiply, top bits. `mask` says how many
 * partitions the site may choose among, from 0. Cost: xor, imul, mov, shr,
 * xor, imul, shr, and (8). */
static inline pm_part_t pm_site_part_in(const void *return_address, uint64_t mask) {
    uint64_t h = ((uint64_t)(uintptr_t)return_address ^ pm_g.secret) * pm_g.secret_mul;
    h ^= h >> 32;
    h *= pm_g.secret_mul;
    pm_part_t p = {(size_t)(h >> (64 - 6 - PM_PART_SHIFT)) & mask};
    return p;
}

/* pm_g.site_mask, which pm_unknown_token_part may flip once while other
 * threads read it: an aligned word, so a plain load sees the old mask or the
 * new one, and folds into the `and` (0 extra instructions); under TSan a
 * relaxed atomic load, so the one benign race is checked, not reported. */
static inline uint64_t pm_site_mask(void) {
#if defined(__SANITIZE_THREAD__)
    return __atomic_load_n(&pm_g.site_mask, __ATOMIC_RELAXED);
#else
    return pm_g.site_mask;
#endif
}

/* The partition of a call without a token (plain malloc, an uninstrumented
 * library's call): all N partitions in random mode and in typed mode for a
 * program built without tokens, the unknown group in typed mode for a
 * program built with them, 0 in mode none. The mask is pm_g.site_mask, so
 * this costs what pm_site_part_in does. */
static inline pm_part_t pm_site_part(const void *return_address) {
    return pm_site_part_in(return_address, pm_site_mask());
}

/* Whether calls without a token go to the unknown group (typed mode, a
 * program built with tokens, N >= 2). */
static inline bool pm_plain_calls_unknown(void) {
    return pm_g.mode == PM_MODE_TYPED && pm_g.partitions >= 2 && pm_site_mask() == pm_g.unknown_mask;
}

/* A token that names no type, in typed mode: the unknown group. Also
 * proof that the program carries tokens, if start-up missed it (a module
 * loaded later): calls without a token join the unknown group from now on. */
pm_part_t pm_unknown_token_part(const void *return_address);

/* The process's typed mapping, for a known token; PM_TOKEN_UNKNOWN_PART
 * otherwise (N >= 4). */
static inline unsigned pm_typed_partition(uint64_t token) {
    return pm_typed_partition_of(token, pm_g.token_max, pm_g.token_half, pm_g.void_token, pm_g.partitions);
}

/* The partition of a call that carries a token. Cost: the mode test (2)
 * and the typed mapping. */
static inline pm_part_t pm_token_part(uint64_t token, const void *return_address) {
    if (PM_LIKELY(pm_g.mode == PM_MODE_TYPED)) {
        unsigned index = pm_typed_partition(token);
        if (PM_UNLIKELY(index == PM_TOKEN_UNKNOWN_PART))
            return pm_unknown_token_part(return_address);
        return pm_part_of_index(index);
    }
    return pm_site_part_in(return_address, pm_g.part_mask); /* random; in mode none the mask is 0 */
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
