/* Kept empty slabs (slab.c, PARTMALLOC_PURGE): a slab that empties stays
 * committed, is reused by the next refill of its cache, and goes back to
 * the OS once PM_PURGE_DECAY_DEFAULT cache operations have passed without
 * its reuse, or at once past the budget (an eighth of the peak bytes out of
 * the slabs, 4 to 64 MiB); PARTMALLOC_PURGE=now keeps one empty slab per
 * cache, as before the decay; malloc_trim(0) and pm_collect return every
 * kept slab. Criterion runs each test in its own process, so what one sets
 * (pm_g.purge_decay) stays in it. tests/run.sh runs the suite again under
 * strict, where freed slots reach their slab through the quarantine. */
#include "testutil.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>

#include "harden.h"
#include "options.h"
#include "slab.h"
#include "tcache.h"

#define MiB ((size_t)1 << 20)
#define OBJ 256                 /* the size class under test */
#define HEAP (2 * MiB)          /* of OBJ-byte objects: within the smallest budget */
#define SWEEP 1024              /* PM_PURGE_SWEEP: the other caches are visited this often */

/* The objects a test fills and frees; one call site, so one cache. */
struct fill {
    void **objs;
    size_t n;
    size_t cid;
};

static struct fill fill(size_t bytes, size_t size) {
    struct fill f = {.n = bytes / size};
    f.objs = pm_malloc(f.n * sizeof *f.objs);
    cr_assert_not_null(f.objs);
    for (size_t i = 0; i < f.n; i++) {
        f.objs[i] = pm_malloc(size);
        cr_assert_not_null(f.objs[i]);
        memset(f.objs[i], 0x5a, size);
    }
    struct pm_slot_ref ref;
    cr_assert(pm_slot_find(f.objs[0], &ref), "a small object is in a slab region");
    f.cid = ref.cid;
    return f;
}

/* Every object freed and back in its slab: out of the thread cache and,
 * under strict, out of the quarantine. */
static void release(struct fill *f) {
    for (size_t i = 0; i < f->n; i++)
        pm_free(f->objs[i]);
    pm_free(f->objs);
    pm_tcache_flush_current();
    pm_quarantine_drain();
}

static size_t kept(size_t cid) {
    return __atomic_load_n(&pm_caches[cid].kept_bytes, __ATOMIC_RELAXED);
}

/* `n` rounds of a 24-byte malloc and free, the thread cache flushed each
 * time: at least one operation of another cache (a refill, a flush) each. */
static void tick_other(size_t n) {
    for (size_t i = 0; i < n; i++) {
        void *volatile p = pm_malloc(24);
        cr_assert_not_null(p);
        pm_free(p);
        pm_tcache_flush_current();
    }
}

static void start_clean(void) {
    pm_collect();
    cr_assert_eq(pm_slab_kept_bytes(), 0, "pm_collect left kept slabs");
}

Test(purge, empty_slabs_are_kept_then_returned_after_the_decay) {
    cr_assert_eq(pm_g.purge_decay, PM_PURGE_DECAY_DEFAULT, "the default decay");
    start_clean();
    struct fill f = fill(HEAP, OBJ);
    struct pm_cache *c = &pm_caches[f.cid];
    uint64_t decommits = c->decommits;
    release(&f);
    cr_expect_geq(kept(f.cid), HEAP / 2, "the freed slabs are kept: %zu KiB", kept(f.cid) >> 10);
    cr_expect_eq(c->decommits, decommits, "no slab went back at the free");
    tick_other(PM_PURGE_DECAY_DEFAULT / 4);
    cr_expect_geq(kept(f.cid), HEAP / 2, "still kept before the decay: %zu KiB", kept(f.cid) >> 10);
    tick_other(PM_PURGE_DECAY_DEFAULT + 2 * SWEEP);
    cr_expect_eq(kept(f.cid), 0, "after the decay the idle cache's slabs went back: %zu KiB left", kept(f.cid) >> 10);
    cr_expect_gt(c->decommits, decommits);
}

/* The control of the test above: with PARTMALLOC_PURGE=now the slabs go
 * back at the free, all but one. */
