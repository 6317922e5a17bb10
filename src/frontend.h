/* The C allocation family's rules (errno, EINVAL, overflow), shared by every
 * front end: the pm_* API, the malloc names, and the allocation-token ABI.
 * Each front end only says which partition a call goes to. */
#ifndef PM_FRONTEND_H
#define PM_FRONTEND_H

#include <errno.h>

#include "alloc.h"
#include "partition.h"
#include "token_stats.h"

#pragma GCC visibility push(hidden)

static inline bool pm_is_pow2(size_t v) {
    return v && (v & (v - 1)) == 0;
}

static inline void *fe_malloc(size_t size, pm_part_t part) {
    return pm_alloc_inline(size, part);
}

static inline void *fe_calloc(size_t n, size_t size, pm_part_t part) {
    return pm_alloc_zeroed(n, size, part);
}

static inline void *fe_realloc(void *ptr, size_t size, pm_part_t part) {
    return pm_realloc_part(ptr, size, part, false);
}

static inline void *fe_reallocarray(void *ptr, size_t n, size_t size, pm_part_t part) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return pm_realloc_part(ptr, total, part, false);
}

/* realloc with a token: in typed mode the new type decides the partition. */
static inline void *fe_realloc_token(void *ptr, size_t size, size_t token, const void *return_address) {
    PM_STAT_TOKEN(token, return_address);
    return pm_realloc_part(ptr, size, pm_token_part_at(token, return_address), pm_g.mode == PM_MODE_TYPED);
}

static inline void *fe_reallocarray_token(void *ptr, size_t n, size_t size, size_t token,
                                          const void *return_address) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return fe_realloc_token(ptr, total, token, return_address);
}

/* C17: an alignment the implementation does not support gives NULL; here
 * that is any non-power of two (EINVAL, as glibc 2.38 and later). */
static inline void *fe_aligned_alloc(size_t alignment, size_t size, pm_part_t part) {
    if (!pm_is_pow2(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return pm_alloc_aligned(alignment, size, part);
}

/* POSIX: EINVAL unless a power of two multiple of sizeof(void *); errno and
 * *out are left alone on failure. */
static inline int fe_posix_memalign(void **out, size_t alignment, size_t size, pm_part_t part) {
    if (!pm_is_pow2(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = pm_alloc_aligned(alignment, size, part);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

/* glibc's memalign: a non-power-of-two alignment is rounded up; one above
 * half the address space is EINVAL. */
static inline void *fe_memalign(size_t alignment, size_t size, pm_part_t part) {
    if (alignment > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!pm_is_pow2(alignment)) {
        size_t a = 1;
        while (a < alignment)
            a <<= 1;
        alignment = a;
    }
    return pm_alloc_aligned(alignment ? alignment : 1, size, part);
}

static inline void *fe_valloc(size_t size, pm_part_t part) {
    return pm_alloc_aligned(PM_PAGE, size, part);
}

/* Page aligned, size rounded up to whole pages (one page for 0). */
static inline void *fe_pvalloc(size_t size, pm_part_t part) {
    if (size > SIZE_MAX - PM_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = size ? (size + PM_PAGE - 1) & ~(size_t)(PM_PAGE - 1) : PM_PAGE;
    return pm_alloc_aligned(PM_PAGE, rounded, part);
}

#pragma GCC visibility pop

#endif /* PM_FRONTEND_H */
