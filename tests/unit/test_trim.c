/* Memory returned: after a large heap is freed the resident set falls back
 * near where it started, and malloc_trim(0) gives back what a scattered
 * free leaves (the free pages of partly used slabs), returning 1 when it
 * released memory and 0 when there was nothing left. Criterion runs each
 * test in its own process, so the readings are the test's alone. The
 * bounds are fractions of the heap built, well above what the allocator's
 * own bookkeeping (a state byte per slot, the free map) and the kernel's
 * page tables add. tests/run.sh runs the suite again under strict, where
 * trim also drains the quarantine. */
#include "testutil.h"

#include <malloc.h>

#include "options.h"
#include <stdint.h>

#define HEAP_BYTES ((size_t)256 << 20)
/* A freed heap leaves at most this fraction of itself resident; strict's
 * quarantine holds up to 16 MiB of freed slots (6% of the heap) until
 * malloc_trim drains it. */
#define FREED_RESIDUAL 0.10
/* What malloc_trim(0) leaves of the freed heap. */
#define FREED_TRIMMED_RESIDUAL 0.03
/* After the scattered free of the mixed heap and malloc_trim(0), at most
 * this fraction of the heap stays resident: the survivors' pages. */
#define TRIMMED_RESIDUAL 0.25
#define KEEP_ONE_IN 64

/* Resident bytes now; a process always has some. */
static size_t rss_bytes(void) {
    size_t rss = tu_rss_bytes();
    cr_assert_gt(rss, 0, "cannot read /proc/self/statm");
    return rss;
}

/* 64..1024 bytes, from a fixed sequence. */
static size_t small_size(uint64_t *x) {
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return 64 + (size_t)((*x >> 33) % 961);
}

struct heap {
    void **objs;
    size_t n;
    size_t start, peak; /* RSS before the heap was built, and with it built */
};

/* Small objects totalling HEAP_BYTES, every byte written. */
static struct heap build_small_heap(void) {
    struct heap h = {0};
    size_t cap = HEAP_BYTES / 64;
    h.objs = malloc(cap * sizeof *h.objs);
    cr_assert_not_null(h.objs);
    memset(h.objs, 0, cap * sizeof *h.objs);
    malloc_trim(0);
    h.start = rss_bytes();
    uint64_t x = 1;
    for (size_t total = 0; total < HEAP_BYTES; h.n++) {
        size_t size = small_size(&x);
        h.objs[h.n] = malloc(size);
        cr_assert_not_null(h.objs[h.n]);
        memset(h.objs[h.n], 0xa5, size);
        total += size;
    }
    h.peak = rss_bytes();
    cr_assert_geq(h.peak - h.start, HEAP_BYTES, "the heap is resident: %zu MiB", (h.peak - h.start) >> 20);
    return h;
}

/* Frees all but every `keep`-th object (all of them for keep 0). */
static void free_heap(struct heap *h, size_t keep) {
    for (size_t i = 0; i < h->n; i++)
        if (!keep || i % keep != 0) {
            free(h->objs[i]);
            h->objs[i] = NULL;
        }
}

static void free_rest(struct heap *h) {
    free_heap(h, 0);
    free(h->objs);
}

/* RSS above the start, as a fraction of the heap built. */
static double residual(const struct heap *h, size_t now) {
    return now > h->start ? (double)(now - h->start) / (double)(h->peak - h->start) : 0.0;
}

Test(trim, freeing_a_large_heap_of_small_objects_returns_it) {
    struct heap h = build_small_heap();
    free_heap(&h, 0);
    double after_free = residual(&h, rss_bytes());
    cr_expect_leq(after_free, FREED_RESIDUAL, "after free %.1f%% of the heap is still resident", 100 * after_free);
    malloc_trim(0);
    double after_trim = residual(&h, rss_bytes());
    cr_expect_leq(after_trim, FREED_TRIMMED_RESIDUAL, "after trim %.2f%% of the heap is still resident (%.2f%% after free)",
                  100 * after_trim, 100 * after_free);
    free(h.objs);
}

/* The control: the same reading with the heap still alive fails the bound. */
Test(trim, control_a_live_heap_fails_the_freed_bound) {
    struct heap h = build_small_heap();
    double live = residual(&h, rss_bytes());
    cr_expect_gt(live, FREED_RESIDUAL, "a live heap reads %.1f%%, inside the bound", 100 * live);
    malloc_trim(0);
    double live_trimmed = residual(&h, rss_bytes());
    cr_expect_gt(live_trimmed, 0.9, "trim gave back live memory: %.1f%% left", 100 * live_trimmed);
    free_rest(&h);
}

/* One object in KEEP_ONE_IN survives, scattered: almost no slab is empty,
 * yet most of their pages hold free slots only. */
Test(trim, trim_after_a_scattered_free_returns_the_free_pages) {
    struct heap h = build_small_heap();
    free_heap(&h, KEEP_ONE_IN);
    double after_free = residual(&h, rss_bytes());
    /* The control: the free alone leaves more than the trimmed bound. */
    cr_expect_gt(after_free, TRIMMED_RESIDUAL, "the scattered free alone left only %.1f%%", 100 * after_free);
    cr_expect_eq(malloc_trim(0), 1, "malloc_trim released memory, so it returns 1");
    double after_trim = residual(&h, rss_bytes());
    cr_expect_leq(after_trim, TRIMMED_RESIDUAL, "after trim %.1f%% of the heap is still resident (%.1f%% after free)",
                  100 * after_trim, 100 * after_free);
    for (size_t i = 0; i < h.n; i += KEEP_ONE_IN) /* the survivors kept their contents */
        cr_assert_eq(*(unsigned char *)h.objs[i], 0xa5, "survivor %zu lost its contents", i);
    free_rest(&h);
}

