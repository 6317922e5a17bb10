/* The pm_* API: allocation, sizes, alignment, realloc edge cases, errno.
 * Also runs under ASan+UBSan against the core alone. */
#include <errno.h>
#include <stdint.h>

#include "partmalloc/slab.h"
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
    cr_assert_eq(c.num_size_classes, 61);
    /* classes above 32 KiB are served where a region holds 32 slots of them */
    size_t served = c.cache_region_size >= ((size_t)32 << 20) ? (size_t)1 << 20 : c.cache_region_size / 32;
    cr_assert_eq(c.max_small_size, served < 32768 ? 32768 : served);
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
    void *big = pm_malloc(TU_LARGE_BLOCK);
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
    unsigned char *a = pm_malloc(2 << 20);
    memset(a, 0xab, 2 << 20);
    pm_free(a);
    unsigned char *b = pm_malloc((2 << 20) - 100); /* about the same size: the kept block */
    cr_expect_eq(b, a, "a freed large block is reused");
    pm_free(b);
    unsigned char *c = pm_calloc(1, 2 << 20);
    cr_expect_eq(c, a);
    for (size_t i = 0; i < (2 << 20); i += 61)
        cr_assert_eq(c[i], 0, "calloc of a reused block is zeroed (byte %zu)", i);
    pm_free(c);
    unsigned char *d = pm_malloc(4 << 20); /* much larger: a fresh mapping */
    cr_expect_neq(d, a);
    pm_free(d);
    cr_expect_geq(pm_collect(), (size_t)(1 << 20), "pm_collect unmaps the kept blocks");
}

/* ---- malloc_object_size (include/partmalloc.h) ----
 * Bytes from a pointer to the end of the live object holding it, the end
 * being where malloc_usable_size of the object ends; 0 for anything not in
 * a live object; the _fast form the same where address arithmetic finds
 * the object, SIZE_MAX where it would need a table. */

#include <pthread.h>
#include <sys/mman.h>

#define OS_PAGE ((size_t)4096)

static __attribute__((noinline)) void *alloc_at_one_site(size_t n) {
    void *p = pm_malloc(n);
    __asm__ volatile("" : "+r"(p));
    return p;
}

/* Both forms at `at`, expecting `want` (the fast one in a primary region). */
static void expect_object_size(const char *at, size_t want, const char *what) {
    cr_expect_eq(malloc_object_size(at), want, "%s %p: %zu, want %zu", what, (const void *)at,
                 malloc_object_size(at), want);
    cr_expect_eq(malloc_object_size_fast(at), want, "%s %p (fast): %zu, want %zu", what, (const void *)at,
                 malloc_object_size_fast(at), want);
}

static int in_primary_region(const void *p) {
    return malloc_object_size_fast(p) != SIZE_MAX;
}

Test(api, object_size_of_live_small_objects_and_interior_pointers) {
    const size_t sizes[] = {1, 8, 17, 64, 100, 1000, 4096, 20000, 32768};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = alloc_at_one_site(sizes[i]);
        size_t u = pm_usable_size(p);
        if (!in_primary_region(p)) /* 1 MiB regions: the case below */
            continue;
        expect_object_size(p, u, "start");
        expect_object_size(p + u / 2, u - u / 2, "middle");
        expect_object_size(p + u - 1, 1, "last byte");
        /* one past the end is the next slot's start: its own object's
         * size if that one is live, else 0 */
        struct pm_ptr_info next;
        cr_assert_eq(pm_ptr_info(p + u, &next), 1);
        expect_object_size(p + u, next.live && next.start == p + u ? next.object_size : 0, "one past the end");
        pm_free(p);
        expect_object_size(p, 0, "freed, in the thread cache");
        expect_object_size(p + u - 1, 0, "freed, last byte");
    }
    char *q = alloc_at_one_site(48);
    pm_free(q);
    pm_collect(); /* back in its slab */
    cr_expect_eq(malloc_object_size(q), 0);
}

Test(api, object_size_of_a_neighbour_that_is_live) {
    enum { COUNT = 64 };
    char *obj[COUNT];
    for (int i = 0; i < COUNT; i++)
        obj[i] = alloc_at_one_site(64);
    int found = 0;
    for (int i = 0; i < COUNT; i++)
        for (int j = 0; j < COUNT; j++)
            if (obj[j] == obj[i] + 64 && in_primary_region(obj[i])) {
                expect_object_size(obj[i] + 64, 64, "one past the end, a live neighbour");
                found = 1;
            }
    cr_assert(found, "no two of %d objects side by side", COUNT);
    for (int i = 0; i < COUNT; i++)
        pm_free(obj[i]);
}

