/* The slab layer (slab.c): one cache per (size class, partition), each
 * owning a fixed region of the small-object address space cut into slabs,
 * with all of its bookkeeping out of line. The thread caches refill from
 * and flush to it; the kernel-style API creates its bucket sets and
 * dedicated caches here. */
#ifndef PM_SLAB_H
#define PM_SLAB_H

#include "types.h"

#pragma GCC visibility push(hidden)

enum pm_slot_state {
    PM_SLOT_NEVER = 0,  /* never handed out */
    PM_SLOT_LIVE = 1,   /* owned by the program */
    PM_SLOT_CACHED = 2, /* freed, held by a thread cache */
    PM_SLOT_FREED = 3,  /* freed, back in its slab's free map */
};

struct pm_slab {
    uint32_t free_count;  /* free slots in the central map */
    uint32_t prev, next;  /* links of the list the slab is on */
    uint8_t list;         /* enum pm_slab_list */
};

/* The fields the free fast path reads, together in one cache line. */
struct pm_cache_hot {
    uint64_t magic;       /* ceil(2^64 / obj_size): offset -> slot by multiply-high */
    uint64_t obj_size;
    uint8_t *state;       /* one pm_slot_state byte per slot of the region */
    uint64_t pad;         /* 32 bytes: the index is a shift */
};

enum pm_cache_kind { PM_KIND_KMALLOC = 0, PM_KIND_BUCKET = 1, PM_KIND_DEDICATED = 2 };

struct pm_cache {
    pm_lock_t lock;
    bool ready;           /* set up: metadata mapped, geometry known */
    bool destroyed;       /* a dedicated cache after kmem_cache_destroy */
    uint8_t kind;         /* enum pm_cache_kind */
    unsigned id;
    unsigned size_class;  /* kmalloc and bucket caches; PM_NUM_CLASSES for dedicated */
    unsigned partition;   /* the group: partition, N + bucket set, ... */
    char name[32];        /* a dedicated cache's or a bucket set's name */
    void (*ctor)(void *); /* dedicated caches: run on every object of a fresh slab */
    uint32_t obj_size, objs_per_slab;
    size_t slab_bytes;
    char *base;           /* start of the region this cache owns */
    size_t max_slabs;
    size_t used_slabs;    /* slabs ever carved out of the region */
    size_t committed;     /* bytes of the region made RW */
    uint64_t *free_map;   /* one bit per slot: free in the central map */
    struct pm_slab *slabs;
    uint32_t heads[3];    /* lists of slabs: partial, empty, decommitted */
    uint32_t tails[3];
    uint32_t counts[3];
    uint64_t decommits, reuses;
    uint64_t uncached_allocs;  /* objects handed out to threads without a cache */
    /* Guard pages: after every `group_slabs` slabs comes a guard of
     * `guard_slots` slots (whole pages, never committed, never handed out;
     * group_slabs is UINT32_MAX without guards). */
    uint32_t group_slabs;
    uint32_t guard_slots;
    uint64_t group_slots;      /* group_slabs * objs_per_slab + guard_slots */
    uint64_t rng;              /* slot order (PARTMALLOC_HARDEN slot_order) */
    uint32_t *req_size;        /* strict: the size asked for, per slot */
};

/* Slab geometry with guards: the first slot of slab `s`, and the slab of a
 * slot that is not in a guard. */
static inline uint64_t pm_slab_first_slot(const struct pm_cache *c, uint64_t s) {
    return s / c->group_slabs * c->group_slots + s % c->group_slabs * c->objs_per_slab;
}
static inline uint64_t pm_slot_slab(const struct pm_cache *c, uint64_t idx) {
    return idx / c->group_slots * c->group_slabs + idx % c->group_slots / c->objs_per_slab;
}
static inline char *pm_slab_addr(const struct pm_cache *c, uint64_t s) {
    return c->base + pm_slab_first_slot(c, s) * c->obj_size;
}

enum pm_slab_list { PM_LIST_PARTIAL = 0, PM_LIST_EMPTY = 1, PM_LIST_DECOMMITTED = 2, PM_LIST_NONE = 3 };
#define PM_NO_SLAB UINT32_MAX

struct pm_entry {
    void *ptr;
    uint8_t *state;
};

extern struct pm_cache_hot pm_hot[PM_MAX_CACHES];
extern struct pm_cache *pm_caches;         /* [num_caches], by cache id */
/* The small-object address space: one region per cache, side by side. */
struct pm_region {
    char *base;
    size_t total;      /* all caches' regions; 0 before initialization */
    size_t mask;       /* one region's size - 1 */
    unsigned shift;    /* log2 of one region's size */
};
extern struct pm_region pm_region;

void pm_caches_init(void);
/* Sets up bucket set `set` (its 41 caches) named `name`; false if out of memory. */
bool pm_cache_create_buckets(unsigned set, const char *name);
/* Sets up dedicated cache `cid` for objects of `obj_size` bytes (a multiple
 * of 8 up to PM_MAX_SMALL); false if out of memory. */
bool pm_cache_create_dedicated(size_t cid, const char *name, size_t obj_size, void (*ctor)(void *));
/* Returns every empty slab's pages and marks the cache destroyed. */
void pm_cache_destroy(size_t cid);
/* Held while bucket sets and dedicated caches are created or destroyed
 * (and across fork). */
extern pm_lock_t pm_registry_lock;
void pm_cache_name(size_t cache_id, char out[32]);
/* Moves up to `want` free slots of cache `cid` into out[]; returns the count
 * (0 only when the region is exhausted or the OS refuses memory). */
size_t pm_cache_refill(size_t cid, struct pm_entry *out, size_t want);
/* Returns `n` cached slots (state CACHED) of cache `cid` to their slabs. */
void pm_cache_flush(size_t cid, const struct pm_entry *in, size_t n);
size_t pm_cache_trim(size_t cid);        /* decommit all empty slabs */
void pm_caches_lock_all(void);
void pm_caches_reinit_locks(void);
void pm_caches_unlock_all(void);

/* True for a cache id that names a cache set up (metadata mapped). */
#define PM_CID_VALID(cid) (pm_caches[cid].ready)

_Static_assert(sizeof(struct pm_cache_hot) == 1u << PM_ENTRY_SHIFT, "hot fields are indexed by shift");

#pragma GCC visibility pop

#endif /* PM_SLAB_H */
