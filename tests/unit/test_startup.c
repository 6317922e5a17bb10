/* What a process pays for the library before it does much: the pages the
 * walks over every cache touch (fork, the purge sweep, trim, statistics),
 * the pages of a thread's cache its first allocations write, and the
 * calls that make a fresh cache's first slab writable.
 * Criterion runs each test in its own process. */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <partmalloc/slab.h>

#include "options.h"
#include "os.h"
#include "slab.h"
#include "tcache.h"

static long minor_faults(void) {
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_minflt;
}

/* Pages of the cache table: each holds a few records. */
static size_t table_pages(void) {
    return (pm_g.num_caches * sizeof(struct pm_cache) + PM_PAGE - 1) / PM_PAGE;
}

/* One object of each small class: a spread of caches set up. */
static void use_every_small_class(void) {
    for (size_t size = 8; size <= 32768; size = size * 3 / 2 + 8)
        pm_free(pm_malloc(size));
}

/* The walk (pm_cache_next) visits every cache that is set up, in order,
 * each once, and stops at num_caches. */
Test(startup, the_walk_visits_every_cache_set_up) {
    use_every_small_class();
    struct kmem_cache *dedicated = kmem_cache_create("startup-walk", 200, 8, 0, NULL);
    cr_assert_not_null(dedicated);
    kmem_cache_free(dedicated, kmem_cache_alloc(dedicated, 0));
    size_t valid = 0, visited = 0, last = 0;
    bool first = true;
    for (size_t cid = 0; cid < pm_g.num_caches; cid++)
        valid += PM_CID_VALID(cid);
    for (size_t cid = pm_cache_next(0); cid < pm_g.num_caches; cid = pm_cache_next(cid + 1)) {
        cr_assert(first || cid > last, "ids in order: %zu after %zu", cid, last);
        first = false;
        last = cid;
        visited += PM_CID_VALID(cid);
    }
    cr_assert_geq(valid, 10, "caches set up: %zu", valid);
    cr_assert_eq(visited, valid, "the walk saw %zu of the %zu caches set up", visited, valid);
    cr_assert_eq(pm_cache_next(pm_g.num_caches), pm_g.num_caches);
    kmem_cache_destroy(dedicated);
}

/* fork() holds every cache's lock across the call and re-makes the locks
 * in the child: the parent's cost in page faults stays far below one per
 * page of the cache table (157 at 16 partitions when every record was
 * read), as does the child's until it exits. */
Test(startup, fork_touches_only_the_pages_of_caches_in_use) {
    pm_free(pm_malloc(32));
    pm_free(pm_malloc(32)); /* the faults of the first use are behind us */
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    long before = minor_faults();
    pid_t pid = fork();
    if (pid == 0) {
        pm_free(pm_malloc(32));
        long child = minor_faults();
        _exit(write(fds[1], &child, sizeof child) == (ssize_t)sizeof child ? 0 : 1);
    }
    long parent = minor_faults() - before, child = -1;
    cr_assert_neq(pid, -1);
    cr_assert_eq(read(fds[0], &child, sizeof child), (ssize_t)sizeof child);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    long bound = (long)table_pages() / 4;
    cr_log_info("fork: parent %ld, child %ld minor faults; cache table %zu pages", parent, child, table_pages());
    cr_assert_lt(parent, bound, "the parent's fork took %ld minor faults (cache table: %zu pages)", parent,
                 table_pages());
    cr_assert_lt(child, 2 * bound, "the child took %ld minor faults (cache table: %zu pages)", child, table_pages());
}

/* A walk over the caches (pm_collect trims each) reads no page of the
 * cache table that no record was written to. */
Test(startup, a_walk_reads_no_page_of_unused_records) {
    pm_free(pm_malloc(32));
    pm_free(pm_malloc(32));
    long before = minor_faults();
    pm_collect();
    pm_collect();
    long taken = minor_faults() - before;
    cr_log_info("two trims: %ld minor faults; cache table %zu pages", taken, table_pages());
    cr_assert_lt(taken, (long)table_pages() / 4, "two trims took %ld minor faults (cache table: %zu pages)", taken,
                 table_pages());
}

/* Resident pages of [p, p + bytes). */
static size_t resident_pages(const void *p, size_t bytes) {
    char *start = (char *)((uintptr_t)p & ~(uintptr_t)(PM_PAGE - 1));
    size_t pages = ((uintptr_t)p + bytes - (uintptr_t)start + PM_PAGE - 1) / PM_PAGE, n = 0;
    unsigned char *vec = pm_os_meta_alloc(pages, PM_USE_METADATA);
    cr_assert_not_null(vec);
    cr_assert(pm_os_resident(start, pages * PM_PAGE, vec));
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    pm_os_meta_free(vec, pages);
    return n;
}

struct first_use {
    size_t resident;        /* pages of the thread's cache (its bins) resident */
    bool used_ready, unused_zero;
    size_t cid_used, cid_unused;
};

static void *thread_first_use(void *arg) {
    struct first_use *u = arg;
    void *p = pm_malloc(48);
    struct pm_slot_ref ref;
    cr_assert(pm_slot_find(p, &ref));
    u->cid_used = ref.cid;
    for (int i = 0; i < 1000; i++) { /* the bin emptied, refilled, filled and flushed */
        void *q[40];
        for (int k = 0; k < 40; k++)
            q[k] = pm_malloc(48);
        for (int k = 0; k < 40; k++)
            pm_free(q[k]);
    }
    pm_free(p);
    struct pm_tcache *tc = pm_tc;
    cr_assert_neq(tc, &pm_tcache_empty);
    u->cid_unused = u->cid_used + 1;
    u->used_ready = tc->bins[u->cid_used].end != NULL && tc->bins[u->cid_used].base != NULL;
    u->unused_zero = tc->bins[u->cid_unused].end == NULL && tc->bins[u->cid_unused].top == NULL;
    u->resident = resident_pages(tc->bins, sizeof tc->bins);
    return NULL;
}

