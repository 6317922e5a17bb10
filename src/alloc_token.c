/* Clang's allocation-token ABI (-fsanitize=alloc-token).
 *
 * Default ABI: the compiler rewrites malloc(n) into __alloc_token_malloc(n,
 * token), and likewise for the rest of the family. Fast ABI
 * (-fsanitize-alloc-token-fast-abi): the token is in the name,
 * __alloc_token_<T>_malloc(n); defined here for every T below
 * PM_FAST_TOKENS, which covers programs built with -falloc-token-max up to
 * that. The token picks the partition in typed mode (partition.h says how);
 * in random mode the call site does, as for plain malloc.
 *
 * This file must never itself be compiled with -fsanitize=alloc-token.
 */
#include "frontend.h"
#include "pm_fast_tokens.h"

#define PART(t) (PM_STAT_TOKEN((t), PM_CALLER()), pm_token_part_at((t), PM_CALLER()))

PM_EXPORT void *__alloc_token_malloc(size_t size, size_t t) { return fe_malloc(size, PART(t)); }
PM_EXPORT void *__alloc_token_calloc(size_t n, size_t size, size_t t) { return fe_calloc(n, size, PART(t)); }
PM_EXPORT void *__alloc_token_realloc(void *p, size_t size, size_t t) {
    return fe_realloc_token(p, size, t, PM_CALLER());
}
PM_EXPORT void *__alloc_token_reallocarray(void *p, size_t n, size_t size, size_t t) {
    return fe_reallocarray_token(p, n, size, t, PM_CALLER());
}
PM_EXPORT void *__alloc_token_aligned_alloc(size_t a, size_t size, size_t t) {
    return fe_aligned_alloc(a, size, PART(t));
}
PM_EXPORT int __alloc_token_posix_memalign(void **out, size_t a, size_t size, size_t t) {
    return fe_posix_memalign(out, a, size, PART(t));
}
PM_EXPORT void *__alloc_token_memalign(size_t a, size_t size, size_t t) { return fe_memalign(a, size, PART(t)); }
PM_EXPORT void *__alloc_token_valloc(size_t size, size_t t) { return fe_valloc(size, PART(t)); }
PM_EXPORT void *__alloc_token_pvalloc(size_t size, size_t t) { return fe_pvalloc(size, PART(t)); }

#define FAST_ABI(T)                                                                                \
    PM_EXPORT void *__alloc_token_##T##_malloc(size_t size) { return fe_malloc(size, PART(T)); }  \
    PM_EXPORT void *__alloc_token_##T##_calloc(size_t n, size_t size) { return fe_calloc(n, size, PART(T)); } \
    PM_EXPORT void *__alloc_token_##T##_realloc(void *p, size_t size) {                            \
        return fe_realloc_token(p, size, T, PM_CALLER());                                          \
    }                                                                                              \
    PM_EXPORT void *__alloc_token_##T##_reallocarray(void *p, size_t n, size_t size) {                   \
        return fe_reallocarray_token(p, n, size, T, PM_CALLER());                                  \
    }                                                                                              \
    PM_EXPORT void *__alloc_token_##T##_aligned_alloc(size_t a, size_t size) {                     \
        return fe_aligned_alloc(a, size, PART(T));                                                 \
    }                                                                                              \
    PM_EXPORT int __alloc_token_##T##_posix_memalign(void **out, size_t a, size_t size) {          \
        return fe_posix_memalign(out, a, size, PART(T));                                           \
    }                                                                                              \
    PM_EXPORT void *__alloc_token_##T##_memalign(size_t a, size_t size) { return fe_memalign(a, size, PART(T)); } \
    PM_EXPORT void *__alloc_token_##T##_valloc(size_t size) { return fe_valloc(size, PART(T)); }   \
    PM_EXPORT void *__alloc_token_##T##_pvalloc(size_t size) { return fe_pvalloc(size, PART(T)); }

PM_FOR_EACH_FAST_TOKEN(FAST_ABI)
