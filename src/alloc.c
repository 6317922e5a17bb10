/* The core operations every front end shares, over the fast paths
 * (fastpath.h): the exits of the fast paths, aligned and zeroed
 * allocation, realloc, checked frees, usable size, and the reports of
 * misuse that name the pointer, the cache and the check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "harden.h"
#include "init.h"
#include "large.h"
#include "options.h"
#include "os.h"

/* ---- errors ---- */

void pm_bad_slot(const void *ptr, size_t cid, const uint8_t *state, int interior, const char *op) {
    char name[32], what[96];
    pm_cache_name(cid, name);
    bool is_free = strcmp(op, "free") == 0;
    const char *reason;
    if (interior)
        reason = "not the start of an object";
    else if (*state == PM_SLOT_NEVER || *state == PM_SLOT_CACHED_NEVER) /* the latter: in a thread cache */
        reason = "slot never allocated";
    else
        reason = NULL; /* freed */
    if (!reason && is_free) {
        strcpy(what, "double free");
    } else if (!reason) {
        strcpy(what, op);
        strcat(what, " of a freed pointer");
    } else {
        strcpy(what, "invalid ");
        strcat(what, op);
        strcat(what, " (");
        strcat(what, reason);
        strcat(what, ")");
    }
    pm_fatal_ptr(what, ptr, name);
}

/* Not a slab object, a malloc(0) pointer or a large block's start: inside
 * a live large block (a scan of its table, on this way to abort only) the
 * report names the block, else the pointer is not partmalloc's. */
static __attribute__((noreturn)) void foreign_pointer(const void *ptr, const char *op) {
    char what[96];
    bool inside = pm_large_object_size(ptr) != 0;
    strcpy(what, "invalid ");
    strcat(what, op);
    strcat(what, inside ? " (not the start of an object)" : " (not a partmalloc pointer)");
    pm_fatal_ptr(what, ptr, inside ? "large" : "none");
}

/* Past the primary regions: a region a cache took when its first filled
 * (the same checks and thread cache as the fast path), a malloc(0)
 * pointer, a large block, or not ours. */
void pm_free_outside(void *ptr) {
    if (!ptr)
        return;
    struct pm_slot_ref ref;
    if (pm_slot_find_taken(ptr, &ref)) {
        pm_free_slot(ptr, ref.cid, ref.state, ref.is_start);
        return;
    }
    if (pm_zero_free(ptr, "free"))
        return;
    if (!pm_large_free(ptr, PM_LARGE_ANY_SIZE, 0))
        foreign_pointer(ptr, "free");
}

/* Classifies `ptr` as a slab slot (1, ref filled), or not in the slab
 * space (0). An interior pointer is reported for `op` and aborts. */
static int locate_small(const void *ptr, struct pm_slot_ref *ref, const char *op) {
    if (!pm_slot_find(ptr, ref))
        return 0;
    if (!ref->is_start)
        pm_bad_slot(ptr, ref->cid, ref->state, 1, op);
    return 1;
}

/* The live slot of `ptr` for `op`, aborting on anything else. Returns 0
 * for a pointer outside the slab space. */
static int live_small(const void *ptr, struct pm_slot_ref *ref, const char *op) {
    if (!locate_small(ptr, ref, op))
        return 0;
    if (*ref->state != PM_SLOT_LIVE)
        pm_bad_slot(ptr, ref->cid, ref->state, 0, op);
    return 1;
}

size_t pm_small_usable(const struct pm_slot_ref *ref) {
    if (pm_g.slow_only && (pm_g.harden.checked_usable || pm_g.harden.canary))
        return pm_strict_size(ref);
    return pm_hot[ref->cid].obj_size;
}

/* A malloc(0) pointer's usable size (0) for `op`, aborting if it is freed
 * or not one's start; -1 if `ptr` is not such a pointer. */
