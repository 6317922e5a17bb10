/* The size classes above 32 KiB (40 KiB to 1 MiB): objects of the slab
 * caches with a guard after each. Where the configuration does not serve
 * them (the strict defences, regions too small: pm_get_config's
 * max_small_size is then 32 KiB) the same requests are large blocks, and
 * the checks that hold for both are made for both: tests/run.sh runs this
 * suite again under strict, off and with 1 MiB regions. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE ((size_t)4096)

/* Requests of the classes above 32 KiB, and what each class's objects are. */
static const size_t sizes[] = {32 * KiB + 1, 40 * KiB, 100000, 512 * KiB + 1, MiB};
static const size_t classes[] = {40 * KiB, 40 * KiB, 112 * KiB, 640 * KiB, MiB};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

static size_t served_max(void) {
    struct pm_config c;
    pm_get_config(&c);
    return c.max_small_size;
}

static struct pm_ptr_info info_of(const void *p) {
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(p, &info), 1, "%p: not a partmalloc pointer", p);
    return info;
}

static void *hide(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

static char expected[256];

static const char *diag(const char *what, const void *p, const char *cache) {
    snprintf(expected, sizeof expected, "partmalloc: %s at %p (cache %s)\n", what, p, cache);
    return expected;
}

Test(large_classes, each_size_is_an_object_of_its_class_where_served) {
    bool served = served_max() == MiB;
    for (size_t i = 0; i < N_SIZES; i++) {
        char *p = pm_malloc(sizes[i]);
        cr_assert_not_null(p);
        struct pm_ptr_info info = info_of(p);
        cr_expect_eq(info.is_small, served, "size %zu", sizes[i]);
        if (served) {
            char want[32];
            if (info.partition)
                snprintf(want, sizeof want, "kmalloc-part-%02u-%zu", info.partition, classes[i]);
            else
                snprintf(want, sizeof want, "kmalloc-%zu", classes[i]);
            cr_expect_str_eq(info.cache_name, want);
            cr_expect_eq(info.object_size, classes[i]);
            cr_expect_eq(pm_usable_size(p), classes[i], "size %zu", sizes[i]);
            cr_expect_eq((uintptr_t)p % PAGE, 0, "objects of these classes start on a page");
        } else {
            cr_expect_str_eq(info.cache_name, "large");
            cr_expect_geq(pm_usable_size(p), sizes[i]); /* strict: the size asked for */
            cr_expect_leq(pm_usable_size(p), (sizes[i] + PAGE - 1) / PAGE * PAGE);
        }
        size_t u = pm_usable_size(p);
        memset(p, 0x5c, u); /* all of it is writable */
        cr_expect_eq(malloc_object_size(p), u);
        cr_expect_eq(malloc_object_size(p + u - 1), 1);
        cr_expect_eq(malloc_object_size(p + u), 0, "one past the end: the guard");
        pm_free(p);
        cr_expect_eq(malloc_object_size(p), 0, "freed");
    }
    /* just above the largest class: always a mapping of its own */
    void *big = pm_malloc(MiB + 1);
    cr_expect_eq(info_of(big).is_small, 0);
    pm_free(big);
}

/* ---- guards ---- */

static void write_one_past_the_end(void *p) {
    size_t u = pm_usable_size(p);
    memset(p, 1, u);
    ((volatile char *)p)[u] = 1;
}

static void write_one_before_the_start(void *p) {
    ((volatile char *)p)[0] = 1;
    ((volatile char *)p)[-1] = 1;
}

/* The byte after the usable end of a 40 KiB and a 1 MiB block faults, and
 * so does the byte before it (the guard of the object below, or the end
 * of the region below), for the first objects of a cache and for later
 * ones (the slot after a guard that was committed with its neighbours). */
Test(large_classes, a_write_past_the_end_or_before_the_start_faults) {
    const size_t cases[] = {40 * KiB, MiB};
    for (size_t c = 0; c < 2; c++) {
        char *objs[6];
        for (int i = 0; i < 6; i++) {
            objs[i] = pm_malloc(cases[c]);
            cr_assert_not_null(objs[i]);
        }
        for (int i = 0; i < 6; i += 5) {
            struct death d = run_in_child(write_one_past_the_end, objs[i]);
            cr_expect_eq(d.signal, SIGSEGV, "%zu bytes, object %d: overflow gave signal %d", cases[c], i, d.signal);
            d = run_in_child(write_one_before_the_start, objs[i]);
            cr_expect_eq(d.signal, SIGSEGV, "%zu bytes, object %d: underflow gave signal %d", cases[c], i, d.signal);
        }
        for (int i = 0; i < 6; i++)
            pm_free(objs[i]);
    }
}

/* Control: the same write one byte before the end is the program's own. */
static void write_the_last_byte(void *p) {
    ((volatile char *)p)[pm_usable_size(p) - 1] = 1;
}

Test(large_classes, control_the_last_usable_byte_is_writable) {
    char *p = pm_malloc(40 * KiB);
    struct death d = run_in_child(write_the_last_byte, p);
    cr_expect_eq(d.signal, 0);
    cr_expect_eq(d.exit_code, 0);
    pm_free(p);
}

/* A guard stays a guard after its neighbours' pages went back to the OS
 * and came again. */
Test(large_classes, guards_stay_after_the_pages_around_them_are_returned) {
    char *p = pm_malloc(48 * KiB), *q = pm_malloc(48 * KiB);
    pm_free(p);
    pm_free(q);
    pm_collect();
    char *r = pm_malloc(48 * KiB);
    struct death d = run_in_child(write_one_past_the_end, r);
    cr_expect_eq(d.signal, SIGSEGV, "overflow after a trim: signal %d", d.signal);
    pm_free(r);
}

/* ---- misuse: the messages of the small classes, or of large blocks ---- */

static void free_twice(void *p) {
    pm_free(hide(p));
    pm_free(hide(p));
}

static void do_free(void *p) {
    pm_free(hide(p));
}

static void free_then_realloc(void *p) {
    pm_free(hide(p));
    (void)pm_realloc(hide(p), 100);
}

Test(large_classes, double_free_and_interior_free_abort_with_one_line) {
    bool served = served_max() == MiB;
    for (size_t i = 0; i < N_SIZES; i++) {
        char *p = pm_malloc(sizes[i]);
        char name[32];
        memcpy(name, info_of(p).cache_name, sizeof name);
        tu_expect_abort(free_twice, p, diag("double free", p, name));
        tu_expect_abort(free_then_realloc, p, diag("realloc of a freed pointer", p, name));
        if (served) {
            tu_expect_abort(do_free, p + 16, diag("invalid free (not the start of an object)", p + 16, name));
            tu_expect_abort(do_free, p + PAGE, diag("invalid free (not the start of an object)", p + PAGE, name));
            /* the guard slot after it was never handed out */
            char *guard = p + classes[i];
            tu_expect_abort(do_free, guard, diag("invalid free (slot never allocated)", guard, name));
        } else {
            tu_expect_abort(do_free, p + 16, diag("invalid free (not the start of an object)", p + 16, "large"));
        }
        pm_free(p);
    }
}

static size_t sized_size;

static void free_with_the_size(void *p) {
    pm_free_sized(hide(p), sized_size);
}

Test(large_classes, free_sized_checks_the_class) {
    if (served_max() != MiB)
        cr_skip_test("the classes above 32 KiB are not served here");
    char *p = pm_malloc(100000);
    /* any size of the same class is the same class */
    sized_size = 98305;
    struct death d = run_in_child(free_with_the_size, p);
    cr_expect_eq(d.signal, 0, "free_sized with a size of the class: signal %d, %s", d.signal, d.stderr_text);
    const size_t wrong[] = {98304, 114689, 32768, 1000};
    for (size_t i = 0; i < 4; i++) {
        sized_size = wrong[i];
        tu_expect_abort(free_with_the_size, p,
                        diag("free_sized with a size the object was not allocated with", p, info_of(p).cache_name));
    }
    pm_free_sized(p, 100000);
}

/* ---- realloc, alignment, calloc ---- */

/* Growth within the class stays in place; across classes and the 32 KiB
 * and 1 MiB boundaries the contents move with the block, both ways. */
Test(large_classes, realloc_keeps_contents_across_the_boundaries) {
    size_t steps[] = {1000, 32 * KiB, 32 * KiB + 1, 40 * KiB, 41 * KiB, 300 * KiB, MiB, MiB + 1, 3 * MiB,
                      MiB, 200 * KiB, 40 * KiB, 32 * KiB, 64};
    char *p = pm_malloc(steps[0]);
    for (size_t k = 0; k < steps[0]; k++)
        p[k] = (char)(k * 13);
    size_t kept = steps[0];
    for (size_t i = 1; i < sizeof steps / sizeof *steps; i++) {
        p = pm_realloc(p, steps[i]);
        cr_assert_not_null(p);
        kept = kept < steps[i] ? kept : steps[i];
        for (size_t k = 0; k < kept; k += k < 4096 ? 1 : 509)
            cr_assert_eq(p[k], (char)(k * 13), "after realloc to %zu, byte %zu", steps[i], k);
        cr_assert_geq(pm_usable_size(p), steps[i]);
    }
    pm_free(p);
    if (served_max() != MiB)
        return;
    char *q = pm_malloc(33 * KiB);
    cr_expect_eq(pm_realloc(q, 40 * KiB), q, "growth within the class stays in place");
    char *r = pm_realloc(q, 40 * KiB + 1);
    cr_expect_neq(r, q, "past the class: the next one");
    cr_expect_eq(pm_usable_size(r), 48 * KiB);
    pm_free(r);
}

Test(large_classes, aligned_allocations) {
    bool served = served_max() == MiB;
    for (size_t a = PAGE; a <= MiB; a *= 2) {
        const size_t want[] = {40 * KiB, 100000, 600 * KiB, MiB};
        for (size_t i = 0; i < 4; i++) {
            char *p = pm_aligned_alloc(a, want[i]);
            cr_assert_not_null(p, "aligned_alloc(%zu, %zu)", a, want[i]);
            cr_expect_eq((uintptr_t)p % a, 0, "aligned_alloc(%zu, %zu) = %p", a, want[i], (void *)p);
            cr_expect_geq(pm_usable_size(p), want[i]);
            if (served)
                cr_expect_eq(info_of(p).is_small, 1, "aligned_alloc(%zu, %zu) from a class", a, want[i]);
            memset(p, 3, want[i]);
            pm_free(p);
            void *m = NULL;
            cr_assert_eq(pm_posix_memalign(&m, a, want[i]), 0);
            cr_expect_eq((uintptr_t)m % a, 0);
            pm_free(m);
        }
    }
}

/* One call site, so one partition, whatever the mode. */
static __attribute__((noinline)) unsigned char *calloc_at_one_site(size_t n) {
    return pm_calloc(1, n);
}

/* A freed object's pages stay committed while its slab is kept: calloc of
 * the same class gets it back, dirty, and must zero it. */
Test(large_classes, calloc_zeroes_a_reused_object) {
    for (size_t i = 0; i < N_SIZES; i++) {
        unsigned char *p = calloc_at_one_site(sizes[i]);
        memset(p, 0xee, pm_usable_size(p));
        pm_free(p);
        unsigned char *z = calloc_at_one_site(sizes[i]);
        cr_assert_not_null(z);
        if (served_max() == MiB)
            cr_expect_eq(z, p, "the freed object comes back (size %zu)", sizes[i]);
        for (size_t k = 0; k < sizes[i]; k += 7)
            cr_assert_eq(z[k], 0, "size %zu byte %zu", sizes[i], k);
        cr_assert_eq(z[sizes[i] - 1], 0);
        pm_free(z);
    }
}

/* ---- statistics: these objects are the caches' (slabinfo rows), not
 * large blocks ---- */

Test(large_classes, counted_as_cache_objects_not_large_blocks) {
    if (served_max() != MiB)
        cr_skip_test("the classes above 32 KiB are not served here");
    struct pm_large_stats before, during;
    pm_stats_large(&before);
    enum { N = 5 };
    void *objs[N];
    for (int i = 0; i < N; i++)
        objs[i] = pm_malloc(200 * KiB);
    pm_stats_large(&during);
    cr_expect_eq(during.active_blocks, before.active_blocks);
    cr_expect_eq(during.allocs, before.allocs);
    static struct pm_cache_stats caches[4096];
    size_t n = pm_stats_caches(caches, 4096);
    const char *name = info_of(objs[0]).cache_name;
    bool found = false;
    for (size_t i = 0; i < n && i < 4096; i++)
        if (strcmp(caches[i].name, name) == 0) {
            found = true;
            cr_expect_eq(caches[i].object_size, 224 * KiB);
            cr_expect_eq(caches[i].objs_per_slab, 1);
            cr_expect_geq(caches[i].active_objs, N);
        }
    cr_expect(found, "no statistics for %s", name);
    for (int i = 0; i < N; i++)
        pm_free(objs[i]);
}

/* pm_collect returns the pages of empty slabs of these classes too. */
Test(large_classes, collect_returns_empty_slabs) {
    if (served_max() != MiB)
        cr_skip_test("the classes above 32 KiB are not served here");
    pm_collect();
    enum { N = 4 };
    void *objs[N];
    for (int i = 0; i < N; i++) {
        objs[i] = pm_malloc(768 * KiB);
        memset(objs[i], 1, 768 * KiB);
    }
    for (int i = 0; i < N; i++)
        pm_free(objs[i]);
    cr_expect_geq(pm_collect(), 768 * KiB, "the empty slab kept by the cache goes back");
}
