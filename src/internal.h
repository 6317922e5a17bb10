/* Internal declarations shared by the library's layers:
 *   os.c        OS pages, randomness, fatal reports
 *   options.c   run-time options from the environment
 *   sizeclass.c the size-class table
 *   cache.c     (size class, partition) caches: regions, slabs, central free maps
 *   tcache.c    per-thread caches
 *   large.c     page-granular mappings above the largest class
 *   kmalloc.c   partition choice and the core allocate/free/realloc
 *   init.c      process start, fork
 * and the front ends malloc.c, alloc_token.c, new.cc.
 */
#ifndef PM_INTERNAL_H
#define PM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "partmalloc.h"
#include "stats_format.h"

/* Everything declared below is internal to the shared library: direct
 * references, no GOT. */
#pragma GCC visibility push(hidden)

#define PM_LIKELY(x) __builtin_expect(!!(x), 1)
#define PM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PM_NOINLINE __attribute__((noinline))
#define PM_COLD __attribute__((cold, noinline))
#define PM_HIDDEN __attribute__((visibility("hidden")))
#define PM_EXPORT __attribute__((visibility("default")))

#define PM_PAGE 4096u
#define PM_MAX_PARTITIONS 64u
#define PM_NUM_CLASSES 41u
#define PM_MAX_SMALL 32768u
/* A cache id is (partition << 6) | size class: the partition's bits come
 * pre-shifted from the partition choice and the class is or-ed in. Ids whose
 * class is 41..63 name no cache (their regions stay inaccessible). */
#define PM_CLASS_SLOTS 64u
#define PM_CLASS_BITS 6u
/* Groups of 64 cache ids: the N partitions of kmalloc, then the bucket sets
 * of kmem_buckets_create (one partition each), then the dedicated caches of
 * kmem_cache_create (any slot of their groups). */
#define PM_MAX_BUCKET_SETS 8u
#define PM_MAX_DEDICATED 256u
#define PM_DEDICATED_GROUPS (PM_MAX_DEDICATED / PM_CLASS_SLOTS)
#define PM_EXTRA_GROUPS (PM_MAX_BUCKET_SETS + PM_DEDICATED_GROUPS)
#define PM_MAX_CACHES (PM_CLASS_SLOTS * (PM_MAX_PARTITIONS + PM_EXTRA_GROUPS))
#define PM_CID(cls, part) (((size_t)(part) << PM_CLASS_BITS) | (cls))
#define PM_CID_CLASS(cid) ((unsigned)(cid) & (PM_CLASS_SLOTS - 1))
#define PM_CID_PART(cid) ((unsigned)((cid) >> PM_CLASS_BITS))
#define PM_CID_VALID(cid) (pm_caches[cid].ready)
/* Per-cache tables (thread-cache bins, hot cache fields) have 32-byte
 * entries, so a cache id shifted by PM_ENTRY_SHIFT is an entry's offset.
 * The fast paths carry the partition as such an offset ("part_off",
 * partition << PM_PART_SHIFT) and the class as one too. */
#define PM_ENTRY_SHIFT 5u
#define PM_PART_SHIFT (PM_CLASS_BITS + PM_ENTRY_SHIFT)
/* Requests at or below this size use the direct lookup table. */
#define PM_SMALL_LOOKUP_MAX 1024u

/* ---- os.c ---- */
void *pm_os_reserve(size_t size);                  /* PROT_NONE, no commit charge */
bool pm_os_commit(void *addr, size_t size);        /* make RW */
void pm_os_decommit(void *addr, size_t size);      /* give pages back, keep range */
void *pm_os_alloc(size_t size);                    /* RW zeroed pages for metadata */
void pm_os_random(void *buf, size_t len);
void pm_write_stderr(const char *s, size_t len);
/* Formats "partmalloc: <what> at <ptr> (cache <name>)" and aborts. */
__attribute__((noreturn)) void pm_fatal_ptr(const char *what, const void *ptr, const char *cache);
__attribute__((noreturn)) void pm_fatal(const char *msg);
size_t pm_fmt_hex(char *out, uint64_t v);          /* 0x..., returns length */

/* Spin-free mutex wrapper; pthread mutexes are fork-reset in init.c. */
typedef pthread_mutex_t pm_lock_t;
#define PM_LOCK_INIT PTHREAD_MUTEX_INITIALIZER
static inline void pm_lock(pm_lock_t *l) { pthread_mutex_lock(l); }
static inline void pm_unlock(pm_lock_t *l) { pthread_mutex_unlock(l); }

