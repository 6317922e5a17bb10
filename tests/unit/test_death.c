/* Every heap-misuse abort of the core: the signal and the exact one-line
 * message "partmalloc: <what> at <pointer> (cache <name>)". Uses the pm_*
 * API so it also runs under ASan+UBSan. */
#include <stdint.h>

#include "testutil.h"

static char expected[256];

static const char *cache_of(void *p) {
    static char name[32];
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(p, &info), 1);
    strcpy(name, info.cache_name);
    return name;
}

static void expect_msg(const char *what, const void *p, const char *cache) {
    snprintf(expected, sizeof expected, "partmalloc: %s at %p (cache %s)\n", what, p, cache);
}

static void do_free(void *p) { pm_free(p); }

static void double_free(void *p) {
    pm_free(p);
    pm_free(p);
}

Test(death, double_free_immediate) {
    void *p = pm_malloc(32);
    expect_msg("double free", p, cache_of(p));
    tu_expect_abort(double_free, p, expected);
    pm_free(p);
}

static void double_free_after_others(void *p) {
    void *others[100];
    for (int i = 0; i < 100; i++)
        others[i] = pm_malloc(32);
    pm_free(p);
    for (int i = 0; i < 100; i++)
        pm_free(others[i]);
    pm_free(p);
}

Test(death, double_free_after_other_frees) {
    void *p = pm_malloc(32);
    expect_msg("double free", p, cache_of(p));
    tu_expect_abort(double_free_after_others, p, expected);
}

static void double_free_after_flush(void *p) {
    pm_free(p);
    pm_collect(); /* the slot is back in its slab's free map */
    pm_free(p);
}

Test(death, double_free_after_the_slot_went_back_to_its_slab) {
    void *p = pm_malloc(200);
    expect_msg("double free", p, cache_of(p));
    tu_expect_abort(double_free_after_flush, p, expected);
}

Test(death, double_free_large) {
    void *p = pm_malloc(2 * TU_LARGE_BLOCK);
    expect_msg("double free", p, "large");
    tu_expect_abort(double_free, p, expected);
    pm_free(p);
}

static void realloc_then_free_old(void *p) {
    void *q = pm_realloc(p, 4000); /* moves to another class */
    (void)q;
    pm_free(p);
}

Test(death, double_free_through_realloc) {
    void *p = pm_malloc(40);
    expect_msg("double free", p, cache_of(p));
    tu_expect_abort(realloc_then_free_old, p, expected);
}

static void realloc_freed(void *p) {
    pm_free(p);
    (void)pm_realloc(p, 100);
}

Test(death, realloc_of_freed_pointer) {
    void *p = pm_malloc(48);
    expect_msg("realloc of a freed pointer", p, cache_of(p));
    tu_expect_abort(realloc_freed, p, expected);
    void *big = pm_malloc(TU_LARGE_BLOCK);
    expect_msg("realloc of a freed pointer", big, "large");
    tu_expect_abort(realloc_freed, big, expected);
}

Test(death, interior_pointer) {
    char *p = pm_malloc(64);
    expect_msg("invalid free (not the start of an object)", p + 16, cache_of(p));
    tu_expect_abort(do_free, p + 16, expected);
    expect_msg("invalid free (not the start of an object)", p + 1, cache_of(p));
    tu_expect_abort(do_free, p + 1, expected);
    pm_free(p);
}

static void realloc_interior(void *p) { (void)pm_realloc(p, 10); }
static void usable_interior(void *p) { (void)pm_usable_size(p); }

Test(death, realloc_and_usable_size_of_interior_pointer) {
    char *p = pm_malloc(64);
    expect_msg("invalid realloc (not the start of an object)", p + 8, cache_of(p));
    tu_expect_abort(realloc_interior, p + 8, expected);
    expect_msg("invalid pm_usable_size (not the start of an object)", p + 8, cache_of(p));
    tu_expect_abort(usable_interior, p + 8, expected);
    pm_free(p);
}

static void usable_freed(void *p) {
    pm_free(p);
    (void)pm_usable_size(p);
}

Test(death, usable_size_of_freed_pointer) {
    void *p = pm_malloc(100);
    expect_msg("pm_usable_size of a freed pointer", p, cache_of(p));
    tu_expect_abort(usable_freed, p, expected);
}

Test(death, wild_pointers) {
    expect_msg("invalid free (not a partmalloc pointer)", (void *)0x1234, "none");
    tu_expect_abort(do_free, (void *)0x1234, expected);
    static long global_object;
    expect_msg("invalid free (not a partmalloc pointer)", &global_object, "none");
    tu_expect_abort(do_free, &global_object, expected);
    /* inside a large block: named as the block; below it, its guard page */
    void *big = pm_malloc(2 * TU_LARGE_BLOCK);
    expect_msg("invalid free (not the start of an object)", (char *)big + 4096, "large");
    tu_expect_abort(do_free, (char *)big + 4096, expected);
    expect_msg("invalid free (not a partmalloc pointer)", (char *)big - 4096, "none");
    tu_expect_abort(do_free, (char *)big - 4096, expected);
    pm_free(big);
}