Test(api, object_size_of_never_used_slots) {
    struct pm_config c;
    pm_get_config(&c);
    char *p = alloc_at_one_site(28000);
    if (!in_primary_region(p))
        p = alloc_at_one_site(28000);
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(p, &info), 1);
    char *far = (char *)info.start + c.cache_region_size / 2 / info.object_size * info.object_size;
    struct pm_ptr_info s;
    cr_assert_eq(pm_ptr_info(far, &s), 1);
    cr_assert_eq(s.live, 0);
    expect_object_size(far, 0, "a slot of a slab never carved out");
    expect_object_size(far + 100, 0, "inside it");
    pm_free(p);
}

/* A guard page between groups of slabs (default preset) below an object
 * handed out: a guard-marked page of the cache's region, or an
 * inaccessible range of it in /proc/self/maps (kernels without marks). */
static char *guard_below(const char *region, size_t region_size, const char *highest) {
    for (const char *page = region; page < highest; page += OS_PAGE)
        if (tu_guard_marked(page))
            return (char *)page;
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512];
    char *found = NULL;
    while (!found && fgets(line, sizeof line, f)) {
        uintptr_t lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && strcmp(perms, "---p") == 0 &&
            lo >= (uintptr_t)region && hi <= (uintptr_t)region + region_size && hi <= (uintptr_t)highest)
            found = (char *)lo;
    }
    fclose(f);
    return found;
}

Test(api, object_size_inside_a_guard_is_zero) {
    struct pm_config c;
    pm_get_config(&c);
    enum { COUNT = 160 }; /* 16 KiB objects: 2.5 MiB, past the first ~1 MiB group */
    static char *obj[COUNT];
    char *highest = NULL;
    for (int i = 0; i < COUNT; i++) {
        obj[i] = alloc_at_one_site(16000);
        if (in_primary_region(obj[i]) && (!highest || obj[i] > highest))
            highest = obj[i];
    }
    char *region = (char *)((uintptr_t)obj[0] & ~(uintptr_t)(c.cache_region_size - 1));
    char *guard = guard_below(region, c.cache_region_size, highest);
    if (c.cache_region_size >= ((size_t)4 << 20))
        cr_assert_not_null(guard, "no guard below %p in the region at %p", (void *)highest, (void *)region);
    if (guard) {
        expect_object_size(guard, 0, "a guard page");
        expect_object_size(guard + OS_PAGE - 1, 0, "a guard page's last byte");
    }
    for (int i = 0; i < COUNT; i++)
        pm_free(obj[i]);
}

/* With 1 MiB regions (tests/run.sh runs this suite so too) a cache fills
 * its first region and takes more: the fast form has no bound there. */
Test(api, object_size_in_regions_taken_past_the_first) {
    struct pm_config c;
    pm_get_config(&c);
    enum { COUNT = 400 }; /* 6.4 MiB of 16 KiB objects */
    static char *obj[COUNT];
    char *taken = NULL;
    for (int i = 0; i < COUNT; i++) {
        obj[i] = alloc_at_one_site(16000);
        if (!in_primary_region(obj[i]))
            taken = obj[i];
    }
    if (c.cache_region_size <= ((size_t)1 << 20)) {
        cr_assert_not_null(taken, "no object outside the first region");
    } else {
        cr_assert_null(taken);
        taken = obj[0];
    }
    size_t u = pm_usable_size(taken);
    cr_expect_eq(malloc_object_size(taken), u);
    cr_expect_eq(malloc_object_size(taken + 100), u - 100);
    cr_expect_eq(malloc_object_size(taken + u - 1), 1);
    for (int i = 0; i < COUNT; i++)
        pm_free(obj[i]);
    cr_expect_eq(malloc_object_size(taken), 0);
    cr_expect_eq(malloc_object_size(taken + 100), 0);
}

Test(api, object_size_of_large_blocks) {
    const size_t sizes[] = {((size_t)1 << 20) + 1, TU_LARGE_BLOCK, (size_t)9 << 20};
    for (size_t i = 0; i < 3; i++) {
        char *p = pm_malloc(sizes[i]);
        size_t u = pm_usable_size(p);
        cr_expect_eq(malloc_object_size(p), u);
        cr_expect_eq(malloc_object_size(p + OS_PAGE + 5), u - OS_PAGE - 5);
        cr_expect_eq(malloc_object_size(p + u - 1), 1);
        cr_expect_eq(malloc_object_size(p + u), 0, "one past the end: the trailing guard page");
        cr_expect_eq(malloc_object_size(p - 1), 0, "the leading guard page");
        cr_expect_eq(malloc_object_size_fast(p), SIZE_MAX);
        cr_expect_eq(malloc_object_size_fast(p + 100), SIZE_MAX);
        pm_free(p);
        cr_expect_eq(malloc_object_size(p), 0, "freed");
        cr_expect_eq(malloc_object_size(p + 100), 0, "freed, interior");
    }
}

