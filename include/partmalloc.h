/* partmalloc — partitioned slab allocator: public API.
 *
 * Every function here works whether or not the library also replaces the
 * C allocator: the shared and static libraries do; the sanitizer builds of
 * the tests leave src/malloc.c out and use only these names.
 */
#ifndef PARTMALLOC_H
#define PARTMALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; pm_version() gives the library's. The
 * string is the one source (the Makefile reads it); the numbers say the
 * same for #if, and the API suite checks that they agree. */
#define PARTMALLOC_VERSION "0.1.0"
#define PARTMALLOC_VERSION_MAJOR 0
#define PARTMALLOC_VERSION_MINOR 1
#define PARTMALLOC_VERSION_PATCH 0
#define PARTMALLOC_MAX_PARTITIONS 64

#if defined(__GNUC__)
#define PARTMALLOC_API __attribute__((visibility("default")))
#else
#define PARTMALLOC_API
#endif

/* The version of the library loaded at run time ("0.1.0"), which may be
 * newer than the header a program was built with. */
PARTMALLOC_API const char *pm_version(void);

/* Allocation. `token` is a Clang allocation token (see docs/tokens.md);
 * the plain forms choose the partition from the caller's address. */
PARTMALLOC_API void *pm_malloc(size_t size);
PARTMALLOC_API void *pm_malloc_token(size_t size, size_t token);
PARTMALLOC_API void *pm_calloc(size_t n, size_t size);
PARTMALLOC_API void *pm_calloc_token(size_t n, size_t size, size_t token);
PARTMALLOC_API void *pm_realloc(void *ptr, size_t size);
PARTMALLOC_API void *pm_realloc_token(void *ptr, size_t size, size_t token);
PARTMALLOC_API void *pm_aligned_alloc(size_t alignment, size_t size);
PARTMALLOC_API void *pm_aligned_alloc_token(size_t alignment, size_t size, size_t token);
PARTMALLOC_API int pm_posix_memalign(void **out, size_t alignment, size_t size);
PARTMALLOC_API void pm_free(void *ptr);
PARTMALLOC_API void pm_free_sized(void *ptr, size_t size);
PARTMALLOC_API void pm_free_aligned_sized(void *ptr, size_t alignment, size_t size);
PARTMALLOC_API size_t pm_usable_size(const void *ptr);

/* Where an allocation lives. */
enum pm_mode { PM_MODE_TYPED = 0, PM_MODE_RANDOM = 1, PM_MODE_NONE = 2 };

enum pm_cache_kind_public { PM_CACHE_KMALLOC = 0, PM_CACHE_BUCKET = 1, PM_CACHE_DEDICATED = 2 };

struct pm_ptr_info {
    int is_small;          /* 1: slab object; 0: large mapping */
    int kind;              /* small only: kmalloc, bucket set or dedicated cache */
    int live;              /* 1 if currently allocated */
    unsigned size_class;   /* index into the size-class table (small only) */
    unsigned partition;    /* kmalloc: 0 .. partitions-1; buckets and dedicated: the group */
    size_t object_size;    /* usable size */
    const void *start;     /* first byte of the object */
    char cache_name[32];   /* kmalloc-<size> or kmalloc-part-NN-<size>, or "large" */
};

/* Fills *info and returns 1 if `ptr` points into partmalloc's slab space
 * (any address of it: live, free or never used) or is the start of a large
 * block (live or recently freed); 0 otherwise. Never aborts. */
PARTMALLOC_API int pm_ptr_info(const void *ptr, struct pm_ptr_info *info);

/* Object size, for fortified string functions (docs/guide.md), under
 * hardened_malloc's names. malloc_object_size(p): the bytes from `p` to the
 * end of the live object that contains it, `p` anywhere inside it: the end
 * is where malloc_usable_size(start) ends (the slot, or under `strict`
 * with checked_usable or canary the size asked for; a large block's data
 * pages, or its size asked for under `strict`). 0 for a pointer partmalloc
 * did not hand out or that is no longer live: NULL, freed or never-used
 * slots, guard pages, malloc(0) objects (they have no bytes), another
 * allocator's memory, the stack. Never aborts; thread-safe; takes a lock
 * for pointers outside the slab regions (not for signal handlers).
 * malloc_object_size_fast(p): the same answer where address arithmetic
 * alone finds the object (small objects in each cache's first region,
 * malloc(0) objects, NULL), SIZE_MAX ("no bound known") everywhere else:
 * large blocks, regions a cache took later, memory that is not
 * partmalloc's. Takes no lock. */
PARTMALLOC_API size_t malloc_object_size(const void *ptr);
PARTMALLOC_API size_t malloc_object_size_fast(const void *ptr);

/* Typed mode's three groups of partitions (docs/choosing-a-mode.md): types
 * whose type is unknown (a token naming no type, and calls without a token
 * in a program built with tokens), known types without pointers, known
 * types with pointers. */
enum pm_group { PM_GROUP_UNKNOWN, PM_GROUP_NO_POINTERS, PM_GROUP_POINTERS };
#define PM_GROUP_COUNT 3
struct pm_group_range {
    unsigned first, count;      /* partitions [first, first + count) */
};