Test(death, never_allocated_slot_and_slab) {
    /* 32 KiB objects: 8 to a slab, thread-cached two at a time, so slot 5
     * of the first slab has never been handed out; slab 50 (with the
     * default regions) was never used. 8 bytes short of the class, which
     * leaves room for strict's canary. */
    char *p = pm_aligned_alloc(32768, 32768 - 8);
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(p, &info), 1);
    cr_assert_eq(info.object_size, 32768);
    char *slot = p + 5 * 32768;
    expect_msg("invalid free (slot never allocated)", slot, info.cache_name);
    tu_expect_abort(do_free, slot, expected);
    /* slab 50, or the last but one of a smaller region */
    struct pm_config c;
    pm_get_config(&c);
    size_t slab_no = c.cache_region_size / (8 * 32768) - 2 < 50 ? c.cache_region_size / (8 * 32768) - 2 : 50;
    char *slab = p + slab_no * 8 * 32768;
    expect_msg("invalid free (slot never allocated)", slab, info.cache_name);
    tu_expect_abort(do_free, slab, expected);
    pm_free(p);
}

static void free_sized_wrong(void *p) { pm_free_sized(p, 100); }
static void free_aligned_sized_wrong(void *p) { pm_free_aligned_sized(p, 64, 32); }

Test(death, free_sized_with_wrong_size) {
    void *p = pm_malloc(32);
    expect_msg("free_sized with a size the object was not allocated with", p, cache_of(p));
    tu_expect_abort(free_sized_wrong, p, expected);
    void *big = pm_malloc(TU_LARGE_BLOCK);
    expect_msg("free_sized with a size the block was not allocated with", big, "large");
    tu_expect_abort(free_sized_wrong, big, expected);
    void *a = pm_aligned_alloc(256, 32);
    expect_msg("free_aligned_sized with a size or alignment the object was not allocated with", a, cache_of(a));
    tu_expect_abort(free_aligned_sized_wrong, a, expected);
}

static void print_nothing(void *p) {
    pm_free(p); /* a valid free: no message, no abort */
}

Test(death, valid_free_is_silent) {
    void *p = pm_malloc(24);
    struct death d = run_in_child(print_nothing, p);
    cr_expect_eq(d.signal, 0);
    cr_expect_eq(d.exit_code, 0);
    cr_expect_str_empty(d.stderr_text);
}

/* The first byte past a large block's pages (its usable size is the size
 * asked for under strict). */
static size_t pages_of(void *p) {
    return (pm_usable_size(p) + 4095) & ~(size_t)4095;
}

static void write_past_end(void *p) {
    ((volatile char *)p)[pages_of(p)] = 1; /* the guard page after the block */
}

static void write_before_start(void *p) {
    ((volatile char *)p)[-1] = 1; /* the guard page before the block */
}

static void write_past_end_after_growth(void *p) {
    p = pm_realloc(p, 8u << 20);
    ((volatile char *)p)[pages_of(p)] = 1;
}

static void write_past_end_after_shrink(void *p) {
    p = pm_realloc(p, 40000);
    ((volatile char *)p)[pages_of(p)] = 1;
}

Test(death, large_blocks_have_guard_pages) {
    void *p = pm_malloc(TU_LARGE_BLOCK);
    struct death d = run_in_child(write_past_end, p);
    cr_expect_eq(d.signal, SIGSEGV, "overflow past a large block: signal %d", d.signal);
    d = run_in_child(write_before_start, p);
    cr_expect_eq(d.signal, SIGSEGV, "underflow before a large block: signal %d", d.signal);
    d = run_in_child(write_past_end_after_growth, p);
    cr_expect_eq(d.signal, SIGSEGV, "overflow after mremap growth: signal %d", d.signal);
    d = run_in_child(write_past_end_after_shrink, p);
    cr_expect_eq(d.signal, SIGSEGV, "overflow after shrinking: signal %d", d.signal);
    pm_free(p);
}

/* A block freed and allocated again (the kept block; under strict a new
 * one, the freed one held in the quarantine) has the checks and guards of
 * a fresh one. */
Test(death, kept_large_blocks_keep_their_checks_and_guards) {
    pm_free(pm_malloc(TU_LARGE_BLOCK));
    void *q = pm_malloc(TU_LARGE_BLOCK);
    expect_msg("double free", q, "large");
    tu_expect_abort(double_free, q, expected);
    struct death d = run_in_child(write_past_end, q);
    cr_expect_eq(d.signal, SIGSEGV, "overflow past a reused large block: signal %d", d.signal);
    pm_free(q);
}
