/* partmalloc/slab.h — the Linux kernel's slab API for userspace programs.
 *
 *   kmalloc(size, flags)  kzalloc  kcalloc  kmalloc_array  krealloc
 *   kfree  ksize  kmemdup  kstrdup
 *   kmalloc_obj(VAR_OR_TYPE[, flags])          one object, typed pointer
 *   kmalloc_objs(VAR_OR_TYPE, n[, flags])      an array
 *   kmalloc_flex(VAR_OR_TYPE, FAM, n[, flags]) a struct with a flexible array
 *   kzalloc_obj / kzalloc_objs / kzalloc_flex  the same, zeroed
 *   kmem_cache_create / _alloc / _zalloc / _free / _destroy
 *   kmem_buckets_create / kmem_buckets_alloc
 *
 * Every kmalloc call passes the token of its type, inferred at the call site
 * by clang 22's __builtin_infer_alloc_token (no -fsanitize flag needed);
 * with a compiler that lacks it (gcc), the call is placed by its call site,
 * as plain malloc is. Sizes are computed with saturating arithmetic: an
 * overflow asks for SIZE_MAX bytes, which fails, never a short buffer.
 *
 * Flags: only __GFP_ZERO (zero the memory) and __GFP_NOFAIL (abort instead
 * of returning NULL) change anything; GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT,
 * GFP_USER, __GFP_NOWARN and __GFP_ACCOUNT are accepted and mean nothing in
 * userspace. See docs/kernel-api.md.
 */
#ifndef PARTMALLOC_SLAB_H
#define PARTMALLOC_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include "../partmalloc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned int gfp_t;
#define GFP_KERNEL 0u
#define GFP_ATOMIC 0u
#define GFP_NOWAIT 0u
#define GFP_USER 0u
#define __GFP_NOWARN 0u
#define __GFP_ACCOUNT 0u
#define __GFP_ZERO 0x100u
#define __GFP_NOFAIL 0x800u

/* kmem_cache_create flags */
#define SLAB_HWCACHE_ALIGN 0x2000u   /* align objects to 64 bytes */
#define SLAB_PANIC 0x40000u          /* abort if the cache cannot be created */
#define SLAB_ACCOUNT 0u
#define SLAB_RECLAIM_ACCOUNT 0u
#define SLAB_NO_MERGE 0u             /* caches are never merged anyway */
#define SLAB_TYPESAFE_BY_RCU 0u

struct kmem_cache;
typedef struct kmem_buckets kmem_buckets;

/* ---- tokens ---- */

/* The token a call passes when the compiler cannot infer one: the library
 * then places the allocation by its call site. */
#define PM_NO_TOKEN ((size_t)-1)

#if defined(__has_builtin)
#if __has_builtin(__builtin_infer_alloc_token)
#define PM_INFER_TOKEN(...) __builtin_infer_alloc_token(__VA_ARGS__)
#endif
#endif
#ifndef PM_INFER_TOKEN
#define PM_INFER_TOKEN(...) PM_NO_TOKEN
#endif

/* ---- saturating size arithmetic ---- */