static long zero_usable(const void *ptr, const char *op) {
    int st = pm_zero_state(ptr);
    if (st < 0)
        return -1;
    if (st != 1) {
        char what[96];
        strcpy(what, st == 2 ? op : "invalid ");
        strcat(what, st == 2 ? " of a freed pointer" : op);
        if (st != 2)
            strcat(what, st == 3 ? " (not the start of an object)" : " (slot never allocated)");
        pm_fatal_ptr(what, ptr, "zero-size");
    }
    return 0;
}

/* ---- allocation ---- */

/* An object of class `cls` (above PM_MAX_SMALL), or where its cache has
 * no room left (every region it may take is full, or the OS refuses) a
 * mapping of its own, errno as it was. */
static void *alloc_above_small(unsigned cls, size_t size, size_t alignment, pm_part_t part) {
    int saved = errno;
    void *p = pm_alloc_cid(pm_cache_id(cls, part), size);
    if (PM_LIKELY(p != NULL))
        return p;
    errno = saved;
    return pm_large_alloc(size, alignment, false);
}

/* Above PM_MAX_SMALL: a class of the caches, or a large block. Out of line
 * so that pm_alloc_medium's path to a small class saves no registers. */
static PM_NOINLINE void *alloc_medium_above_small(size_t size, pm_part_t part) {
    pm_ensure_init();
    if (size <= pm_slab_max)
        return alloc_above_small(pm_class_of_large_small(size), size, 0, part);
    return pm_large_alloc(size, 0, false);
}

PM_NOINLINE void *pm_alloc_medium(size_t size, pm_part_t part) {
    if (PM_LIKELY(size <= PM_MAX_SMALL))
        return pm_alloc_cid(pm_cache_id(pm_class_of_large_small(size), part), size);
    return alloc_medium_above_small(size, part);
}

/* The first class at or above `size` whose objects all have `alignment`
 * (every class that is a multiple of it, since regions are 1 MiB aligned);
 * PM_NUM_CLASSES if none. */
static unsigned aligned_class(size_t alignment, size_t size) {
    size_t need = size > alignment ? size : alignment;
    if (need > pm_slab_max)
        return PM_NUM_CLASSES;
    for (unsigned cls = pm_size_to_class(need); cls < PM_NUM_CLASSES; cls++)
        if (pm_class_size[cls] % alignment == 0)
            return cls;
    return PM_NUM_CLASSES;
}

/* The class an allocation of (alignment, size) is served from, or
 * PM_NUM_CLASSES for a large block. Plain classes are 16-byte aligned from
 * 16 bytes up, 8-byte aligned below. */
static unsigned class_for(size_t alignment, size_t size) {
    if (alignment <= 8 || (alignment <= 16 && size > 8))
        return size <= pm_slab_max ? pm_size_to_class(size) : PM_NUM_CLASSES;
    return aligned_class(alignment, size);
}

/* `alignment` is a power of two. */
void *pm_alloc_aligned(size_t alignment, size_t size, pm_part_t part) {
    pm_ensure_init();
    if (pm_g.slow_only)
        return pm_strict_alloc_aligned(alignment, size, part);
    unsigned cls = class_for(alignment, size);
    if (cls < PM_NUM_SMALL_CLASSES)
        return pm_alloc_cid(pm_cache_id(cls, part), size);
    if (cls < PM_NUM_CLASSES)
        return alloc_above_small(cls, size, alignment, part);
    return pm_large_alloc(size, alignment, false);
}

void *pm_alloc_zeroed(size_t n, size_t size, pm_part_t part) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > PM_MAX_SMALL) {
        pm_ensure_init();
        if (total > pm_slab_max)
            return pm_large_alloc(total, 0, true); /* zeroes only a reused block */
    }
    void *p = pm_alloc_inline(total, part);
    if (p)
        memset(p, 0, total);
    return p;
}

void pm_dealloc(void *ptr) {
    pm_free_inline(ptr);
}

/* Strict free_aligned_sized: the alignment aligned_alloc was given (8 for
 * less); an object from malloc has none recorded, the pointer must have
 * the alignment. */
static bool strict_alignment_matches(const void *ptr, const struct pm_slot_ref *ref, size_t alignment) {
    size_t asked = pm_strict_alignment(ref);
    if (!asked)
        return (uintptr_t)ptr % alignment == 0;
    return (alignment < 8 ? 8 : alignment) == asked;
}

