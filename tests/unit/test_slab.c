/* The kernel-style API (<partmalloc/slab.h>): size arithmetic, flags,
 * krealloc and friends, dedicated caches, bucket sets. Built with gcc:
 * in-process calls use the no-inference fallback; the clang-22 programs of
 * tests/kapi check typed placement (tests/integration/test_slab_programs.c). */
#include "testutil.h"

#include <errno.h>
#include <stdint.h>

#include "partmalloc/slab.h"

struct item {
    struct item *next;
    long key;
};

struct blob {
    unsigned len;
    unsigned char data[] __counted_by(len);
};

static volatile size_t huge = SIZE_MAX / 2;

Test(slab, saturating_size_arithmetic) {
    cr_expect_eq(pm_size_mul(SIZE_MAX / 2, 3), SIZE_MAX);
    cr_expect_eq(pm_size_mul(1000, 1000), 1000000);
    cr_expect_eq(pm_size_add(SIZE_MAX - 1, 2), SIZE_MAX);
    cr_expect_eq(pm_struct_size(struct blob, data, 10), sizeof(struct blob) + 10);
    cr_expect_eq(pm_struct_size(struct item, next, 0), sizeof(struct item)); /* not a FAM, but the arithmetic */
    errno = 0;
    cr_expect_null(kmalloc_array(huge, 3, GFP_KERNEL));
    cr_expect_eq(errno, ENOMEM);
    cr_expect_null(kcalloc(3, huge, GFP_KERNEL));
    cr_expect_null(kmalloc_objs(struct item, huge));
    cr_expect_null(kmalloc_flex(struct blob, data, huge));
    cr_expect_null(kzalloc_flex(struct blob, data, SIZE_MAX, GFP_KERNEL));
}

Test(slab, objects_arrays_and_flex) {
    struct item *one = kmalloc_obj(*one);
    cr_assert_not_null(one);
    cr_expect_geq(ksize(one), sizeof *one);
    struct item *many = kzalloc_objs(struct item, 50, GFP_KERNEL);
    for (int i = 0; i < 50; i++)
        cr_assert(many[i].next == NULL && many[i].key == 0);
    struct blob *b = kzalloc_flex(*b, data, 300);
    cr_assert_not_null(b);
    cr_expect_geq(ksize(b), sizeof *b + 300);
    for (int i = 0; i < 300; i++)
        cr_assert_eq(b->data[i], 0);
    kfree(one);
    kfree(many);
    kfree(b);
    kfree(NULL);
}

Test(slab, krealloc_kmemdup_kstrdup) {
    char *p = krealloc(NULL, 10, GFP_KERNEL);
    memcpy(p, "123456789", 10);
    p = krealloc(p, 5000, GFP_KERNEL | __GFP_ZERO);
    cr_expect_str_eq(p, "123456789");
    for (int i = 10; i < 5000; i++)
        cr_assert_eq(p[i], 0, "byte %d not zeroed", i);
    cr_expect_null(krealloc(p, 0, GFP_KERNEL)); /* frees */
    int src[5] = {1, 2, 3, 4, 5};
    int *dup = kmemdup(src, sizeof src, GFP_KERNEL);
    cr_expect_eq(memcmp(dup, src, sizeof src), 0);
    kfree(dup);
    char *s = kstrdup("partition", GFP_KERNEL);
    cr_expect_str_eq(s, "partition");
    kfree(s);
    cr_expect_null(kstrdup(NULL, GFP_KERNEL));
}

static void nofail_oom(void *arg) {
    (void)arg;
    (void)kmalloc(huge, GFP_KERNEL | __GFP_NOFAIL);
}

Test(slab, nofail_aborts_instead_of_returning_null) {
    tu_expect_abort(nofail_oom, NULL, "partmalloc: out of memory in an allocation with __GFP_NOFAIL\n");
}

static int constructed;
static void count_ctor(void *obj) {
    constructed++;
    memset(obj, 0x77, 24);
}

