/* partmalloc — partitioned slab allocator: public API.
 *
 * Every function here works whether or not the library also replaces the
 * C allocator (the default shared and static libraries do; a build with
 * PM_INTERPOSE=0 exports only these names).
 */
#ifndef PARTMALLOC_H
#define PARTMALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PARTMALLOC_VERSION "0.1.0"

#if defined(__GNUC__)
#define PARTMALLOC_API __attribute__((visibility("default")))
#else
#define PARTMALLOC_API
#endif

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

/* Fills *info and returns 1 if `ptr` points into memory partmalloc manages
 * (small slab space or a live large mapping); 0 otherwise. Never aborts. */
PARTMALLOC_API int pm_ptr_info(const void *ptr, struct pm_ptr_info *info);

/* Run-time configuration, fixed at the first allocation. */
struct pm_config {
    enum pm_mode mode;
    unsigned partitions;        /* N, a power of two from 1 to 64 */
    uint64_t token_max;         /* -falloc-token-max the program was built with; 0 = none */
    unsigned num_size_classes;
    size_t max_small_size;      /* larger requests are page-granular mappings */
    size_t cache_region_size;   /* address space owned by each (class, partition) cache */
};
PARTMALLOC_API void pm_get_config(struct pm_config *out);

/* The size class table. */
PARTMALLOC_API size_t pm_size_class_size(unsigned size_class);

/* The partition a token maps to in typed mode under the current config
 * (the documented mapping; see docs/tokens.md). */
PARTMALLOC_API unsigned pm_token_partition(size_t token);

/* Gives the calling thread's cached objects back to their caches and returns
 * every cache's empty slabs' pages to the OS. Returns the number of bytes
 * decommitted. Another thread's cache goes back when that thread exits or
 * calls pm_collect itself: no thread touches another's cache. */
PARTMALLOC_API size_t pm_collect(void);

#ifdef __cplusplus
}
#endif
#endif /* PARTMALLOC_H */
