/* The pm_* API: allocation, sizes, alignment, realloc edge cases, errno.
 * Also runs under ASan+UBSan against the core alone. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

Test(api, malloc_sizes_usable_and_aligned) {
    for (size_t n = 0; n <= 70000; n = n < 64 ? n + 1 : n * 5 / 4) {
        unsigned char *p = pm_malloc(n);
        cr_assert_not_null(p, "size %zu", n);
        size_t u = pm_usable_size(p);
        cr_expect_geq(u, n, "usable %zu < %zu", u, n);
        if (n >= 16)
            cr_expect_eq((uintptr_t)p % 16, 0, "size %zu not 16-aligned: %p", n, (void *)p);
        else
            cr_expect_eq((uintptr_t)p % 8, 0);
        memset(p, 0xa5, u);
        pm_free(p);
    }
}

Test(api, size_classes_waste_bound) {
    struct pm_config c;
    pm_get_config(&c);
    cr_assert_eq(c.num_size_classes, 41);
    cr_assert_eq(c.max_small_size, 32768);
    for (size_t n = 1; n <= c.max_small_size; n++) {
        void *p = pm_malloc(n);
        size_t u = pm_usable_size(p);
        /* 16-byte alignment sets the step up to 64 bytes; above, <= 25%. */
        if (n > 64)
            cr_expect_leq((double)(u - n) / (double)u, 0.25, "size %zu usable %zu", n, u);
        else
            cr_expect_leq(u - n, 15, "size %zu usable %zu", n, u);
        pm_free(p);
    }
}

Test(api, malloc_zero_gives_distinct_pointers) {
    void *a = pm_malloc(0), *b = pm_malloc(0);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_neq(a, b);
    pm_free(a);
    pm_free(b);
}

Test(api, huge_malloc_fails_with_enomem) {
    errno = 0;
    cr_expect_null(pm_malloc(SIZE_MAX));
    cr_expect_eq(errno, ENOMEM);
    errno = 0;
    cr_expect_null(pm_malloc(SIZE_MAX / 2));
    cr_expect_eq(errno, ENOMEM);
    errno = 0;
    cr_expect_null(pm_malloc((size_t)1 << 50)); /* 1 PiB: the OS refuses */
    cr_expect_eq(errno, ENOMEM);
}

Test(api, calloc_zeroes_and_checks_overflow) {
    for (int round = 0; round < 3; round++) {
        unsigned char *p = pm_malloc(256);
        memset(p, 0xff, 256);
        pm_free(p); /* the next calloc may reuse this dirty slot */
        unsigned char *z = pm_calloc(16, 16);
        for (int i = 0; i < 256; i++)
            cr_assert_eq(z[i], 0);
        pm_free(z);
    }
    unsigned char *big = pm_calloc(1, 1 << 20);
    for (size_t i = 0; i < (1 << 20); i += 4096)
        cr_assert_eq(big[i], 0);
    pm_free(big);
    errno = 0;
    cr_expect_null(pm_calloc(SIZE_MAX / 2, 3));
    cr_expect_eq(errno, ENOMEM);
    errno = 0;
    cr_expect_null(pm_calloc((size_t)1 << 33, (size_t)1 << 33));
    cr_expect_eq(errno, ENOMEM);
    void *zero = pm_calloc(0, 10);
    cr_expect_not_null(zero);
    pm_free(zero);
}

Test(api, realloc_edge_cases) {
    /* NULL acts as malloc */
    char *p = pm_realloc(NULL, 10);
    cr_assert_not_null(p);
    memcpy(p, "abcdefghi", 10);
    /* growth keeps the contents, across every size range */
    size_t sizes[] = {24, 100, 1000, 5000, 40000, 100000, 3 << 20, 50000, 2000, 30, 5};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        p = pm_realloc(p, sizes[i]);
        cr_assert_not_null(p);
        cr_assert_eq(memcmp(p, "abcdefghi", sizes[i] < 10 ? sizes[i] : 10), 0, "after realloc to %zu", sizes[i]);
        cr_assert_geq(pm_usable_size(p), sizes[i]);
    }
    /* same class: same pointer */
    char *q = pm_realloc(p, 6);
    cr_expect_eq(q, p);
    /* size 0 frees and returns NULL (glibc) */
    cr_expect_null(pm_realloc(q, 0));
    /* failure leaves the block intact and sets ENOMEM */
    char *r = pm_malloc(100);
    strcpy(r, "kept");
    errno = 0;
    cr_expect_null(pm_realloc(r, SIZE_MAX - 100));
    cr_expect_eq(errno, ENOMEM);
    cr_expect_str_eq(r, "kept");
    pm_free(r);
}

Test(api, large_realloc_grows_and_shrinks_in_place_or_by_mremap) {
    size_t n = 1 << 20;
    unsigned char *p = pm_malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7);
    for (size_t m = n * 2; m <= (size_t)64 << 20; m *= 2) {
        p = pm_realloc(p, m);
        cr_assert_not_null(p);
        for (size_t i = 0; i < n; i += 997)
            cr_assert_eq(p[i], (unsigned char)(i * 7));
        p[m - 1] = 1; /* the whole new size is writable */
    }
    unsigned char *s = pm_realloc(p, n / 2);
    cr_expect_eq(s, p, "shrinking a large block stays in place");
    for (size_t i = 0; i < n / 2; i += 991)
        cr_assert_eq(s[i], (unsigned char)(i * 7));
    cr_expect_eq(pm_usable_size(s), n / 2);
    pm_free(s);
}