/* ---- options.c ---- */
/* Defences chosen by PARTMALLOC_HARDEN (docs/security.md). */
struct pm_harden {
    bool slot_order;        /* random slot order within each slab */
    bool group_guards;      /* a guard page between groups of slabs */
    bool slab_guards;       /* a guard page after every slab */
    bool zero_on_free;      /* freed objects zeroed, checked still zero on reuse */
    bool canary;            /* a canary after each object, checked on free */
    bool quarantine;        /* freed objects reused late, in random order */
    bool checked_usable;    /* malloc_usable_size returns the size asked for */
    bool large_reuse;       /* freed large blocks kept mapped for reuse */
    bool zero_inaccessible; /* malloc(0) returns distinct inaccessible pointers */
};
/* The defences above that need the size of each request and every free on
 * the slow path: with any of them the thread caches are bypassed. */
static inline bool pm_harden_slow_only(const struct pm_harden *h) {
    return h->zero_on_free || h->canary || h->quarantine || h->checked_usable || h->zero_inaccessible;
}

struct pm_options {
    enum pm_mode mode;
    unsigned partitions;
    uint64_t token_max;   /* 0 = SIZE_MAX, Clang's default */
    bool seed_set;
    uint64_t seed;
    /* PARTMALLOC_STATS=stderr|<path>[,format]: statistics at exit */
    bool stats_at_exit;
    bool stats_to_stderr;
    char stats_path[256];           /* "%p" becomes the process id */
    enum pm_stats_format stats_format;
    /* PARTMALLOC_STATS_SIGNAL=<signal>: a JSON dump on demand, written to
     * PARTMALLOC_STATS_DIR (default /tmp) as partmalloc-<pid>.json */
    int stats_signal;               /* 0: none */
    char stats_dir[256];
    struct pm_harden harden;
};
void pm_options_read(struct pm_options *out);

/* ---- token_stats.c: the counting build's census (stats_format.h) ---- */
/* Fills out[0 .. max) with the (token, partition) pairs seen; returns how
 * many there are. Always 0 outside the counting build. */
size_t pm_token_census(struct pm_census_entry *out, size_t max);
void pm_census_lock_all(void);    /* across fork; no-ops outside the counting build */
void pm_census_unlock_all(void);
void pm_census_reinit_locks(void);

/* ---- stats.c ---- */
void pm_stats_configure(const struct pm_options *o); /* at initialization */
void pm_stats_install_signal(void);                   /* from the constructor */

/* ---- sizeclass.c ---- */
extern const uint32_t pm_class_size[PM_NUM_CLASSES];
/* The class of each size up to 1 KiB, as an entry offset (class << PM_ENTRY_SHIFT). */
extern const uint16_t pm_class_off_small[PM_SMALL_LOOKUP_MAX + 1];
unsigned pm_class_of_large_small(size_t size); /* PM_SMALL_LOOKUP_MAX < size <= PM_MAX_SMALL */

static inline unsigned pm_size_to_class(size_t size) {
    if (PM_LIKELY(size <= PM_SMALL_LOOKUP_MAX))
        return pm_class_off_small[size] >> PM_ENTRY_SHIFT;
    return pm_class_of_large_small(size);
}

/* ---- cache.c ---- */
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

/* ---- tcache.c ---- */
struct pm_bin {
    struct pm_entry *top;   /* next free entry slot; entries below are cached objects */
    struct pm_entry *base;
    struct pm_entry *end;
    uint64_t allocs;        /* objects this thread took from the bin, ever (statistics) */
};

struct pm_tcache {
    /* First, at offset 0 with 32-byte bins: each bin (its top, base, end
     * and counter) lies within one cache line. */
    struct pm_bin bins[PM_MAX_CACHES];
    struct pm_tcache *next_free;
    struct pm_tcache *next_all;        /* every cache ever made, for statistics */
};

extern __thread struct pm_tcache *pm_tc __attribute__((tls_model("initial-exec")));
extern struct pm_tcache pm_tcache_empty;

/* `size`: the size asked for (slow_only defences need it). */
void *pm_tcache_alloc_slow(size_t cid, size_t size);
void pm_tcache_free_slow(size_t cid, void *ptr, uint8_t *state);
void pm_tcache_flush_current(void);
void pm_tcache_init(void);
void pm_tcache_lock_all(void);
void pm_tcache_reinit_locks(void);
void pm_tcache_unlock_all(void);
/* Sum over every thread cache of bins[cid].allocs (racy reads: statistics). */
uint64_t pm_tcache_allocs(size_t cid);