/* A thread's cache sets up the bins it uses only: a thread allocating
 * from one cache has one or two pages of bins resident, not every bin's
 * (14 pages at 16 partitions), and the bins it never used read zero. */
Test(startup, a_thread_cache_writes_the_bins_it_uses) {
    pm_free(pm_malloc(1));
    if (pm_g.slow_only)
        cr_skip_test("this preset bypasses thread caches (PARTMALLOC_HARDEN=%s)", getenv("PARTMALLOC_HARDEN"));
    struct first_use u = {0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, thread_first_use, &u), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_log_info("%zu pages of the thread's bins resident", u.resident);
    cr_assert(u.used_ready, "the bin of cache %zu is set up", u.cid_used);
    cr_assert(u.unused_zero, "the bin of cache %zu, never used, reads zero", u.cid_unused);
    cr_assert_leq(u.resident, 2, "%zu pages of the thread's bins are resident", u.resident);
}

/* Bins set up lazily serve every cache as before: objects of many sizes
 * from fresh threads, their contents kept, counted by the statistics. */
static void *thread_many_sizes(void *arg) {
    (void)arg;
    for (size_t size = 1; size <= 40000; size = size * 5 / 4 + 1) {
        unsigned char *p[70];
        for (int k = 0; k < 70; k++) {
            p[k] = pm_malloc(size);
            cr_assert_not_null(p[k]);
            memset(p[k], k, size);
        }
        for (int k = 0; k < 70; k++) {
            cr_assert_eq(p[k][0], (unsigned char)k);
            cr_assert_eq(p[k][size - 1], (unsigned char)k);
            pm_free(p[k]);
        }
    }
    return NULL;
}

Test(startup, lazy_bins_serve_every_class) {
    for (int round = 0; round < 3; round++) { /* the later threads take caches the earlier gave back */
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            cr_assert_eq(pthread_create(&t[i], NULL, thread_many_sizes, NULL), 0);
        for (int i = 0; i < 2; i++)
            cr_assert_eq(pthread_join(t[i], NULL), 0);
    }
    thread_many_sizes(NULL);
}

/* Child: the first allocation of a fresh cache with its nth commit set to
 * fail; exits 1 once nth is past the commits that allocation makes. */
#define FRESH_SIZE 28000 /* a class nothing else in this suite uses */
static int fresh_cache_commits_past(uint64_t nth) {
    pm_free(pm_malloc(8)); /* the thread cache exists: only the cache's own commits are counted */
    pm_os_fail(PM_OS_FAIL_PROTECT, nth, 1, ENOMEM);
    void *p = pm_malloc(FRESH_SIZE);
    bool past = pm_os_fail_pending() != 0;
    pm_os_fail(0, 0, 0, 0);
    pm_free(p);
    return past;
}

/* A fresh cache's first slab is made writable in four calls: its record,
 * its state bytes with the free map below them, its slab records, the
 * slab (five before, the map apart; strict adds the per-slot sizes). */
Test(startup, a_first_slab_in_four_commits) {
    pm_free(pm_malloc(1));
    uint64_t nth = 1;
    for (; nth < 20; nth++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0)
            _exit(fresh_cache_commits_past(nth));
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status), "status %#x", status);
        if (WEXITSTATUS(status) == 1)
            break;
    }
    uint64_t commits = nth - 1, most = 4 + (pm_g.slow_only ? 1 : 0);
    cr_log_info("%lu commits at a fresh cache's first slab", (unsigned long)commits);
    cr_assert_geq(commits, 3);
    cr_assert_leq(commits, most, "%lu commits at a fresh cache's first slab (at most %lu)", (unsigned long)commits,
                  (unsigned long)most);
}

/* A fresh cache's first slot: its state byte and its free-map word share
 * one page (the map's first words lie just below the state bytes, which
 * start inside a page), so the first allocations of a cache fault in one
 * page of them, not two. Twelve fresh caches of 16..256 bytes fault in at
 * most four pages each, the object's page, the slab records', the states'
 * and a share of the thread cache's and the records' (five before). */
Test(startup, a_fresh_cache_faults_in_one_page_of_states_and_map) {
    pm_free(pm_malloc(8));
    static const size_t sizes[] = {16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256};
    long total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        long before = minor_faults();
        void *p = pm_malloc(sizes[i]);
        total += minor_faults() - before;
        struct pm_slot_ref ref;
        cr_assert(pm_slot_find(p, &ref));
        cr_assert_not_null(ref.seg);
        uintptr_t map_page = (uintptr_t)ref.seg->free_map / PM_PAGE, state_page = (uintptr_t)ref.seg->state / PM_PAGE;
        cr_assert_eq(map_page, state_page, "%zu B: the first map word and the first state byte are on pages %#lx, %#lx",
                     sizes[i], (unsigned long)map_page, (unsigned long)state_page);
        pm_free(p);
    }
    /* strict adds each cache's per-slot sizes, its canaries and quarantine */
    long most = 12 * (pm_g.slow_only ? 7 : 4);
    cr_log_info("12 fresh caches: %ld minor faults", total);
    cr_assert_leq(total, most, "12 fresh caches took %ld minor faults (at most %ld)", total, most);
}
