/* Types and constants every layer shares: the limits of the design, how a
 * cache id is built from a size class and a partition, the pre-shifted
 * partition the fast paths carry, and the lock type. No state, no
 * functions beyond one-line helpers.
 *
 * The layers, bottom to top (each file includes only the layers below it):
 *   os.h         the OS contract: every mapping, randomness, fatal reports
 *   options.h    the process's configuration (pm_g), from the environment
 *   sizeclass.h  the size-class table
 *   slot.h       offset -> slot arithmetic
 *   slab.h       (size class, partition) caches: regions, slabs, free maps
 *   large.h      blocks the caches do not serve: mappings of their own
 *   harden.h     the strict defences (beside the thread caches)
 *   tcache.h     per-thread caches
 *   partition.h  which partition a call goes to
 *   fastpath.h   the inlined allocation and free paths, and where they leave
 *   alloc.h      the core operations every front end shares
 *   frontend.h   the C allocation family's rules, for the front ends
 * init.h (start-up on first use) may be called from any layer's slow path.
 */
#ifndef PM_TYPES_H
#define PM_TYPES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "partmalloc.h"

/* Everything declared by the internal headers is internal to the shared
 * library: direct references, no GOT. */
#pragma GCC visibility push(hidden)

#define PM_LIKELY(x) __builtin_expect(!!(x), 1)
#define PM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PM_NOINLINE __attribute__((noinline))
#define PM_COLD __attribute__((cold, noinline))
#define PM_HIDDEN __attribute__((visibility("hidden")))
#define PM_EXPORT __attribute__((visibility("default")))
#define PM_CALLER() __builtin_return_address(0)

#define PM_PAGE 4096u
#define PM_MAX_PARTITIONS 64u
/* 61 size classes: 41 small ones up to PM_MAX_SMALL, then 20 page-multiple
 * classes up to PM_MAX_CLASS, served by the same caches with a guard after
 * every object (slab.c). Requests above what the caches serve are mappings
 * of their own (large.c). */
#define PM_NUM_SMALL_CLASSES 41u
#define PM_NUM_CLASSES 61u
#define PM_MAX_SMALL 32768u
#define PM_MAX_CLASS 1048576u
/* log2 of a cache region's size: at most 64 GiB, at least 1 MiB (slab.c). */
#define PM_REGION_SHIFT_MAX 36u
#define PM_REGION_SHIFT_MIN 20u
/* Requests at or below this size use the direct lookup table. */
#define PM_SMALL_LOOKUP_MAX 1024u

/* A cache id is (group << 6) | size class. Ids whose class is 61..63 name
 * no cache (their regions stay inaccessible). Groups of 64 cache ids: the N
 * partitions of kmalloc, then the bucket sets of kmem_buckets_create (one
 * group each), then the dedicated caches of kmem_cache_create (any slot of
 * their groups). */
#define PM_CLASS_SLOTS 64u
#define PM_CLASS_BITS 6u
#define PM_MAX_BUCKET_SETS 8u
#define PM_MAX_DEDICATED 256u
#define PM_DEDICATED_GROUPS (PM_MAX_DEDICATED / PM_CLASS_SLOTS)
#define PM_EXTRA_GROUPS (PM_MAX_BUCKET_SETS + PM_DEDICATED_GROUPS)
#define PM_MAX_CACHES (PM_CLASS_SLOTS * (PM_MAX_PARTITIONS + PM_EXTRA_GROUPS))
#define PM_CID(cls, group) (((size_t)(group) << PM_CLASS_BITS) | (cls))
#define PM_CID_CLASS(cid) ((unsigned)(cid) & (PM_CLASS_SLOTS - 1))
#define PM_CID_GROUP(cid) ((unsigned)((cid) >> PM_CLASS_BITS))

/* Per-cache tables (thread-cache bins, hot cache fields) have 32-byte
 * entries, so a cache id shifted by PM_ENTRY_SHIFT is an entry's offset. */
#define PM_ENTRY_SHIFT 5u
#define PM_PART_SHIFT (PM_CLASS_BITS + PM_ENTRY_SHIFT)

/* A partition (a group of cache ids) as the fast paths carry it: its index
 * pre-shifted by PM_PART_SHIFT, so that or-ed with a class's entry offset
 * it is the offset of a thread-cache bin. A struct of one word, so it is
 * passed in a register like the word itself and never mixed up with an
 * index. */
typedef struct pm_part {
    size_t off;
} pm_part_t;

static inline pm_part_t pm_part_of_index(unsigned index) {
    pm_part_t p = {(size_t)index << PM_PART_SHIFT};
    return p;
}
static inline unsigned pm_part_index(pm_part_t part) {
    return (unsigned)(part.off >> PM_PART_SHIFT);
}
/* Cache id of (class, partition). */
static inline size_t pm_cache_id(unsigned size_class, pm_part_t part) {
    return (part.off >> PM_ENTRY_SHIFT) | size_class;
}

/* Plain mutexes; every lock is held across fork (init.c) and re-made in
 * the child. */
typedef pthread_mutex_t pm_lock_t;
#define PM_LOCK_INIT PTHREAD_MUTEX_INITIALIZER
static inline void pm_lock(pm_lock_t *l) { pthread_mutex_lock(l); }
static inline void pm_unlock(pm_lock_t *l) { pthread_mutex_unlock(l); }
static inline bool pm_trylock(pm_lock_t *l) { return pthread_mutex_trylock(l) == 0; }

#pragma GCC visibility pop

#endif /* PM_TYPES_H */
