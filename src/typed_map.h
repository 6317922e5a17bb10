/* The typed mapping: which partition a Clang allocation token goes to, as
 * pure functions of the configuration (no globals), so that the library
 * (partition.h), its statistics renderer and the partmalloc command (which
 * names the types in each partition) share the one rule.
 */
#ifndef PM_TYPED_MAP_H
#define PM_TYPED_MAP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "partmalloc.h"

/* Under Clang's typehashpointersplit, tokens in [max/2, max) are types that
 * hold pointers, [0, max/2) the others. `token_max` is UINT64_MAX for a
 * program built without -falloc-token-max; `token_half` is token_max / 2
 * (parameters so the library passes them precomputed).
 *
 * Three groups of partitions, for N = 4, 8, ... (q = N/4):
 *   [0, q)    unknown: a token that names no type, and calls without one
 *             in a program built with tokens; the call site chooses within
 *   [q, 2q)   known types without pointers, by token modulo q
 *   [2q, N)   known types with pointers, by token modulo 2q
 * For N = 2 the unknowns join the types with pointers in partition 0 and
 * the types without pointers have partition 1 to themselves: nothing that
 * may hold a pointer shares memory with a known pointer-free type. For N = 1
 * everything is partition 0. The unknown group sits at 0 so that a call
 * site's hash needs only a mask to land in it (pm_site_part).
 *
 * A token is unknown when it is 0 (Clang's fallback, given to a call it
 * infers no type for), at or above the max (a fallback chosen with -mllvm
 * -alloc-token-fallback, which is not reduced), or `void`'s (a call cast to
 * `void *`). With a small -falloc-token-max, known pointer-free types whose
 * token is 0 or void's join the unknowns: they cannot be told apart.
 */
#define PM_TOKEN_UNKNOWN_PART UINT_MAX
/* SipHash-2-4 of "void" under Clang's fixed key; void's token is this
 * modulo token_half (tests/integration/test_typeinfo.c checks it against
 * the command's hash and clang's own token). */
#define PM_VOID_TYPE_HASH 0xca2f84459ea703e5ull

static inline uint64_t pm_void_token(uint64_t token_half) {
    return token_half ? PM_VOID_TYPE_HASH % token_half : 0;
}

/* SipHash-2-4 of "char" under the same key: the token Clang gives
 * `char *s = malloc(n)`, which the library gives the strings strdup and
 * strndup return (malloc.c), as this modulo token_half. */
#define PM_CHAR_TYPE_HASH 0x955b0f53adbe3fccull

static inline uint64_t pm_char_token(uint64_t token_half) {
    return token_half ? PM_CHAR_TYPE_HASH % token_half : 0;
}

/* Whether `token` names no type. Cost: lea, cmp, cmp (3), branch-free with
 * setcc/or; 0 and tokens at or above the max in one unsigned compare. */
static inline bool pm_token_is_unknown(uint64_t token, uint64_t token_max, uint64_t void_token) {
    return token - 1 >= token_max - 1 || token == void_token;
}

/* The partition of a known token, or PM_TOKEN_UNKNOWN_PART for an unknown
 * one when N >= 4 (the caller picks by call site in [0, N/4)). Cost: the
 * unknown test (3), 2 compares, a subtract, a mask and an add (about 10,
 * branch-free with cmov but for the unknown branch). */
static inline unsigned pm_typed_partition_of(uint64_t token, uint64_t token_max, uint64_t token_half,
                                             uint64_t void_token, unsigned partitions) {
    unsigned quarter = partitions >> 2;
    bool holds_pointers = token >= token_half;
    if (pm_token_is_unknown(token, token_max, void_token))
        return quarter ? PM_TOKEN_UNKNOWN_PART : 0;
    if (partitions < 4) /* 1: all in 0; 2: pointers 0, the rest 1 */
        return partitions == 2 && !holds_pointers ? 1 : 0;
    if (holds_pointers)
        return 2 * quarter + (unsigned)((token - token_half) & (2 * quarter - 1));
    return quarter + (unsigned)(token & (quarter - 1));
}

/* The partitions of each group, for N partitions in typed mode (see
 * above): for N = 2 the unknown group is partition 0, shared with the types
 * that hold pointers; for N = 1 every group is partition 0. */
static inline struct pm_group_range pm_group_range_of(enum pm_group group, unsigned partitions) {
    unsigned q = partitions >> 2;
    struct pm_group_range r = {0, 1};
    if (q) {
        r.first = group == PM_GROUP_UNKNOWN ? 0 : group == PM_GROUP_NO_POINTERS ? q : 2 * q;
        r.count = group == PM_GROUP_POINTERS ? 2 * q : q;
    } else if (partitions == 2 && group == PM_GROUP_NO_POINTERS) {
        r.first = 1;
    }
    return r;
}

/* The group a partition belongs to (for N = 2, partition 0 is both the
 * pointers' and the unknowns': PM_GROUP_POINTERS). */
static inline enum pm_group pm_group_of_partition(unsigned partition, unsigned partitions) {
    unsigned q = partitions >> 2;
    if (!q)
        return partitions == 2 && partition == 1 ? PM_GROUP_NO_POINTERS : PM_GROUP_POINTERS;
    return partition < q ? PM_GROUP_UNKNOWN : partition < 2 * q ? PM_GROUP_NO_POINTERS : PM_GROUP_POINTERS;
}

#endif /* PM_TYPED_MAP_H */