/* free_sized / free_aligned_sized / sized delete: the size (and alignment)
 * must be those the block was allocated with. For a slab object that means
 * the same size class the allocation would have chosen; under strict, the
 * exact size and alignment asked for. */
void pm_dealloc_checked(void *ptr, size_t size, size_t alignment) {
    if (!ptr)
        return;
    struct pm_slot_ref ref;
    const char *op = alignment ? "free_aligned_sized" : "free_sized";
    if (live_small(ptr, &ref, op)) {
        bool exact = pm_g.slow_only && (pm_g.harden.checked_usable || pm_g.harden.canary);
        bool wrong = exact ? size != pm_small_usable(&ref) ||
                                 (alignment && !strict_alignment_matches(ptr, &ref, alignment))
                           : class_for(alignment, size) != pm_caches[ref.cid].size_class;
        if (wrong) {
            char name[32];
            pm_cache_name(ref.cid, name);
            pm_fatal_ptr(alignment ? "free_aligned_sized with a size or alignment the object was not allocated with"
                                   : "free_sized with a size the object was not allocated with",
                         ptr, name);
        }
        pm_free_inline(ptr);
        return;
    }
    if (zero_usable(ptr, op) == 0) {
        if (size != 0)
            pm_fatal_ptr(alignment ? "free_aligned_sized with a size or alignment the object was not allocated with"
                                   : "free_sized with a size the object was not allocated with",
                         ptr, "zero-size");
        pm_zero_free(ptr, op);
        return;
    }
    /* A large block: the exact size asked for (0 too: aligned_alloc(64 KiB, 0)). */
    if (!pm_large_free(ptr, size, alignment))
        foreign_pointer(ptr, op);
}

size_t pm_usable(const void *ptr, const char *op) {
    if (!ptr)
        return 0;
    struct pm_slot_ref ref;
    if (live_small(ptr, &ref, op))
        return pm_small_usable(&ref);
    if (zero_usable(ptr, op) == 0)
        return 0;
    size_t usable = 0;
    int st = pm_large_state(ptr, &usable);
    if (st == 1)
        return usable;
    if (st == -1) {
        char what[64];
        strcpy(what, op);
        strcat(what, " of a freed pointer");
        pm_fatal_ptr(what, ptr, "large");
    }
    foreign_pointer(ptr, op);
}

/* realloc: in place when the new size keeps the size class (so that a later
 * free_sized with the new size agrees) and, when the partition is binding,
 * the partition; else allocate, copy, free. */
void *pm_realloc_part(void *ptr, size_t size, pm_part_t part, bool binding) {
    if (!ptr)
        return pm_alloc_inline(size, part);
    if (size == 0) {
        pm_free_inline(ptr);
        return NULL;
    }
    struct pm_slot_ref ref;
    size_t old_usable;
    if (live_small(ptr, &ref, "realloc")) {
        old_usable = pm_small_usable(&ref);
        /* the strict defences keep a size per object: always a new one */
        if (!pm_g.slow_only && size <= pm_slab_max && pm_size_to_class(size) == pm_caches[ref.cid].size_class &&
            (!binding || PM_CID_GROUP(ref.cid) == pm_part_index(part)))
            return ptr;
    } else if (zero_usable(ptr, "realloc") == 0) {
        old_usable = 0;
    } else {
        int st = pm_large_state(ptr, &old_usable);
        if (st != 1) {
            if (st == -1)
                pm_fatal_ptr("realloc of a freed pointer", ptr, "large");
            foreign_pointer(ptr, "realloc");
        }
        if (size > PM_MAX_SMALL)
            return pm_large_realloc(ptr, size);
    }
    void *fresh = pm_alloc_inline(size, part);
    if (!fresh)
        return NULL; /* errno is ENOMEM; the old block is untouched */
    memcpy(fresh, ptr, size < old_usable ? size : old_usable);
    pm_free_inline(ptr);
    return fresh;
}
