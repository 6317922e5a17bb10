/* The library's own API (include/partmalloc.h): the pm_* allocation calls,
 * always exported, also where the C allocator's names are not taken (the
 * sanitizer builds of the tests), the introspection calls, and
 * malloc_object_size for fortified string functions. */
#define _GNU_SOURCE
#include <string.h>

#include "frontend.h"
#include "harden.h"
#include "init.h"
#include "large.h"

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

/* ---- introspection ---- */

/* The header's string, compiled into the library. */
PM_EXPORT const char *pm_version(void) { return PARTMALLOC_VERSION; }

PM_EXPORT unsigned pm_token_partition(size_t token) {
    pm_ensure_init();
    if (pm_g.mode != PM_MODE_TYPED)
        return 0;
    unsigned index = pm_typed_partition(token);
    return index == PM_TOKEN_UNKNOWN_PART ? 0 : index;
}

PM_EXPORT enum pm_group pm_token_group(size_t token) {
    pm_ensure_init();
    if (pm_token_is_unknown(token, pm_g.token_max, pm_g.void_token))
        return PM_GROUP_UNKNOWN;
    return token >= pm_g.token_half ? PM_GROUP_POINTERS : PM_GROUP_NO_POINTERS;
}

int pm_ptr_info(const void *ptr, struct pm_ptr_info *info) {
    memset(info, 0, sizeof *info);
    if (!ptr || !__atomic_load_n(&pm_initialized, __ATOMIC_ACQUIRE))
        return 0;
    struct pm_slot_ref ref;
    if (pm_slot_find(ptr, &ref)) {
        size_t cid = ref.cid;
        const struct pm_cache_hot *hot = &pm_hot[cid];
        info->is_small = 1;
        info->live = *ref.state == PM_SLOT_LIVE;
        info->size_class = pm_cid_is_kmalloc(cid) ? PM_CID_CLASS(cid) : pm_caches[cid].size_class;
        info->partition = PM_CID_GROUP(cid);
        info->kind = pm_caches[cid].kind;
        info->object_size = hot->obj_size;
        /* The slot's start: ptr less its offset in the slot (a cache id
         * with no cache is one slot the size of its region). */
        uintptr_t region = (uintptr_t)pm_region.base + ((uintptr_t)cid << pm_region.shift);
        uintptr_t base = ref.seg ? (uintptr_t)ref.seg->base : region;
        info->start = (const char *)ptr - ((uintptr_t)ptr - base) % hot->obj_size;
        pm_cache_name(cid, info->cache_name);
        return 1;
    }
    int zst = pm_zero_state(ptr);
    if (zst >= 0) {
        info->live = zst == 1;
        info->start = ptr;
        strcpy(info->cache_name, "zero-size");
        return 1;
    }
    size_t usable = 0;
    int st = pm_large_state(ptr, &usable);
    if (st == 0)
        return 0;
    info->live = st == 1;
    info->object_size = usable;
    info->start = ptr;
    strcpy(info->cache_name, "large");
    return 1;
}

/* ---- object size (fortified string functions) ---- */

/* The first byte of the slot `ref` describes. */
static uintptr_t slot_start(const struct pm_slot_ref *ref) {
    uintptr_t region = (uintptr_t)pm_region.base + ((uintptr_t)ref->cid << pm_region.shift);
    uintptr_t base = ref->seg ? (uintptr_t)ref->seg->base : region;
    return base + ref->idx * pm_hot[ref->cid].obj_size;
}

/* Bytes from `ptr` to the end of the live slab object whose slot holds it;
 * 0 for a slot that is not live (never used, cached, freed, in a guard) and
 * for an address past the object's usable size (the strict canary). */
static size_t small_object_size(const void *ptr, const struct pm_slot_ref *ref) {
    if (*ref->state != PM_SLOT_LIVE)
        return 0;
    uintptr_t end = slot_start(ref) + pm_small_usable(ref);
    return (uintptr_t)ptr < end ? end - (uintptr_t)ptr : 0;
}

PM_EXPORT size_t malloc_object_size(const void *ptr) {
    if (!ptr || !__atomic_load_n(&pm_initialized, __ATOMIC_ACQUIRE))
        return 0;
    struct pm_slot_ref ref;
    if (pm_slot_find(ptr, &ref))
        return small_object_size(ptr, &ref);
    if (pm_zero_state(ptr) >= 0)
        return 0; /* malloc(0) objects have no bytes */
    return pm_large_object_size(ptr);
}

/* The primary regions and the malloc(0) region are found by address
 * arithmetic; a region taken past the primary one, a large block or
 * another pointer would need a table and a lock: SIZE_MAX, "no bound". */
PM_EXPORT size_t malloc_object_size_fast(const void *ptr) {
    if (!ptr)
        return 0;
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)pm_region.base;
    if (off < pm_region.total) {
        struct pm_slot_ref ref;
        pm_slot_find(ptr, &ref);
        return small_object_size(ptr, &ref);
    }
    return pm_zero_state(ptr) >= 0 ? 0 : SIZE_MAX;
}

void pm_get_config(struct pm_config *out) {
    pm_ensure_init();
    out->mode = pm_g.mode;
    out->partitions = pm_g.partitions;
    out->token_max = pm_g.token_max == UINT64_MAX ? 0 : pm_g.token_max;
    out->num_size_classes = PM_NUM_CLASSES;
    out->max_small_size = pm_slab_max;
    out->cache_region_size = pm_region.mask + 1;
    for (int g = 0; g < PM_GROUP_COUNT; g++) {
        struct pm_group_range all = {0, pm_g.partitions};
        out->groups[g] = pm_g.mode == PM_MODE_TYPED ? pm_group_range_of((enum pm_group)g, pm_g.partitions) : all;
    }
    out->plain_calls_unknown = pm_plain_calls_unknown();
}

size_t pm_collect(void) {
    pm_ensure_init();
    pm_tcache_flush_current();
    pm_quarantine_drain();
    size_t bytes = pm_large_trim();
    for (size_t cid = pm_cache_next(0); cid < pm_g.num_caches; cid = pm_cache_next(cid + 1))
        if (PM_CID_VALID(cid))
            bytes += pm_cache_trim(cid);
    return bytes;
}
