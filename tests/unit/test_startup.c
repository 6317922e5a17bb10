/* What a process pays for the library before it does much: the pages the
 * walks over every cache touch (fork, the purge sweep, trim, statistics),
 * Criterion runs
 * each test in its own process. tests/scripts/startup_cost.sh measures the
 * same from outside, against glibc. */
#include "testutil.h"

#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <partmalloc/slab.h>

#include "options.h"
#include "slab.h"

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