Test(api, aligned_alloc_and_posix_memalign) {
    for (size_t a = 1; a <= ((size_t)1 << 22); a <<= 1) {
        size_t sizes[] = {1, 8, 24, a, a + 1, 3 * a, 40000};
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            void *p = pm_aligned_alloc(a, sizes[i]);
            cr_assert_not_null(p, "align %zu size %zu", a, sizes[i]);
            cr_expect_eq((uintptr_t)p % a, 0, "align %zu size %zu: %p", a, sizes[i], p);
            cr_expect_geq(pm_usable_size(p), sizes[i]);
            memset(p, 1, sizes[i]);
            pm_free_aligned_sized(p, a, sizes[i]);
            void *q = NULL;
            if (a >= sizeof(void *)) {
                cr_assert_eq(pm_posix_memalign(&q, a, sizes[i]), 0);
                cr_expect_eq((uintptr_t)q % a, 0);
                pm_free(q);
            }
        }
    }
    errno = 0;
    cr_expect_null(pm_aligned_alloc(3, 10));
    cr_expect_eq(errno, EINVAL);
    errno = 0;
    cr_expect_null(pm_aligned_alloc(0, 10));
    cr_expect_eq(errno, EINVAL);
    void *out = (void *)0x1234;
    errno = 0;
    cr_expect_eq(pm_posix_memalign(&out, 4, 10), EINVAL); /* not a multiple of sizeof(void *) */
    cr_expect_eq(pm_posix_memalign(&out, 24, 10), EINVAL);
    cr_expect_eq(pm_posix_memalign(&out, 0, 10), EINVAL);
    cr_expect_eq(out, (void *)0x1234, "out untouched on failure");
    cr_expect_eq(errno, 0, "posix_memalign leaves errno alone");
    cr_expect_eq(pm_posix_memalign(&out, 64, SIZE_MAX - 10), ENOMEM);
    cr_expect_eq(out, (void *)0x1234);
}

Test(api, free_sized_accepts_the_allocation_size) {
    for (size_t n = 1; n < 100000; n = n * 3 + 1) {
        void *p = pm_malloc(n);
        pm_free_sized(p, n);
        void *q = pm_calloc(n, 1);
        pm_free_sized(q, n);
    }
    pm_free_sized(NULL, 10);
    pm_free(NULL);
}

Test(api, ptr_info_names_caches) {
    struct pm_config c;
    pm_get_config(&c);
    void *p = pm_malloc(32);
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(p, &info), 1);
    cr_expect_eq(info.is_small, 1);
    cr_expect_eq(info.live, 1);
    cr_expect_eq(info.object_size, 32);
    cr_expect_eq(info.start, p);
    cr_expect_lt(info.partition, c.partitions);
    char want[32];
    if (info.partition == 0)
        snprintf(want, sizeof want, "kmalloc-32");
    else
        snprintf(want, sizeof want, "kmalloc-part-%02u-32", info.partition);
    cr_expect_str_eq(info.cache_name, want);
    cr_assert_eq(pm_ptr_info((char *)p + 8, &info), 1);
    cr_expect_eq(info.start, p, "interior pointers map to their object");
    pm_free(p);
    cr_assert_eq(pm_ptr_info(p, &info), 1);
    cr_expect_eq(info.live, 0);
    void *big = pm_malloc(100000);
    cr_assert_eq(pm_ptr_info(big, &info), 1);
    cr_expect_eq(info.is_small, 0);
    cr_expect_str_eq(info.cache_name, "large");
    pm_free(big);
    int on_stack = 0;
    cr_expect_eq(pm_ptr_info(&on_stack, &info), 0);
    cr_expect_eq(pm_ptr_info(NULL, &info), 0);
}

Test(api, many_objects_distinct_and_intact) {
    enum { N = 20000 };
    static unsigned char *objs[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 700) + 1;
        objs[i] = pm_malloc(n);
        cr_assert_not_null(objs[i]);
        memset(objs[i], i & 0xff, n);
    }
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 700) + 1;
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(objs[i][k], (unsigned char)(i & 0xff), "object %d byte %zu", i, k);
        pm_free(objs[i]);
    }
}

Test(api, freed_large_blocks_are_kept_for_reuse_and_zeroed_for_calloc) {
    pm_collect(); /* start with no kept blocks */
    unsigned char *a = pm_malloc(1 << 20);
    memset(a, 0xab, 1 << 20);
    pm_free(a);
    unsigned char *b = pm_malloc((1 << 20) - 100); /* about the same size: the kept block */
    cr_expect_eq(b, a, "a freed large block is reused");
    pm_free(b);
    unsigned char *c = pm_calloc(1, 1 << 20);
    cr_expect_eq(c, a);
    for (size_t i = 0; i < (1 << 20); i += 61)
        cr_assert_eq(c[i], 0, "calloc of a reused block is zeroed (byte %zu)", i);
    pm_free(c);
    unsigned char *d = pm_malloc(4 << 20); /* much larger: a fresh mapping */
    cr_expect_neq(d, a);
    pm_free(d);
    cr_expect_geq(pm_collect(), (size_t)(1 << 20), "pm_collect unmaps the kept blocks");
}

Test(api, version_at_run_time_matches_the_header_numbers) {
    const char *v = pm_version();
    cr_assert_not_null(v);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", PARTMALLOC_VERSION_MAJOR, PARTMALLOC_VERSION_MINOR,
             PARTMALLOC_VERSION_PATCH);
    cr_expect_str_eq(v, want, "pm_version() %s, header numbers %s", v, want);
    cr_expect_str_eq(v, PARTMALLOC_VERSION);
    cr_expect_eq(pm_version(), v, "one string for the life of the process");
}