Test(slab, dedicated_cache_owns_its_objects) {
    struct kmem_cache *c = kmem_cache_create("item_cache", sizeof(struct item), 0, 0, NULL);
    cr_assert_not_null(c);
    cr_expect_str_eq(kmem_cache_name(c), "item_cache");
    struct item *objs[1000];
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < 1000; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        struct pm_ptr_info info;
        cr_assert_eq(pm_ptr_info(objs[i], &info), 1);
        cr_assert_eq(info.kind, PM_CACHE_DEDICATED);
        cr_assert_str_eq(info.cache_name, "item_cache");
        lo = (uintptr_t)objs[i] < lo ? (uintptr_t)objs[i] : lo;
        hi = (uintptr_t)objs[i] > hi ? (uintptr_t)objs[i] : hi;
    }
    /* kmalloc of the same size never lands among them */
    for (int i = 0; i < 1000; i++) {
        void *k = kmalloc(sizeof(struct item), GFP_KERNEL);
        cr_assert((uintptr_t)k < lo || (uintptr_t)k > hi);
        kfree(k);
    }
    struct kmem_cache *other = kmem_cache_create("item_cache_2", sizeof(struct item), 0, 0, NULL);
    void *o = kmem_cache_alloc(other, GFP_KERNEL);
    cr_expect((uintptr_t)o < lo || (uintptr_t)o > hi, "two caches of one size share memory");
    kmem_cache_free(other, o);
    for (int i = 0; i < 1000; i++)
        kmem_cache_free(c, objs[i]);
    kmem_cache_destroy(c);
    kmem_cache_destroy(other);
}

Test(slab, dedicated_cache_alignment_ctor_and_zalloc) {
    struct kmem_cache *a = kmem_cache_create("aligned", 100, 256, 0, NULL);
    struct kmem_cache *h = kmem_cache_create("hwcache", 40, 0, SLAB_HWCACHE_ALIGN, NULL);
    for (int i = 0; i < 100; i++) {
        void *p = kmem_cache_alloc(a, GFP_KERNEL);
        void *q = kmem_cache_alloc(h, GFP_KERNEL);
        cr_assert_eq((uintptr_t)p % 256, 0);
        cr_assert_eq((uintptr_t)q % 64, 0);
    }
    constructed = 0;
    struct kmem_cache *c = kmem_cache_create("ctor_cache", 24, 8, 0, count_ctor);
    unsigned char *obj = kmem_cache_alloc(c, GFP_KERNEL);
    cr_expect_gt(constructed, 0, "the constructor ran on the fresh slab");
    cr_expect_eq(obj[0], 0x77);
    kmem_cache_free(c, obj);
    struct kmem_cache *z = kmem_cache_create("zeroed", 64, 0, 0, NULL);
    unsigned char *zo = kmem_cache_alloc(z, GFP_KERNEL);
    memset(zo, 0xff, 64);
    kmem_cache_free(z, zo);
    zo = kmem_cache_zalloc(z, GFP_KERNEL);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(zo[i], 0);
    cr_expect_null(kmem_cache_create("too_big", 40000, 0, 0, NULL));
    cr_expect_null(kmem_cache_create("bad_align", 64, 48, 0, NULL));
    cr_expect_null(kmem_cache_create(NULL, 64, 0, 0, NULL));
}

/* An odd multiple of 8 above 128 bytes with 8-byte alignment: the layout
 * used to step by 16 from it forever (found by the fuzzer). */
Test(slab, dedicated_cache_of_odd_multiples_of_8, .timeout = 20) {
    static const unsigned sizes[] = {136, 193, 200, 1000, 4104, 20008};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        struct kmem_cache *c = kmem_cache_create("odd_eights", sizes[i], 8, 0, NULL);
        cr_assert_not_null(c, "size %u", sizes[i]);
        void *p = kmem_cache_alloc(c, GFP_KERNEL), *q = kmem_cache_alloc(c, GFP_KERNEL);
        cr_assert(p && q);
        cr_expect_geq(ksize(p), sizes[i]);
        cr_expect_eq((uintptr_t)p % 8, 0);
        memset(p, 1, sizes[i]);
        memset(q, 2, sizes[i]);
        kmem_cache_free(c, p);
        kmem_cache_free(c, q);
        kmem_cache_destroy(c);
    }
}

