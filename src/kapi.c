/* The kernel-style front end (<partmalloc/slab.h>): kmalloc and friends,
 * dedicated caches (kmem_cache_*) and bucket sets (kmem_buckets_*). The
 * token scope that carries a caller's token through a program's wrapper is
 * the partition layer's (partition.c). */
#define _GNU_SOURCE
#include <string.h>

#include "frontend.h"
#include "init.h"
#include "os.h"
#include "slab.h"
#include "partmalloc/slab.h"

/* ---- kmalloc ---- */

/* PM_NO_TOKEN: the compiler could not infer one (not clang 22): place the
 * call by its site, as plain malloc. */
static pm_part_t kmalloc_part(size_t token, const void *site) {
    if (token == PM_NO_TOKEN)
        PM_STAT_PLAIN(site);
    else
        PM_STAT_TOKEN(token, site);
    return token == PM_NO_TOKEN ? pm_site_part(site) : pm_token_part_at(token, site);
}

static void *finish(void *p, size_t size, gfp_t flags) {
    if (!p) {
        if (flags & __GFP_NOFAIL)
            pm_fatal("out of memory in an allocation with __GFP_NOFAIL");
        return NULL;
    }
    if (flags & __GFP_ZERO)
        memset(p, 0, size);
    return p;
}

static void *kmalloc_at(size_t size, gfp_t flags, size_t token, const void *site) {
    return finish(pm_alloc_inline(size, kmalloc_part(token, site)), size, flags);
}

PM_EXPORT void *pm_kmalloc(size_t size, gfp_t flags, size_t token) {
    return kmalloc_at(size, flags, token, PM_CALLER());
}

PM_EXPORT void *pm_kmalloc_array(size_t n, size_t size, gfp_t flags, size_t token) {
    return kmalloc_at(pm_size_mul(n, size), flags, token, PM_CALLER());
}

/* krealloc(p, 0) frees p and returns NULL. With a token (typed mode) the
 * block moves to the new type's partition, as realloc with a token does. */
PM_EXPORT void *pm_krealloc(const void *ptr, size_t size, gfp_t flags, size_t token) {
    const void *site = PM_CALLER();
    bool typed = token != PM_NO_TOKEN && pm_g.mode == PM_MODE_TYPED;
    size_t old = ptr ? pm_usable(ptr, "krealloc") : 0;
    void *p = pm_realloc_part((void *)ptr, size, kmalloc_part(token, site), typed);
    if (!p)
        return size ? finish(NULL, size, flags) : NULL;
    if ((flags & __GFP_ZERO) && size > old)
        memset((char *)p + old, 0, size - old);
    return p;
}

PM_EXPORT void pm_kfree(const void *ptr) {
    pm_free_inline((void *)ptr);
}

PM_EXPORT size_t pm_ksize(const void *ptr) {
    return pm_usable(ptr, "ksize");
}

PM_EXPORT void *pm_kmemdup(const void *src, size_t len, gfp_t flags, size_t token) {
    void *p = kmalloc_at(len, flags & ~__GFP_ZERO, token, PM_CALLER());
    if (p)
        memcpy(p, src, len);
    return p;
}

PM_EXPORT char *pm_kstrdup(const char *s, gfp_t flags) {
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    char *p = kmalloc_at(len, flags & ~__GFP_ZERO, PM_NO_TOKEN, PM_CALLER());
    if (p)
        memcpy(p, s, len);
    return p;
}

/* ---- dedicated caches ---- */

/* A struct kmem_cache * is the cache id plus one, never dereferenced. */
static size_t cache_id_of(const struct kmem_cache *cache) {
    uintptr_t v = (uintptr_t)cache;
    size_t cid = (size_t)v - 1;
    if (!cache || cid < pm_g.dedicated_cid || cid >= pm_g.num_caches || !pm_caches[cid].ready ||
        pm_caches[cid].destroyed)
        pm_fatal_ptr("use of an invalid or destroyed kmem_cache", cache, "none");
    return cid;
}

/* Objects are laid out back to back, so their size is rounded up to the
 * alignment, and further, to multiples of 16 (or of the alignment), until
 * a slab of whole objects needs at most 64 KiB of pages (lcm(size, 4096)).
 * Each step lands on a multiple of the step, never adds it: from an odd
 * multiple of 8, adding 16 would keep gcd(size, 4096) at 8 forever. */
static size_t object_size(size_t size, size_t align) {
    size_t s = (size + align - 1) / align * align, step = align < 16 ? 16 : align;
    for (;;) {
        size_t g = s, p = PM_PAGE;
        while (p) {
            size_t t = g % p;
            g = p;
            p = t;
        }
        if (s / g * PM_PAGE <= 65536)
            return s;
        s = (s / step + 1) * step;
    }
}