/* ---- large.c ---- */
void *pm_large_alloc(size_t size, size_t alignment, bool zero);
/* Returns the usable size of a live large pointer, or 0 if `ptr` is not one. */
size_t pm_large_usable(const void *ptr);
/* 1: live large block (usable size stored), -1: a recently freed one, 0: neither. */
int pm_large_state(const void *ptr, size_t *usable);
bool pm_large_free(void *ptr, size_t check_size, size_t check_align); /* false: not ours */
void *pm_large_realloc(void *ptr, size_t size);
/* Unmaps the freed blocks kept for reuse; returns their bytes. */
size_t pm_large_trim(void);
/* Live blocks and their bytes (a scan of the table), allocations ever. */
void pm_large_counts(size_t *live, size_t *bytes, size_t *kept, uint64_t *allocs);
void pm_large_lock_all(void);
void pm_large_reinit_locks(void);
void pm_large_unlock_all(void);

/* ---- harden.c: the defences that bypass the thread caches ---- */
void *pm_strict_alloc(size_t cid, size_t size);
void *pm_strict_alloc_aligned(size_t alignment, size_t size, size_t part_off);
void pm_strict_free(size_t cid, void *ptr, uint8_t *state);
size_t pm_strict_size(size_t cid, uint64_t idx); /* the size asked for */
/* malloc(0) pointers: -1 not one, 0 never handed out, 1 live, 2 freed,
 * 3 inside one. */
int pm_zero_state(const void *ptr);
/* Frees a malloc(0) pointer for `op`; false if `ptr` is not one. Aborts on
 * a double or invalid free. */
bool pm_zero_free(const void *ptr, const char *op);
void pm_quarantine_drain(void);
void pm_harden_lock_all(void);
void pm_harden_unlock_all(void);
void pm_harden_reinit_locks(void);

/* ---- kmalloc.c ---- */
struct pm_globals {
    enum pm_mode mode;
    unsigned partitions;
    uint64_t part_mask;       /* (partitions - 1) << PM_PART_SHIFT */
    unsigned num_caches;      /* cache ids: (partitions + PM_EXTRA_GROUPS) << PM_CLASS_BITS */
    unsigned bucket_group;    /* group of bucket set 0: partitions */
    unsigned dedicated_cid;   /* first dedicated cache id */
    uint64_t token_half;      /* tokens >= this (and < token_max) hold pointers */
    uint64_t token_max;
    struct pm_harden harden;
    bool slow_only;           /* pm_harden_slow_only(&harden): thread caches bypassed */
    /* Secrets, each drawn on its own so that one leaked does not give away
     * another: the canary's, and the seed of slot order and quarantine. */
    uint64_t canary_key[2];
    uint64_t order_key;
    uint64_t secret;          /* keys the call-site hash */
    uint64_t secret_mul;      /* odd multiplier derived from the secret */
};
extern struct pm_globals pm_g;
extern int pm_initialized;
void pm_init_slow(void);

static inline void pm_ensure_init(void) {
    if (PM_UNLIKELY(!__atomic_load_n(&pm_initialized, __ATOMIC_ACQUIRE)))
        pm_init_slow();
}

void *pm_alloc(size_t size, size_t part);
void *pm_alloc_aligned(size_t alignment, size_t size, size_t part);
void *pm_alloc_zeroed(size_t n, size_t size, size_t part);
/* `binding`: the partition is the type's (a token in typed mode), so the
 * block moves when it is in another partition; otherwise the call site's,
 * and a block that keeps its size class stays where it is. */
void *pm_realloc_part(void *ptr, size_t size, size_t part, bool binding);
void pm_dealloc(void *ptr);
void pm_dealloc_checked(void *ptr, size_t size, size_t alignment);
size_t pm_usable(const void *ptr, const char *op);

#define PM_CALLER() __builtin_return_address(0)

_Static_assert(sizeof(struct pm_bin) == 1u << PM_ENTRY_SHIFT, "bins are indexed by shift");
_Static_assert(sizeof(struct pm_cache_hot) == 1u << PM_ENTRY_SHIFT, "hot fields are indexed by shift");

#pragma GCC visibility pop

#endif /* PM_INTERNAL_H */
