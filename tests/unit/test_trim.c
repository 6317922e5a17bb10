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
#include <sys/mman.h>

#include "options.h"
#include "slab.h"
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

/* Empty slabs stay committed up to the kept budget (slab.c's decay, an
 * eighth of the peak: 32 MiB, 12.5% of this heap) until the decay or a
 * trim returns them; PARTMALLOC_PURGE=now returns them at the free. */
Test(trim, freeing_a_large_heap_of_small_objects_returns_it) {
    struct heap h = build_small_heap();
    free_heap(&h, 0);
    double after_free = residual(&h, rss_bytes());
    double kept = pm_g.purge_decay ? (double)pm_slab_kept_budget() / (double)(h.peak - h.start) : 0.0;
    cr_expect_leq(after_free, FREED_RESIDUAL + kept, "after free %.1f%% of the heap is still resident (%.1f%% may be kept)",
                  100 * after_free, 100 * kept);
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

/* A freed block serves a later request of a third of its size up to its
 * size, its whole size usable; a request of less than a third maps a new
 * block. */
Test(trim, kept_block_serves_a_smaller_request) {
    malloc_trim(0);
    void *p = touched(4 * LK_MIB);
    free(p);
    void *q = malloc(3 * LK_MIB);
    void *small = malloc(2 * LK_MIB - 4096); /* the kept block is taken: a new one */
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

/* The span of reuse is a third: a kept 6 MiB block serves 2.5 MiB (less
 * than half of it, which the span of a half refused) but not 1.5 MiB. */
Test(trim, kept_block_serves_a_third_of_its_size_not_less) {
    malloc_trim(0);
    void *p = touched(6 * LK_MIB);
    free(p);
    void *below = malloc(3 * LK_MIB / 2); /* 1.5 MiB: under a third */
    void *third = malloc(5 * LK_MIB / 2); /* 2.5 MiB: over a third */
    cr_assert(below && third);
    if (pm_g.harden.large_reuse) {
        cr_expect_neq(below, p, "1.5 MiB does not take a 6 MiB block");
        cr_expect_eq(third, p, "2.5 MiB takes the kept 6 MiB block");
        cr_expect_eq(malloc_usable_size(third), 6 * LK_MIB, "its whole size usable");
    } else {
        cr_expect_neq(third, p);
    }
    free(below);
    free(third);
}

/* The budget is one and a half times the large peak: with 24 MiB live at
 * most (a 16 and an 8 MiB block), both freed and then a 2 MiB block (which
 * neither may serve) make 26 MiB kept, within the 36 MiB budget (a budget
 * of the peak alone pushed the 16 MiB block out). */
Test(trim, kept_budget_is_one_and_a_half_times_the_peak) {
    malloc_trim(0);
    void *a = touched(16 * LK_MIB), *b = touched(8 * LK_MIB);
    free(a);
    free(b);
    void *c = touched(2 * LK_MIB);
    cr_expect_neq(c, a);
    cr_expect_neq(c, b);
    free(c);
    if (pm_g.harden.large_reuse)
        cr_expect_eq(kept_now(), 3, "26 MiB kept under a 24 MiB peak");
    else
        cr_expect_eq(kept_now(), 0);
}

/* A realloc to half its block or more keeps the block: the pages past the
 * new size stay (resident, usable) for a later growth, which stays in
 * place with them; below half the block shrinks and its tail is unmapped.
 * Without large_reuse (strict) every shrink gives the tail back. */
static bool resident(void *page) {
    unsigned char v = 0;
    return mincore(page, 4096, &v) == 0 && (v & 1);
}

Test(trim, realloc_to_half_or_more_keeps_the_block) {
    malloc_trim(0);
    char *p = touched(4 * LK_MIB);
    char *q = realloc(p, 3 * LK_MIB);
    cr_assert_eq(q, p, "a shrink stays in place");
    bool keeps = pm_g.harden.large_reuse && !pm_g.harden.large_quarantine;
    char *tail = p + 3 * LK_MIB + LK_MIB / 2;
    if (keeps) {
        cr_expect_eq(malloc_usable_size(q), 4 * LK_MIB, "the block keeps its size");
        cr_expect(resident(tail), "the pages past 3 MiB stay resident");
        char *back = realloc(q, 4 * LK_MIB);
        cr_assert_eq(back, p, "growing back stays in place");
        cr_expect_eq(back[3 * LK_MIB + LK_MIB / 2], 0x5a, "with the pages it kept");
        q = back;
    } else {
        cr_expect_eq(malloc_usable_size(q), 3 * LK_MIB, "shrunk to its size");
        cr_expect(!resident(tail), "the tail went back");
    }
    char *half = realloc(q, LK_MIB + 4096); /* below half of 4 MiB */
    cr_assert_eq(half, p);
    cr_expect_eq(malloc_usable_size(half), LK_MIB + 4096, "below half the block shrinks");
    cr_expect(!resident(p + 2 * LK_MIB), "and its tail went back");
    free(half);
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