static inline size_t pm_size_mul(size_t a, size_t b) {
    size_t r;
    return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

static inline size_t pm_size_add(size_t a, size_t b) {
    size_t r;
    return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}

/* ---- the library's entry points (use the macros below) ---- */

PARTMALLOC_API void *pm_kmalloc(size_t size, gfp_t flags, size_t token);
PARTMALLOC_API void *pm_kmalloc_array(size_t n, size_t size, gfp_t flags, size_t token);
PARTMALLOC_API void *pm_krealloc(const void *ptr, size_t size, gfp_t flags, size_t token);
PARTMALLOC_API void pm_kfree(const void *ptr);
PARTMALLOC_API size_t pm_ksize(const void *ptr);
PARTMALLOC_API void *pm_kmemdup(const void *src, size_t len, gfp_t flags, size_t token);
PARTMALLOC_API char *pm_kstrdup(const char *s, gfp_t flags);

PARTMALLOC_API struct kmem_cache *kmem_cache_create(const char *name, unsigned int size, unsigned int align,
                                                    unsigned int flags, void (*ctor)(void *));
PARTMALLOC_API void *kmem_cache_alloc(struct kmem_cache *cache, gfp_t flags);
PARTMALLOC_API void kmem_cache_free(struct kmem_cache *cache, void *obj);
PARTMALLOC_API void kmem_cache_destroy(struct kmem_cache *cache);
PARTMALLOC_API const char *kmem_cache_name(const struct kmem_cache *cache);
#define kmem_cache_zalloc(cache, flags) kmem_cache_alloc((cache), (flags) | __GFP_ZERO)

/* A separate set of size classes for allocations whose size an attacker
 * controls (the kernel's SLAB_BUCKETS): they never share memory with
 * kmalloc's caches or another set's. */
PARTMALLOC_API kmem_buckets *kmem_buckets_create(const char *name, unsigned int flags, unsigned int useroffset,
                                                 unsigned int usersize, void (*ctor)(void *));
PARTMALLOC_API void *kmem_buckets_alloc(kmem_buckets *b, size_t size, gfp_t flags);

/* ---- the kernel's names ---- */

#define kmalloc(size, flags) pm_kmalloc((size), (flags), PM_INFER_TOKEN(size))
#define kzalloc(size, flags) pm_kmalloc((size), (flags) | __GFP_ZERO, PM_INFER_TOKEN(size))
#define kmalloc_array(n, size, flags) pm_kmalloc_array((n), (size), (flags), PM_INFER_TOKEN((size) * (n)))
#define kcalloc(n, size, flags) pm_kmalloc_array((n), (size), (flags) | __GFP_ZERO, PM_INFER_TOKEN((size) * (n)))
#define krealloc(ptr, size, flags) pm_krealloc((ptr), (size), (flags), PM_INFER_TOKEN(size))
#define kfree(ptr) pm_kfree(ptr)
#define ksize(ptr) pm_ksize(ptr)
#define kmemdup(src, len, flags) pm_kmemdup((src), (len), (flags), PM_INFER_TOKEN(len))
#define kstrdup(s, flags) pm_kstrdup((s), (flags))

/* Optional trailing flags: kmalloc_obj(p) means kmalloc_obj(p, GFP_KERNEL). */
#define PM_GFP(...) ((gfp_t)(PM_GFP_PICK(GFP_KERNEL, ##__VA_ARGS__, GFP_KERNEL)))
#define PM_GFP_PICK(dflt, flags, ...) (flags)

/* The call's shape is fixed, `(T *)kmalloc(sizeof(T), ...)`, so the compiler
 * always sees the type. VAR_OR_TYPE is a type or an expression of it
 * (usually *p). */
#define kmalloc_obj(VAR_OR_TYPE, ...)                                                              \
    ((__typeof__(VAR_OR_TYPE) *)pm_kmalloc(sizeof(__typeof__(VAR_OR_TYPE)), PM_GFP(__VA_ARGS__),  \
                                           PM_INFER_TOKEN(sizeof(__typeof__(VAR_OR_TYPE)))))
#define kzalloc_obj(VAR_OR_TYPE, ...) kmalloc_obj(VAR_OR_TYPE, PM_GFP(__VA_ARGS__) | __GFP_ZERO)

#define kmalloc_objs(VAR_OR_TYPE, COUNT, ...)                                                      \
    ((__typeof__(VAR_OR_TYPE) *)pm_kmalloc_array((COUNT), sizeof(__typeof__(VAR_OR_TYPE)),         \
                                                 PM_GFP(__VA_ARGS__),                              \
                                                 PM_INFER_TOKEN(sizeof(__typeof__(VAR_OR_TYPE)) * (COUNT))))
#define kzalloc_objs(VAR_OR_TYPE, COUNT, ...) kmalloc_objs(VAR_OR_TYPE, COUNT, PM_GFP(__VA_ARGS__) | __GFP_ZERO)

/* Marks a flexible array's counter, as the kernel's __counted_by, where the
 * compiler knows the attribute (clang 18, gcc 15). */
#ifndef __counted_by
#if defined(__has_attribute)
#if __has_attribute(counted_by)
#define __counted_by(member) __attribute__((counted_by(member)))
#endif
#endif
#endif
#ifndef __counted_by
#define __counted_by(member)
#endif

/* Bytes of a struct with `count` elements in its flexible array FAM. */
#define pm_struct_size(TYPE, FAM, COUNT)                                                           \
    pm_size_add(sizeof(TYPE), pm_size_mul(sizeof(((TYPE *)0)->FAM[0]), (COUNT)))

/* Stores the count into the counter that __attribute__((counted_by)) names,
 * where the compiler can say which one (__builtin_counted_by_ref). */
#if defined(__has_builtin)
#if __has_builtin(__builtin_counted_by_ref)
#define PM_SET_FLEX_COUNTER(p, FAM, COUNT)                                                         \
    (void)(*_Generic(__builtin_counted_by_ref((p)->FAM), void *: &(size_t){0},                     \
                     default: __builtin_counted_by_ref((p)->FAM)) = (COUNT))
#endif
#endif
#ifndef PM_SET_FLEX_COUNTER
#define PM_SET_FLEX_COUNTER(p, FAM, COUNT) ((void)0)
#endif

#define kmalloc_flex(VAR_OR_TYPE, FAM, COUNT, ...)                                                 \
    __extension__({                                                                                \
        size_t pm_count_ = (COUNT);                                                                \
        __typeof__(VAR_OR_TYPE) *pm_obj_ = (__typeof__(VAR_OR_TYPE) *)pm_kmalloc(                  \
            pm_struct_size(__typeof__(VAR_OR_TYPE), FAM, pm_count_), PM_GFP(__VA_ARGS__),          \
            PM_INFER_TOKEN(sizeof(__typeof__(VAR_OR_TYPE))));                                       \
        if (pm_obj_)                                                                               \
            PM_SET_FLEX_COUNTER(pm_obj_, FAM, pm_count_);                                          \
        pm_obj_;                                                                                   \
    })
#define kzalloc_flex(VAR_OR_TYPE, FAM, COUNT, ...)                                                 \
    kmalloc_flex(VAR_OR_TYPE, FAM, COUNT, PM_GFP(__VA_ARGS__) | __GFP_ZERO)

/* ---- carrying a caller's token through a program's own wrapper ---- */

/* Built with clang-22 -fsanitize=alloc-token -fsanitize-alloc-token-extended,
 * a call to a function declared __attribute__((malloc, alloc_size(N))) or
 * __attribute__((alloc_size(N))) becomes __alloc_token_<name>(args...,
 * token). PARTMALLOC_TOKEN_COMPANION defines that companion from the
 * existing wrapper without copying its body: it records the caller's token
 * (and call site) for the wrapper's own allocation, then calls the wrapper.
 *
 *   void *xmalloc(size_t n) __attribute__((malloc, alloc_size(1)));
 *   PARTMALLOC_TOKEN_COMPANION(void *, xmalloc, (n), size_t n)
 *
 * The wrapper's own file must be built with -fsanitize=alloc-token too, so
 * that its malloc/calloc/realloc reach partmalloc's token entry points. */
PARTMALLOC_API void pm_token_scope_begin(size_t token, const void *call_site);
PARTMALLOC_API void pm_token_scope_end(void);

#if defined(__clang__)
#define PM_NO_TOKEN_REWRITE __attribute__((no_sanitize("alloc-token")))
#else
#define PM_NO_TOKEN_REWRITE
#endif
/* The companion's own call of the wrapper must not be rewritten into a call
 * of the companion. */
#define PARTMALLOC_TOKEN_COMPANION(RET, NAME, ARGS, ...)                                           \
    RET __alloc_token_##NAME(__VA_ARGS__, size_t pm_token_);                                        \
    PM_NO_TOKEN_REWRITE RET __alloc_token_##NAME(__VA_ARGS__, size_t pm_token_) {                   \
        pm_token_scope_begin(pm_token_, __builtin_return_address(0));                              \
        __typeof__(NAME) *volatile pm_wrapper_ = NAME; /* never inlined here, untokened */         \
        RET pm_result_ = pm_wrapper_ ARGS;                                                         \
        pm_token_scope_end();                                                                      \
        return pm_result_;                                                                         \
    }

#ifdef __cplusplus
}
#endif
#endif /* PARTMALLOC_SLAB_H */
