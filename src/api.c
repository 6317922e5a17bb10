/* The library's own API, pm_*: always exported, also in builds that leave
 * the C allocator alone. */
#include "frontend.h"

#define SITE pm_site_part(PM_CALLER())

PM_EXPORT void *pm_malloc(size_t size) { return fe_malloc(size, SITE); }
PM_EXPORT void *pm_calloc(size_t n, size_t size) { return fe_calloc(n, size, SITE); }
PM_EXPORT void *pm_realloc(void *ptr, size_t size) { return fe_realloc(ptr, size, SITE); }
PM_EXPORT void *pm_aligned_alloc(size_t alignment, size_t size) { return fe_aligned_alloc(alignment, size, SITE); }
PM_EXPORT int pm_posix_memalign(void **out, size_t alignment, size_t size) {
    return fe_posix_memalign(out, alignment, size, SITE);
}
PM_EXPORT void pm_free(void *ptr) { pm_free_inline(ptr); }
PM_EXPORT void pm_free_sized(void *ptr, size_t size) { pm_dealloc_checked(ptr, size, 0); }
PM_EXPORT void pm_free_aligned_sized(void *ptr, size_t alignment, size_t size) {
    pm_dealloc_checked(ptr, size, alignment ? alignment : 1);
}
PM_EXPORT size_t pm_usable_size(const void *ptr) { return pm_usable(ptr, "pm_usable_size"); }

#define TOKEN(t) pm_token_part_at((t), PM_CALLER())

PM_EXPORT void *pm_malloc_token(size_t size, size_t token) { return fe_malloc(size, TOKEN(token)); }
PM_EXPORT void *pm_calloc_token(size_t n, size_t size, size_t token) { return fe_calloc(n, size, TOKEN(token)); }
PM_EXPORT void *pm_realloc_token(void *ptr, size_t size, size_t token) {
    return fe_realloc_token(ptr, size, token, PM_CALLER());
}
PM_EXPORT void *pm_aligned_alloc_token(size_t alignment, size_t size, size_t token) {
    return fe_aligned_alloc(alignment, size, TOKEN(token));
}

/* For the C++ operators in new.cc. */
#include "cxx_bridge.h"

void *pm_cxx_alloc(size_t size, size_t alignment, size_t part) {
    if (alignment == 0)
        return pm_alloc_inline(size, part);
    if (!pm_is_pow2(alignment))
        return NULL;
    return pm_alloc_aligned(alignment, size, part);
}

size_t pm_cxx_site_part(const void *return_address) {
    PM_STAT_PLAIN(return_address);
    return pm_site_part(return_address);
}
size_t pm_cxx_token_part(size_t token, const void *return_address) {
    PM_STAT_TOKEN(token, return_address);
    return pm_token_part_at(token, return_address);
}