PM_EXPORT struct kmem_cache *kmem_cache_create(const char *name, unsigned int size, unsigned int align,
                                               unsigned int flags, void (*ctor)(void *)) {
    pm_ensure_init();
    if (flags & SLAB_HWCACHE_ALIGN)
        align = align > 64 ? align : 64;
    if (align < 8)
        align = 8;
    struct kmem_cache *result = NULL;
    if (name && size > 0 && size <= PM_MAX_SMALL && (align & (align - 1)) == 0 && align <= PM_PAGE) {
        size_t obj = object_size(size + (pm_g.harden.canary ? 8 : 0), align); /* room for the canary */
        pm_lock(&pm_registry_lock);
        for (size_t cid = pm_g.dedicated_cid; cid < pm_g.num_caches; cid++) {
            if (pm_caches[cid].ready)
                continue; /* in use, or destroyed: addresses are never reused */
            if (obj <= PM_MAX_SMALL && pm_cache_create_dedicated(cid, name, obj, ctor))
                result = (struct kmem_cache *)(uintptr_t)(cid + 1);
            break;
        }
        pm_unlock(&pm_registry_lock);
    }
    if (!result && (flags & SLAB_PANIC))
        pm_fatal("kmem_cache_create failed with SLAB_PANIC");
    return result;
}

PM_EXPORT const char *kmem_cache_name(const struct kmem_cache *cache) {
    return pm_caches[cache_id_of(cache)].name;
}

PM_EXPORT void *kmem_cache_alloc(struct kmem_cache *cache, gfp_t flags) {
    size_t cid = cache_id_of(cache);
    /* under the strict canary the cache was made 8 bytes larger for it */
    size_t size = pm_caches[cid].obj_size - (pm_g.slow_only && pm_g.harden.canary ? 8 : 0);
    return finish(pm_alloc_cid(cid, size), size, flags);
}

PM_EXPORT void kmem_cache_free(struct kmem_cache *cache, void *obj) {
    size_t cid = cache_id_of(cache);
    if (!obj)
        return;
    uintptr_t off = (uintptr_t)obj - (uintptr_t)pm_region.base;
    struct pm_slot_ref ref;
    bool theirs = off < pm_region.total ? off >> pm_region.shift == cid
                                        : pm_slot_find_taken(obj, &ref) && ref.cid == cid;
    if (!theirs) {
        char name[32] = "none";
        struct pm_ptr_info info;
        if (pm_ptr_info(obj, &info))
            strcpy(name, info.cache_name);
        char what[80] = "kmem_cache_free to ";
        strncat(what, pm_caches[cid].name, sizeof what - strlen(what) - 30);
        strcat(what, " of an object of another cache");
        pm_fatal_ptr(what, obj, name);
    }
    pm_free_inline(obj);
}

PM_EXPORT void kmem_cache_destroy(struct kmem_cache *cache) {
    if (!cache)
        return;
    size_t cid = cache_id_of(cache);
    /* This thread's cached objects go back before the registry lock: under
     * the strict defences the flush takes the quarantine's lock, which
     * fork's prepare handler takes before the registry's. */
    pm_tcache_flush_current();
    pm_lock(&pm_registry_lock);
    pm_cache_destroy(cid);
    pm_unlock(&pm_registry_lock);
}

/* ---- bucket sets ---- */

/* A kmem_buckets * is the bucket set's number plus one. */
PM_EXPORT kmem_buckets *kmem_buckets_create(const char *name, unsigned int flags, unsigned int useroffset,
                                            unsigned int usersize, void (*ctor)(void *)) {
    (void)useroffset;
    (void)usersize;
    (void)ctor; /* the kernel ignores it for buckets too */
    pm_ensure_init();
    kmem_buckets *result = NULL;
    pm_lock(&pm_registry_lock);
    for (unsigned set = 0; set < PM_MAX_BUCKET_SETS && name; set++) {
        if (pm_caches[PM_CID(0, pm_g.bucket_group + set)].ready)
            continue;
        if (pm_cache_create_buckets(set, name))
            result = (kmem_buckets *)(uintptr_t)(set + 1);
        break;
    }
    pm_unlock(&pm_registry_lock);
    if (!result && (flags & SLAB_PANIC))
        pm_fatal("kmem_buckets_create failed with SLAB_PANIC");
    return result;
}

PM_EXPORT void *kmem_buckets_alloc(kmem_buckets *b, size_t size, gfp_t flags) {
    if (!b) /* the kernel falls back to kmalloc */
        return kmalloc_at(size, flags, PM_NO_TOKEN, PM_CALLER());
    unsigned set = (unsigned)((uintptr_t)b - 1);
    if (set >= PM_MAX_BUCKET_SETS || !pm_caches[PM_CID(0, pm_g.bucket_group + set)].ready)
        pm_fatal_ptr("use of an invalid kmem_buckets", b, "none");
    return finish(pm_alloc_inline(size, pm_part_of_index(pm_g.bucket_group + set)), size, flags);
}