static char global_buffer[256];

Test(api, object_size_of_pointers_partmalloc_did_not_hand_out) {
    char local[64];
    memset(local, 1, sizeof local);
    char *m = mmap(NULL, 4 * OS_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(m != MAP_FAILED);
    const char *foreign[] = {local, local + 10, global_buffer, m, m + OS_PAGE + 1,
                             (const char *)(uintptr_t)0x41414141000ull, (const char *)(uintptr_t)8};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        cr_expect_eq(malloc_object_size(foreign[i]), 0, "%p", (const void *)foreign[i]);
        cr_expect_eq(malloc_object_size_fast(foreign[i]), SIZE_MAX, "%p (fast)", (const void *)foreign[i]);
    }
    cr_expect_eq(malloc_object_size(NULL), 0);
    cr_expect_eq(malloc_object_size_fast(NULL), 0);
    munmap(m, 4 * OS_PAGE);
}

/* An object allocated by one thread, measured by another it was handed to,
 * then freed there. */
static void *measure_and_free(void *arg) {
    char *p = arg;
    size_t u = pm_usable_size(p);
    size_t *out = pm_malloc(3 * sizeof *out);
    out[0] = malloc_object_size(p);
    out[1] = malloc_object_size(p + u - 1);
    pm_free(p);
    out[2] = malloc_object_size(p);
    return out;
}

Test(api, object_size_of_objects_handed_between_threads) {
    const size_t sizes[] = {24, 3000, 100000};
    for (size_t i = 0; i < 3; i++) {
        char *p = pm_malloc(sizes[i]);
        size_t u = pm_usable_size(p);
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, measure_and_free, p), 0);
        size_t *seen;
        cr_assert_eq(pthread_join(t, (void **)&seen), 0);
        cr_expect_eq(seen[0], u, "size %zu", sizes[i]);
        cr_expect_eq(seen[1], 1);
        cr_expect_eq(seen[2], 0);
        cr_expect_eq(malloc_object_size(p), 0, "freed by the other thread");
        pm_free(seen);
    }
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

/* Token scopes nest, as a program's wrappers do (sqlite3DbMallocRaw calls
 * sqlite3Malloc, both named with --wrapper): the inner companion is called
 * with the token of the call inside the outer wrapper, which names no type;
 * the outer caller's type must stay. An inner token with a type of its own
 * replaces the outer one, and an untyped scope alone stays untyped (the
 * control: the group checks can fail). */
void *__alloc_token_malloc(size_t size, size_t token);

static const size_t pointer_token = ((size_t)1 << 63) + 5; /* upper half: holds pointers */
static const size_t data_token = 5;

static unsigned partition_in_scopes(size_t outer, size_t inner, size_t call) {
    pm_token_scope_begin(outer, (const void *)0x1000);
    pm_token_scope_begin(inner, (const void *)0x2000);
    void *p = __alloc_token_malloc(64, call);
    pm_token_scope_end();
    pm_token_scope_end();
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(p, &info), 1);
    pm_free(p);
    return info.partition;
}

static bool in_group(unsigned partition, enum pm_group group) {
    struct pm_config c;
    pm_get_config(&c);
    return partition >= c.groups[group].first && partition < c.groups[group].first + c.groups[group].count;
}

Test(api, nested_token_scopes_keep_the_outer_type_over_an_untyped_inner) {
    cr_expect(in_group(partition_in_scopes(pointer_token, 0, 0), PM_GROUP_POINTERS));
    cr_expect(in_group(partition_in_scopes(data_token, 0, 0), PM_GROUP_NO_POINTERS));
    cr_expect(in_group(partition_in_scopes(data_token, pointer_token, 0), PM_GROUP_POINTERS));
    cr_expect(in_group(partition_in_scopes(pointer_token, data_token, 0), PM_GROUP_NO_POINTERS));
    cr_expect(in_group(partition_in_scopes(0, 0, pointer_token), PM_GROUP_UNKNOWN));
    /* The scope ended: the next call is placed by its own token. */
    void *p = __alloc_token_malloc(64, pointer_token);
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(p, &info), 1);
    cr_expect(in_group(info.partition, PM_GROUP_POINTERS));
    pm_free(p);
}