/* Run-time configuration, fixed at the first allocation. */
struct pm_config {
    enum pm_mode mode;
    unsigned partitions;        /* N, a power of two from 1 to 64 */
    uint64_t token_max;         /* -falloc-token-max the program was built with; 0 = none */
    unsigned num_size_classes;
    size_t max_small_size;      /* the largest request the size-class caches serve (1 MiB, 32 KiB with
                                 * the strict defences or small regions); larger ones are
                                 * page-granular mappings of their own */
    size_t cache_region_size;   /* address space owned by each (class, partition) cache */
    /* Typed mode: each group's partitions, indexed by enum pm_group (for
     * N = 2 the unknowns share partition 0 with the types with pointers;
     * for N = 1 every group is partition 0; in the other modes each group
     * is all N), and whether calls without a token go to the unknown group
     * (the program was built with tokens) or spread over all N. */
    struct pm_group_range groups[PM_GROUP_COUNT];
    int plain_calls_unknown;
};
PARTMALLOC_API void pm_get_config(struct pm_config *out);

/* The size class table. */
PARTMALLOC_API size_t pm_size_class_size(unsigned size_class);

/* The partition a token maps to in typed mode under the current config
 * (the documented mapping; see docs/tokens.md). A token that names no type
 * maps to the unknown group, where the call site chooses the partition:
 * this returns the group's first, 0. In the other modes, 0. */
PARTMALLOC_API unsigned pm_token_partition(size_t token);
/* The group a token's allocations go to in typed mode. */
PARTMALLOC_API enum pm_group pm_token_group(size_t token);

/* Gives the calling thread's cached objects back to their caches and returns
 * every cache's empty slabs' pages to the OS. Returns the number of bytes
 * decommitted. Another thread's cache goes back when that thread exits or
 * calls pm_collect itself: no thread touches another's cache. */
PARTMALLOC_API size_t pm_collect(void);

/* ---- Statistics (see docs/guide.md) ----
 * Kept without atomics on the fast paths: each thread counts its own
 * allocations in its cache; reading merges every thread's counts. Object and
 * slab counts are read from the caches' out-of-line slot states. A read while
 * other threads allocate is a consistent-enough snapshot, not an atomic one. */
/* The counted fields of a cache, written once: the struct below, the JSON the
 * stats dump writes (src/stats_format.c) and the command's reader of that
 * JSON (tools/dump.c) all expand this list. X(type, field, what it holds);
 * every field is an unsigned count, named in JSON as in C. */
#define PM_CACHE_STAT_FIELDS(X) \
    X(unsigned, partition,      "kmalloc: partition; bucket sets and dedicated caches: their group") \
    X(unsigned, size_class,     "kmalloc and buckets; pm_get_config's num_size_classes for dedicated") \
    X(size_t,   object_size,    "bytes per object") \
    X(size_t,   objs_per_slab,  "slots per slab") \
    X(size_t,   pages_per_slab, "4 KiB pages per slab") \
    X(size_t,   active_objs,    "allocated now") \
    X(size_t,   total_objs,     "slots of the slabs that hold memory") \
    X(size_t,   active_slabs,   "slabs with at least one allocated object") \
    X(size_t,   total_slabs,    "slabs that hold memory") \
    X(size_t,   cached_objs,    "freed, held by thread caches (or the strict quarantine)") \
    X(size_t,   peak_objs,      "the most objects out of the slabs at once: live or cached") \
    X(uint64_t, allocs,         "allocations served since start") \
    X(uint64_t, frees,          "allocations - active_objs")

struct pm_cache_stats {
    char name[32];              /* kmalloc-<size>, kmalloc-part-NN-<size>, <bucket set>-<size>, <dedicated> */
    int kind;                   /* enum pm_cache_kind_public */
#define PM_CACHE_STAT_DECLARE_(type, field, what) type field;
    PM_CACHE_STAT_FIELDS(PM_CACHE_STAT_DECLARE_)
#undef PM_CACHE_STAT_DECLARE_
};

/* Large blocks (above max_small_size): page-granular mappings. */
struct pm_large_stats {
    size_t active_blocks;
    size_t active_bytes;        /* usable bytes of the live blocks */
    size_t kept_blocks;         /* freed blocks kept mapped for reuse */
    uint64_t allocs;
    uint64_t frees;
    size_t peak_blocks;         /* the most blocks live at once */
    size_t peak_bytes;          /* the most usable bytes live at once */
};

/* Small objects (the slab caches) as a whole: the usable bytes of the
 * objects live now, and the most bytes ever out of the slabs at once. The
 * peak is kept where thread caches take objects from the slabs and give
 * them back, not on each malloc and free: it counts the objects the thread
 * caches held as well (at most their capacity above the true peak). */
struct pm_small_stats {
    size_t active_bytes;
    size_t peak_bytes;
};
PARTMALLOC_API void pm_stats_small(struct pm_small_stats *out);

/* Fills out[0 .. max) with the caches that have served an allocation or hold
 * slabs, in cache-id order (partition, then size), and returns how many
 * there are (which may exceed max). */
PARTMALLOC_API size_t pm_stats_caches(struct pm_cache_stats *out, size_t max);
PARTMALLOC_API void pm_stats_large(struct pm_large_stats *out);

enum pm_stats_format {
    PM_STATS_HISTOGRAM = 0,     /* objects per partition, '+' bars, pointer/data split */
    PM_STATS_SLABINFO = 1,      /* /proc/slabinfo version 2.1 */
    PM_STATS_JSON = 2,          /* everything, for tools (docs/guide.md gives the schema) */
};
/* Writes the statistics to file descriptor `fd`. Returns 0, or -1 with errno
 * set if a write failed. Does not allocate: safe in a signal handler. */
PARTMALLOC_API int pm_stats_write(int fd, enum pm_stats_format format);

#ifdef __cplusplus
}
#endif
#endif /* PARTMALLOC_H */
