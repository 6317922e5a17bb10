/* The slab layer (slab.c): one cache per (size class, partition), each
 * owning a region of the small-object address space cut into slabs (and
 * more regions, taken one at a time, once that one is full), with all of
 * its bookkeeping out of line. The thread caches refill from and flush to
 * it; the kernel-style API creates its bucket sets and dedicated caches
 * here. */
#ifndef PM_SLAB_H
#define PM_SLAB_H

#include "types.h"

#pragma GCC visibility push(hidden)

enum pm_slot_state {
    PM_SLOT_NEVER = 0,  /* never handed out */
    PM_SLOT_LIVE = 1,   /* owned by the program */
    PM_SLOT_CACHED = 2, /* freed, held by a thread cache */
    PM_SLOT_FREED = 3,  /* freed, back in its slab's free map */
    /* Held by a thread cache (or on its way to the strict path) but never
     * handed out: a refill took it while NEVER, a flush makes it NEVER
     * again, so a free of it is reported as what it is (never allocated),
     * not as a double free. The fast paths need no test for it: allocation
     * writes LIVE over either cached state, and free sees "not LIVE". */
    PM_SLOT_CACHED_NEVER = 4,
};

struct pm_slab {
    uint32_t free_count;  /* free slots in the central map */
    uint32_t prev, next;  /* links of the list the slab is on */
    uint32_t empty_at;    /* on the empty list: the purge clock when it went there */
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

/* One region of a cache (1 << pm_region.shift bytes, aligned to its size)
 * and its out-of-line bookkeeping. Segment 0 is the cache's primary region,
 * at cache id * region size in the small-object space, where the free fast
 * path finds it by a shift; the others are regions the cache took when the
 * ones before it were full, found through the table of taken regions
 * (slab.c). A region never changes cache. */
struct pm_segment {
    char *base;
    uint8_t *state;        /* one pm_slot_state byte per slot of the region */
    uint64_t *free_map;    /* one bit per slot: free in the central map; word w is
                            * free_map[-w], the map running downward from state */
    struct pm_slab *slabs; /* one record per slab of the region */
    uint32_t *req_size;    /* strict: the size asked for, per slot (reserved on first use) */
    size_t req_committed;  /* bytes of req_size made RW (atomic; harden.c) */
    size_t used_slabs;     /* slabs ever carved out of the region */
    size_t committed;      /* bytes of the region made RW */
    /* Bytes made RW of the state bytes, the free map (below them) and the
     * slab records (reserved read-only, committed as slabs are carved:
     * slab.c). */
    size_t meta_committed[3];
    uint32_t index;        /* its number in the cache */
};

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
    size_t max_slabs;     /* slabs per region */
    /* A slab's number is its segment's index * max_slabs + its number in
     * the segment: one 32-bit id across every region of the cache. */
    struct pm_segment first;   /* segment 0 */
    struct pm_segment **more;  /* more[k - 1] is segment k */
    uint32_t segments;         /* in use; read without the lock (acquire) */
    uint32_t max_segments;     /* so that every slab number fits 32 bits */
    uint32_t heads[3];    /* lists of slabs: partial, empty, decommitted */
    uint32_t tails[3];
    uint32_t counts[3];
    uint64_t decommits, reuses;
    /* Bytes of its empty slabs kept committed: written under the lock,
     * read without it (atomic) by the sweep of idle caches. */
    size_t kept_bytes;
    uint64_t uncached_allocs;  /* objects handed out to threads without a cache */
    /* Under the lock: objects out of the slabs (live, or held by a thread
     * cache or the quarantine), and the most there ever were. */
    size_t objs_out, peak_objs_out;
    /* Guard pages: after every `group_slabs` slabs of a region comes a
     * guard of `guard_slots` slots (whole pages, never committed, never
     * handed out; group_slabs is UINT32_MAX without guards). */
    uint32_t group_slabs;
    uint32_t guard_slots;
    uint64_t group_slots;      /* group_slabs * objs_per_slab + guard_slots */
    uint64_t rng;              /* slot order (PARTMALLOC_HARDEN slot_order) */
};

/* Segment k of a cache (k < segments). */
static inline struct pm_segment *pm_cache_segment(const struct pm_cache *c, uint32_t k) {
    return k == 0 ? (struct pm_segment *)&c->first : c->more[k - 1];
}

/* Slab geometry with guards, within one region: the first slot of slab
 * `s`, and the slab of a slot that is not in a guard. */