Test(purge, purge_now_keeps_one_empty_slab_per_cache) {
    pm_g.purge_decay = 0;
    start_clean();
    struct fill f = fill(HEAP, OBJ);
    struct pm_cache *c = &pm_caches[f.cid];
    uint64_t decommits = c->decommits;
    release(&f);
    cr_expect_leq(kept(f.cid), c->slab_bytes, "one slab kept: %zu KiB", kept(f.cid) >> 10);
    cr_expect_geq(c->decommits - decommits, HEAP / c->slab_bytes / 2, "the others went back at once");
}

/* A refill takes a kept slab before one whose pages went back. */
Test(purge, a_refill_reuses_a_kept_slab) {
    start_clean();
    struct fill f = fill(HEAP, OBJ);
    struct pm_cache *c = &pm_caches[f.cid];
    release(&f);
    size_t before = kept(f.cid);
    uint64_t reuses = c->reuses, decommits = c->decommits;
    struct fill again = fill(HEAP / 2, OBJ);
    cr_assert_eq(again.cid, f.cid);
    cr_expect_lt(kept(f.cid), before, "the refill took kept slabs");
    cr_expect_eq(c->reuses, reuses, "no decommitted slab was needed");
    cr_expect_eq(c->decommits, decommits);
    release(&again);
}

/* The budget: with HEAP_BIG out of the slabs once, the kept slabs of all
 * caches stay within an eighth of it, and the resident set with them. */
#define HEAP_BIG (128 * MiB)
Test(purge, kept_slabs_stay_within_the_budget) {
    start_clean();
    size_t rss_start = tu_rss_bytes();
    struct fill f = fill(HEAP_BIG, 1024);
    size_t budget = pm_slab_kept_budget();
    cr_assert_geq(budget, HEAP_BIG / 8, "the peak sets the budget: %zu MiB", budget >> 20);
    cr_assert_leq(budget, 64 * MiB);
    release(&f);
    size_t kept_all = pm_slab_kept_bytes(), rss = tu_rss_bytes();
    cr_expect_leq(kept_all, budget, "kept %zu KiB, budget %zu KiB", kept_all >> 10, budget >> 10);
    cr_expect_geq(kept_all, budget - MiB, "the budget is used: %zu KiB kept", kept_all >> 10);
    /* The control: the budget is well below the heap freed. */
    cr_expect_lt(budget, HEAP_BIG / 4);
    cr_expect_leq(rss, rss_start + budget + HEAP_BIG / 10, "RSS %zu MiB after the free, %zu MiB at the start",
                  rss >> 20, rss_start >> 20);
}

Test(purge, the_budget_is_4_mib_at_least) {
    if (pm_small_bytes_peak() / 8 < 4 * MiB)
        cr_expect_eq(pm_slab_kept_budget(), 4 * MiB);
    else
        cr_expect_geq(pm_slab_kept_budget(), 4 * MiB);
}

Test(purge, malloc_trim_returns_every_kept_slab) {
    start_clean();
    struct fill f = fill(HEAP, OBJ);
    release(&f);
    cr_assert_gt(pm_slab_kept_bytes(), 0);
    size_t rss = tu_rss_bytes();
    cr_expect_eq(malloc_trim(0), 1, "slabs were released");
    cr_expect_eq(pm_slab_kept_bytes(), 0, "%zu KiB kept after trim", pm_slab_kept_bytes() >> 10);
    cr_expect_leq(tu_rss_bytes() + HEAP / 2, rss, "the kept pages left the resident set");
    cr_expect_eq(malloc_trim(0), 0, "nothing is left for a second trim");
}

Test(purge, pm_collect_returns_every_kept_slab) {
    start_clean();
    struct fill f = fill(HEAP, OBJ);
    release(&f);
    size_t before = pm_slab_kept_bytes();
    cr_expect_geq(pm_collect(), before, "collect reports at least the kept bytes");
    cr_expect_eq(pm_slab_kept_bytes(), 0);
}

/* A thread's objects go back to their slabs when it exits (its cache is
 * flushed): kept, and returned by the decay while the cache stays idle. */
static void *fill_and_exit(void *arg) {
    struct fill f = fill(HEAP, OBJ);
    for (size_t i = 0; i < f.n; i++)
        pm_free(f.objs[i]);
    pm_free(f.objs);
    *(size_t *)arg = f.cid;
    return NULL;
}