Test(trim, returns_0_when_nothing_is_left_to_release) {
    struct heap h = build_small_heap();
    free_rest(&h);
    cr_expect_eq(malloc_trim(0), 1, "the freed heap's last slabs and blocks go back: 1");
    cr_expect_eq(malloc_trim(0), 0, "a second trim finds nothing: 0");
    /* The pages of a freed slab are given back once: another trim after
     * touching nothing still finds nothing. */
    cr_expect_eq(malloc_trim(0), 0);
}

/* A large block freed is kept mapped for reuse; trim unmaps it. Without
 * large_reuse (strict) the block's pages went back at the free already. */
Test(trim, returns_1_for_a_kept_large_block) {
    malloc_trim(0);
    cr_assert_eq(malloc_trim(0), 0);
    void *p = malloc(256 << 10);
    cr_assert_not_null(p);
    memset(p, 1, 256 << 10);
    free(p);
    if (pm_g.harden.large_reuse)
        cr_expect_eq(malloc_trim(0), 1, "the kept block was unmapped");
    else
        cr_expect_eq(malloc_trim(0), 0, "no block is kept without large_reuse");
    cr_expect_eq(malloc_trim(0), 0);
}

/* ---- the kept large blocks (src/large.c): budget, reuse, decay, trim ---- */

#define LK_MIB ((size_t)1 << 20)
#define LK_BUDGET_MAX (64 * LK_MIB) /* PM_LARGE_KEPT_BYTES */
#define LK_DECAY 1024               /* PM_LARGE_DECAY, large operations */

static size_t kept_now(void) {
    struct pm_large_stats s;
    pm_stats_large(&s);
    return s.kept_blocks;
}

static void *touched(size_t size) {
    void *p = malloc(size);
    cr_assert_not_null(p);
    memset(p, 0x5a, size);
    return p;
}

/* A freed block serves a later request of half its size up to its size,
 * its whole size usable; a request of less than half maps a new block. */
Test(trim, kept_block_serves_a_smaller_request) {
    malloc_trim(0);
    void *p = touched(4 * LK_MIB);
    free(p);
    void *q = malloc(3 * LK_MIB);
    void *small = malloc(2 * LK_MIB - 4096); /* less than half of 4 MiB: not the kept block */
    if (pm_g.harden.large_reuse) {
        cr_expect_eq(q, p, "the kept 4 MiB block serves 3 MiB");
        cr_expect_eq(malloc_usable_size(q), 4 * LK_MIB);
    } else {
        cr_expect_eq(kept_now(), 0, "nothing is kept without large_reuse");
    }
    cr_expect_neq(small, p);
    free(q);
    free(small);
}

/* A realloc growing past its block moves into a fitting kept block (a
 * copy into resident pages) and keeps the contents. */
Test(trim, realloc_grows_into_a_kept_block) {
    malloc_trim(0);
    char *a = touched(2 * LK_MIB);
    void *b = touched(4 * LK_MIB);
    void *blocker = touched(2 * LK_MIB);
    free(b);
    char *grown = realloc(a, 3 * LK_MIB);
    cr_assert_not_null(grown);
    if (pm_g.harden.large_reuse)
        cr_expect_eq(grown, b, "grown into the kept 4 MiB block");
    for (size_t i = 0; i < 2 * LK_MIB; i += 4096)
        cr_assert_eq(grown[i], 0x5a, "byte %zu copied", i);
    free(grown);
    free(blocker);
}

/* The budget: with 64 MiB of blocks live once (the peak), four freed
 * 16 MiB blocks fill it; a fifth block freed pushes the oldest out. */
Test(trim, kept_blocks_stay_within_the_budget) {
    malloc_trim(0);
    void *b[4];
    for (int i = 0; i < 4; i++)
        b[i] = touched(LK_BUDGET_MAX / 4);
    void *extra = touched(2 * LK_MIB);
    for (int i = 0; i < 4; i++)
        free(b[i]);
    size_t full = kept_now();
    free(extra);
    if (pm_g.harden.large_reuse) {
        cr_expect_eq(full, 4, "four 16 MiB blocks fill the 64 MiB budget");
        cr_expect_eq(kept_now(), 4, "the oldest went out for the 2 MiB block");
        cr_expect_eq(malloc_trim(0), 1, "trim unmaps every kept block");
        cr_expect_eq(kept_now(), 0);
    } else {
        cr_expect_eq(kept_now(), 0);
    }
}

/* The decay: a kept block not reused for LK_DECAY large operations is
 * unmapped (blocks above the budget are freed, never kept, but count). */
Test(trim, kept_block_decays_after_1024_large_operations) {
    malloc_trim(0);
    free(touched(2 * LK_MIB));
    size_t before = kept_now();
    for (int i = 0; i < LK_DECAY + 1; i++) {
        void *volatile big = malloc(LK_BUDGET_MAX + LK_MIB); /* volatile: the pair is not elided */
        cr_assert_not_null(big);
        free(big);
    }
    if (pm_g.harden.large_reuse)
        cr_expect_eq(before, 1, "kept at the free");
    cr_expect_eq(kept_now(), 0, "unmapped by the decay");
}