struct wrong_free {
    struct kmem_cache *to;
    void *obj;
};

static void free_to_wrong_cache(void *arg) {
    struct wrong_free *w = arg;
    kmem_cache_free(w->to, w->obj);
}

static void use_after_destroy(void *arg) {
    struct kmem_cache *c = arg;
    kmem_cache_destroy(c);
    (void)kmem_cache_alloc(c, GFP_KERNEL);
}

Test(slab, wrong_cache_and_destroyed_cache_abort) {
    struct kmem_cache *caches[2] = {kmem_cache_create("cache_a", 32, 0, 0, NULL),
                                    kmem_cache_create("cache_b", 32, 0, 0, NULL)};
    /* a live object of cache_a (not one the child allocates in a slot just
     * freed: under strict the quarantine holds that slot) */
    struct wrong_free w = {caches[1], kmem_cache_alloc(caches[0], GFP_KERNEL)};
    char expected[200];
    snprintf(expected, sizeof expected,
             "partmalloc: kmem_cache_free to cache_b of an object of another cache at %p (cache cache_a)\n", w.obj);
    tu_expect_abort(free_to_wrong_cache, &w, expected);
    kmem_cache_free(caches[0], w.obj);
    snprintf(expected, sizeof expected, "partmalloc: use of an invalid or destroyed kmem_cache at %p (cache none)\n",
             (void *)caches[1]);
    tu_expect_abort(use_after_destroy, caches[1], expected);
}

Test(slab, destroyed_cache_addresses_are_never_reused) {
    struct kmem_cache *c = kmem_cache_create("short_lived", 128, 0, 0, NULL);
    void *objs[500];
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < 500; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        lo = (uintptr_t)objs[i] < lo ? (uintptr_t)objs[i] : lo;
        hi = (uintptr_t)objs[i] > hi ? (uintptr_t)objs[i] : hi;
    }
    for (int i = 0; i < 500; i++)
        kmem_cache_free(c, objs[i]);
    kmem_cache_destroy(c);
    struct kmem_cache *n = kmem_cache_create("successor", 128, 0, 0, NULL);
    for (int i = 0; i < 500; i++) {
        uintptr_t p = (uintptr_t)kmem_cache_alloc(n, GFP_KERNEL);
        cr_assert(p < lo || p > hi, "a new cache got a destroyed cache's address");
    }
}

Test(slab, bucket_sets_are_separate) {
    kmem_buckets *user = kmem_buckets_create("user_buckets", 0, 0, 0, NULL);
    kmem_buckets *net = kmem_buckets_create("net_buckets", 0, 0, 0, NULL);
    cr_assert_not_null(user);
    cr_assert_not_null(net);
    for (size_t n = 1; n <= 32768; n = n * 3 + 1) {
        void *u = kmem_buckets_alloc(user, n, GFP_KERNEL);
        void *v = kmem_buckets_alloc(net, n, GFP_KERNEL | __GFP_ZERO);
        void *k = kmalloc(n, GFP_KERNEL);
        struct pm_ptr_info iu, iv, ik;
        cr_assert(pm_ptr_info(u, &iu) && pm_ptr_info(v, &iv) && pm_ptr_info(k, &ik));
        cr_expect_eq(iu.kind, PM_CACHE_BUCKET);
        cr_expect_eq(ik.kind, PM_CACHE_KMALLOC);
        cr_expect_neq(iu.partition, iv.partition);
        char want[40];
        snprintf(want, sizeof want, "user_buckets-%zu", iu.object_size);
        cr_expect_str_eq(iu.cache_name, want);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(((unsigned char *)v)[i], 0);
        kfree(u);
        kfree(v);
        kfree(k);
    }
    void *fallback = kmem_buckets_alloc(NULL, 64, GFP_KERNEL);
    struct pm_ptr_info info;
    pm_ptr_info(fallback, &info);
    cr_expect_eq(info.kind, PM_CACHE_KMALLOC);
    kfree(fallback);
}