Test(purge, a_thread_s_slabs_are_kept_at_its_exit_then_decay) {
    start_clean();
    size_t cid = 0;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fill_and_exit, &cid), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    pm_quarantine_drain();
    cr_expect_geq(kept(cid), HEAP / 2, "kept at the thread's exit: %zu KiB", kept(cid) >> 10);
    tick_other(PM_PURGE_DECAY_DEFAULT + 2 * SWEEP);
    cr_expect_eq(kept(cid), 0, "returned by the decay: %zu KiB left", kept(cid) >> 10);
}

/* A child forked with slabs kept has them too, and its decay returns them. */
Test(purge, a_fork_child_keeps_and_decays) {
    start_clean();
    struct fill f = fill(HEAP, OBJ);
    release(&f);
    size_t parent_kept = kept(f.cid);
    cr_assert_gt(parent_kept, 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int bad = kept(f.cid) != parent_kept;
        tick_other(PM_PURGE_DECAY_DEFAULT + 2 * SWEEP);
        bad |= (kept(f.cid) != 0) << 1;
        _exit(bad);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child: kept differed at the fork (1), not returned by the decay (2): %d", WEXITSTATUS(status));
    cr_expect_eq(kept(f.cid), parent_kept, "the child's decay is its own");
}

/* Under strict, freed slots wait in the quarantine: their slabs are not
 * empty, so not kept, until it lets them go; malloc_trim drains it and
 * returns the slabs. */
Test(purge, quarantined_slots_are_not_kept_until_drained) {
    if (!pm_g.harden.quarantine)
        cr_skip_test("no quarantine in this preset (tests/run.sh runs the suite under strict)");
    start_clean();
    struct fill f = fill(HEAP, OBJ);
    for (size_t i = 0; i < f.n; i++)
        pm_free(f.objs[i]);
    pm_free(f.objs);
    cr_expect_lt(kept(f.cid), HEAP / 4, "slots in the quarantine kept their slabs in use: %zu KiB", kept(f.cid) >> 10);
    cr_expect_eq(malloc_trim(0), 1);
    cr_expect_eq(pm_slab_kept_bytes(), 0, "trim drained the quarantine and returned the slabs");
}

/* PARTMALLOC_PURGE read: decay, now, a number; anything else named. */
static void read_options(void *arg) {
    pm_options_read(arg);
}

static void read_bad_purge(void *arg) {
    (void)arg;
    struct pm_options o;
    setenv("PARTMALLOC_PURGE", "soon", 1);
    pm_options_read(&o);
    _exit(o.purge_decay == PM_PURGE_DECAY_DEFAULT ? 0 : 1);
}

Test(purge, the_option_is_read) {
    static const struct {
        const char *value;
        uint32_t decay;
    } cases[] = {{"decay", PM_PURGE_DECAY_DEFAULT}, {"now", 0}, {"1", 1}, {"100000", 100000}, {"1073741824", 1u << 30}};
    struct pm_options o;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("PARTMALLOC_PURGE", cases[i].value, 1);
        pm_options_read(&o);
        cr_expect_eq(o.purge_decay, cases[i].decay, "PARTMALLOC_PURGE=%s", cases[i].value);
    }
    unsetenv("PARTMALLOC_PURGE");
    pm_options_read(&o);
    cr_expect_eq(o.purge_decay, PM_PURGE_DECAY_DEFAULT, "unset: the default");
    struct death d = run_in_child(read_bad_purge, NULL);
    cr_expect_eq(d.exit_code, 0, "a bad value falls back to decay");
    cr_expect_str_eq(d.stderr_text, "partmalloc: invalid PARTMALLOC_PURGE='soon' (accepted: decay, now, or a decay of 1 "
                                    "to 1073741824 cache operations); using decay\n");
    for (const char *const *bad = (const char *const[]){"0", "1073741825", "", "-1", NULL}; *bad; bad++) {
        setenv("PARTMALLOC_PURGE", *bad, 1);
        struct death e = run_in_child(read_options, &o);
        cr_expect_neq(strstr(e.stderr_text, "invalid PARTMALLOC_PURGE="), NULL, "'%s' is refused", *bad);
    }
    unsetenv("PARTMALLOC_PURGE");
}