static inline uint64_t pm_slab_first_slot(const struct pm_cache *c, uint64_t s) {
    return s / c->group_slabs * c->group_slots + s % c->group_slabs * c->objs_per_slab;
}
static inline uint64_t pm_slot_slab(const struct pm_cache *c, uint64_t idx) {
    return idx / c->group_slots * c->group_slabs + idx % c->group_slots / c->objs_per_slab;
}
/* A slab by its number across the cache's regions. */
static inline struct pm_segment *pm_slab_segment(const struct pm_cache *c, uint64_t s) {
    return pm_cache_segment(c, (uint32_t)(s / c->max_slabs));
}
static inline struct pm_slab *pm_slab_record(const struct pm_cache *c, uint64_t s) {
    return &pm_slab_segment(c, s)->slabs[s % c->max_slabs];
}
static inline char *pm_slab_addr(const struct pm_cache *c, uint64_t s) {
    return pm_slab_segment(c, s)->base + pm_slab_first_slot(c, s % c->max_slabs) * c->obj_size;
}

/* The largest request the caches serve (set at start: PM_MAX_SMALL, or up
 * to PM_MAX_CLASS when the regions are large enough and the strict
 * defences are off); larger ones are mappings of their own (large.c). */
extern size_t pm_slab_max;

/* The most bytes that were out of the caches' slabs at once. */
size_t pm_small_bytes_peak(void);

enum pm_slab_list { PM_LIST_PARTIAL = 0, PM_LIST_EMPTY = 1, PM_LIST_DECOMMITTED = 2, PM_LIST_NONE = 3 };
#define PM_NO_SLAB UINT32_MAX

struct pm_entry {
    void *ptr;
    uint8_t *state;
};

extern struct pm_cache_hot pm_hot[PM_MAX_CACHES];
extern struct pm_cache *pm_caches;         /* [num_caches], by cache id */
/* The small-object address space: each cache's primary region, side by
 * side, by cache id. */
struct pm_region {
    char *base;
    size_t total;      /* all caches' regions; 0 before initialization */
    size_t mask;       /* one region's size - 1 */
    unsigned shift;    /* log2 of one region's size */
};
extern struct pm_region pm_region;

/* Where a pointer lies if it is in a slab region: the cache, the segment
 * (NULL for a cache id with no cache), the slot number in the region, its
 * state byte, and whether the pointer is the slot's start. */
struct pm_slot_ref {
    size_t cid;
    struct pm_segment *seg;
    uint64_t idx;
    uint8_t *state;
    bool is_start;
};
/* Fills `ref` for a pointer in any slab region; false if it is in none. */
bool pm_slot_find(const void *ptr, struct pm_slot_ref *ref);
/* The same for the regions caches took past their primary one (the free
 * fast path has already ruled out the primary regions). Lock-free. */
bool pm_slot_find_taken(const void *ptr, struct pm_slot_ref *ref);

void pm_caches_init(void);
/* Sets up bucket set `set` (a cache per size class) named `name`; false if out of memory. */
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
/* The same from one slab only (the first partial one, else a slab as a
 * refill chooses it): fewer than `want` when that slab has fewer free. */
size_t pm_cache_refill_slab(size_t cid, struct pm_entry *out, size_t want);
/* Returns `n` cached slots (state CACHED, or CACHED_NEVER: those go back
 * as never allocated) of cache `cid` to their slabs. */
void pm_cache_flush(size_t cid, const struct pm_entry *in, size_t n);
size_t pm_cache_trim(size_t cid);        /* decommit all empty slabs */
/* Bytes of empty slabs kept committed, all caches together, and the most
 * there may be: an eighth of the peak bytes out of the slabs, 4 to 64 MiB. */
size_t pm_slab_kept_bytes(void);
size_t pm_slab_kept_budget(void);
void pm_caches_lock_all(void);
void pm_caches_reinit_locks(void);
void pm_caches_unlock_all(void);

/* The first cache id from `cid` on whose record may be set up (its page
 * of the cache table was made writable), pm_g.num_caches if none: the
 * walks over every cache step with it and test PM_CID_VALID, so that they
 * touch only the pages of the table that records were written to. */
size_t pm_cache_next(size_t cid);

/* A kmalloc cache's id: one of the partitions' size classes. Its hot
 * fields are set at start, its record (pm_caches) at its first refill. */
bool pm_cid_is_kmalloc(size_t cid);

/* True for a cache id that names a cache set up (metadata mapped). */
#define PM_CID_VALID(cid) (__atomic_load_n(&pm_caches[cid].ready, __ATOMIC_ACQUIRE))

_Static_assert(sizeof(struct pm_cache_hot) == 1u << PM_ENTRY_SHIFT, "hot fields are indexed by shift");

#pragma GCC visibility pop

#endif /* PM_SLAB_H */
