/* Injected OS failures (src/os.h's pm_os_fail) swept over a whole
 * workload: for every k, the k-th memory system call fails — once, or from
 * then on for a while — and the workload must see NULL with ENOMEM (or
 * ENOMEM from posix_memalign) and nothing else: no crash, no hang, no block
 * that is not whole, no block handed out twice. Once the failures stop,
 * the same workload must succeed in full. Each k runs in a child forked
 * from the suite, so every k starts from the same state: the library set
 * up (its regions reserved at the suite's first allocation, which is not
 * swept: a process that cannot reserve them stops at start with its own
 * message), each cache the workload uses not yet touched, so the caches'
 * own set-up is swept. tests/run.sh runs the suite in the default preset,
 * in strict (guards, quarantine, per-slot sizes: more calls, more places
 * to fail) and with 1 MiB regions (caches taking regions as they fill). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "options.h"
#include "os.h"
#include "partmalloc.h"

#define ALL_KINDS (PM_OS_FAIL_MAP | PM_OS_FAIL_PROTECT | PM_OS_FAIL_REMAP)
#define MAX_CALLS 2000        /* the sweep ends once a workload makes fewer calls than k */
#define WORKLOAD_SECONDS 20   /* a child still running then has hung */

/* Exit codes of a child. */
enum { CHILD_OK = 0, CHILD_ABSORBED = 1, CHILD_NOT_REACHED = 10, CHILD_BAD = 11 };
/* CHILD_OK: the failure reached the workload (an allocation gave NULL);
 * CHILD_ABSORBED: the library absorbed it (a retry, a fallback) and every
 * allocation succeeded. */

#define BLOCKS 48

struct block {
    unsigned char *p;
    size_t size;
    unsigned char fill;
};

static struct block blocks[BLOCKS];

static void bad(const char *what, size_t i, size_t size) {
    fprintf(stderr, "test_os_inject: %s (block %zu, %zu bytes, errno %d)\n", what, i, size, errno);
    _exit(CHILD_BAD);
}

/* A result: a whole block with its fill, or NULL with ENOMEM. */
static void took(size_t i, void *p, size_t size, int err) {
    if (!p) {
        if (err != ENOMEM)
            bad("a failed allocation did not say ENOMEM", i, size);
        blocks[i] = (struct block){0};
        return;
    }
    unsigned char fill = (unsigned char)(i * 37 + 1);
    memset(p, fill, size);
    blocks[i] = (struct block){p, size, fill};
}

/* Every held block still holds its own fill: no two overlap. */
static void check_all(void) {
    for (size_t i = 0; i < BLOCKS; i++)
        for (size_t k = 0; blocks[i].p && k < blocks[i].size; k += 61)
            if (blocks[i].p[k] != blocks[i].fill)
                bad("a block lost its contents", i, blocks[i].size);
}

static size_t size_of(size_t i, unsigned round) {
    static const size_t sizes[] = {8, 24, 100, 512, 3000, 20000, 40000, 300000};
    return sizes[(i + round) % (sizeof sizes / sizeof sizes[0])];
}

/* Every entry point that maps, commits, remaps or gives back: small and
 * large blocks, calloc, realloc growing in place and moving, large
 * alignments, frees, pm_collect's decommit, and allocation after it.
 * Returns how many allocations failed. */
static size_t workload(void) {
    size_t failed = 0;
    for (unsigned round = 0; round < 2; round++) {
        for (size_t i = 0; i < BLOCKS; i++) {
            size_t size = size_of(i, round);
            errno = 0;
            void *p;
            int err;
            switch (i % 4) {
            case 0:
                p = pm_malloc(size);
                err = errno;
                break;
            case 1:
                p = pm_calloc(1, size);
                err = errno;
                for (size_t k = 0; p && k < size; k += 97)
                    if (((unsigned char *)p)[k])
                        bad("calloc gave a byte that is not zero", i, size);
                break;
            case 2:
                err = pm_posix_memalign(&p, (size_t)4096 << (i % 5), size);
                if (err)
                    p = NULL;
                else if ((uintptr_t)p & (((size_t)4096 << (i % 5)) - 1))
                    bad("posix_memalign's block is not aligned", i, size);
                break;
            default:
                p = pm_aligned_alloc(64, size);
                err = errno;
                break;
            }
            failed += p == NULL;
            took(i, p, size, err);
        }
        check_all();
        for (size_t i = 0; i < BLOCKS; i += 2) { /* grow half of them */
            if (!blocks[i].p)
                continue;
            size_t grown = blocks[i].size * 3 + 4096;
            errno = 0;
            unsigned char *q = pm_realloc(blocks[i].p, grown);
            if (!q) {
                if (errno != ENOMEM)
                    bad("a failed realloc did not say ENOMEM", i, grown);
                failed++; /* the old block is still the program's */
                continue;
            }
            for (size_t k = 0; k < blocks[i].size; k += 61)
                if (q[k] != blocks[i].fill)
                    bad("realloc lost the contents", i, grown);
            memset(q, blocks[i].fill, grown);
            blocks[i] = (struct block){q, grown, blocks[i].fill};
        }
        check_all();
        for (size_t i = 0; i < BLOCKS; i++)
            pm_free(blocks[i].p);
        memset(blocks, 0, sizeof blocks);
        pm_collect();
    }
    return failed;
}

/* In a fresh process: the preset, set-up, the injection, the workload,
 * then recovery. */
static void child(uint64_t k, uint64_t count) {
    alarm(WORKLOAD_SECONDS);
    pm_os_fail(ALL_KINDS, k, count, ENOMEM);
    size_t failed = workload();
    bool reached = pm_os_fail_pending() < count;
    pm_os_fail(0, 0, 0, 0);
    if (workload() != 0)
        bad("allocations failed after the failures stopped", 0, 0);
    _exit(!reached ? CHILD_NOT_REACHED : failed ? CHILD_OK : CHILD_ABSORBED);
}

/* Sweeps k from 1 until the workload makes fewer than k calls; returns
 * how many k it ran, and in *seen how many of them gave a NULL. */
static uint64_t sweep(const char *preset, uint64_t count, uint64_t *seen) {
    uint64_t k;
    *seen = 0;
    for (k = 1; k <= MAX_CALLS; k++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0)
            child(k, count);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
            cr_assert_fail("%s: failing OS call %lu (%lu in a row): killed by signal %d%s", preset,
                           (unsigned long)k, (unsigned long)count, WTERMSIG(status),
                           WTERMSIG(status) == SIGALRM ? " (the workload did not finish)" : "");
        cr_assert(WIFEXITED(status), "%s: status %#x", preset, status);
        if (WEXITSTATUS(status) == CHILD_NOT_REACHED)
            return k;
        *seen += WEXITSTATUS(status) == CHILD_OK;
        cr_assert(WEXITSTATUS(status) == CHILD_OK || WEXITSTATUS(status) == CHILD_ABSORBED,
                  "%s: failing OS call %lu (%lu in a row): see above", preset, (unsigned long)k, (unsigned long)count);
    }
    cr_assert_fail("%s: the workload makes more than %d OS calls", preset, MAX_CALLS);
    return k;
}

/* The sweep reaches past set-up: a workload this size makes tens of calls
 * at least, so a sweep that ends at once is a broken sweep. */
static void expect_swept(uint64_t count) {
    const char *harden = getenv("PARTMALLOC_HARDEN"), *region = getenv("PARTMALLOC_REGION_SIZE");
    char preset[128];
    snprintf(preset, sizeof preset, "%s preset%s%s", harden ? harden : "default", region ? ", regions of " : "",
             region ? region : "");
    uint64_t seen, calls = sweep(preset, count, &seen);
    cr_expect_gt(calls, 20, "%s: only %lu calls swept", preset, (unsigned long)calls);
    /* and the failures reach the program: a sweep where none did would
     * show nothing of the NULL and ENOMEM checks */
    cr_expect_gt(seen, calls / 4, "%s: only %lu of %lu failing calls gave a NULL", preset, (unsigned long)seen,
                 (unsigned long)calls);
    cr_log_info("%s, %lu failing in a row: %lu calls swept, %lu gave the program a NULL", preset,
                (unsigned long)count, (unsigned long)calls, (unsigned long)seen);
}

Test(os_inject, every_call_failing_once, .timeout = 900) {
    expect_swept(1);
}

Test(os_inject, failures_lasting_forty_calls, .timeout = 900) {
    expect_swept(40);
}

/* The control: the checks can fail. A child that hands out a block with
 * the wrong errno, or loses contents, exits CHILD_BAD; here a workload
 * that "fails" without ENOMEM must be caught by took(). */
Test(os_inject, control_a_wrong_errno_is_caught) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        took(0, NULL, 16, EINVAL);
        _exit(CHILD_OK);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == CHILD_BAD, "status %#x", status);
}

/* ---- the commits of metadata reserved read-only ----
 *
 * A cache's first slab makes writable, one call each, its record, its slot
 * states with its free map (one range), its slab records and the slab
 * itself (strict adds the per-slot sizes). Each of them failing in turn must fail that one
 * allocation with ENOMEM (or be absorbed by a retry), and the next must
 * succeed and be writable. */
#define FRESH_SIZE 28000 /* a class nothing else in this suite uses */

/* Child: the nth commit fails at the first allocation of a fresh cache. */
static int fresh_cache_commit_failing(uint64_t nth) {
    pm_free(pm_malloc(8)); /* the thread cache exists: only the cache's own commits are counted */
    pm_os_fail(PM_OS_FAIL_PROTECT, nth, 1, ENOMEM);
    errno = 0;
    void *p = pm_malloc(FRESH_SIZE);
    int err = errno;
    if (pm_os_fail_pending() != 0)
        return CHILD_NOT_REACHED;
    if (p) { /* absorbed: strict retries a refill after draining its quarantine */
        memset(p, 0x5a, FRESH_SIZE);
        pm_free(p);
    } else if (err != ENOMEM) {
        return CHILD_BAD;
    }
    unsigned char *q = pm_malloc(FRESH_SIZE);
    if (!q)
        return CHILD_BAD;
    memset(q, 0x5a, FRESH_SIZE);
    pm_free(q);
    return CHILD_OK;
}

Test(os_inject, each_commit_of_a_fresh_cache_failing) {
    uint64_t nth = 1;
    for (;; nth++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0)
            _exit(fresh_cache_commit_failing(nth));
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status), "commit %lu: status %#x", (unsigned long)nth, status);
        if (WEXITSTATUS(status) == CHILD_NOT_REACHED)
            break;
        cr_assert_eq(WEXITSTATUS(status), CHILD_OK, "commit %lu failing: not ENOMEM (or a block) then success",
                     (unsigned long)nth);
    }
    cr_assert_geq(nth - 1, 4, "only %lu commits at a cache's first slab (record, states and map, records, slab)",
                  (unsigned long)(nth - 1));
}

static void *thread_allocates(void *arg) {
    (void)arg;
    unsigned char *p = pm_malloc(100);
    if (p) {
        memset(p, 0x33, 100);
        pm_free(p);
    }
    return p;
}

static sem_t allocated, release;

/* Allocates (the result in *arg), says so, and lives until released, so
 * that its thread cache stays taken. */
static void *thread_allocates_and_holds(void *arg) {
    *(void **)arg = thread_allocates(NULL);
    sem_post(&allocated);
    sem_wait(&release);
    return NULL;
}

/* A new thread whose thread cache cannot be made writable is served from
 * the caches directly; the next thread gets its thread cache. */
Test(os_inject, a_thread_cache_that_cannot_be_committed) {
    pm_free(pm_malloc(1)); /* the options read */
    if (pm_g.slow_only) /* strict: no thread takes a cache, the failed commit would land elsewhere or nowhere */
        cr_skip_test("this preset bypasses thread caches (PARTMALLOC_HARDEN=%s)", getenv("PARTMALLOC_HARDEN"));
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        pm_free(pm_malloc(100)); /* the cache is set up and has a slab: the thread's cache is the one commit */
        pm_os_fail(PM_OS_FAIL_PROTECT, 1, 1, ENOMEM);
        /* Threads kept alive one after another until one needs a thread
         * cache never made writable before: caches freed by earlier threads
         * (carved several at once) need no commit, and how many there are
         * depends on what ran before the fork. */
        enum { MAX_THREADS = 64 };
        pthread_t t[MAX_THREADS];
        void *got[MAX_THREADS];
        int started = 0;
        sem_init(&allocated, 0, 0);
        sem_init(&release, 0, 0);
        while (started < MAX_THREADS && pm_os_fail_pending() != 0) {
            if (pthread_create(&t[started], NULL, thread_allocates_and_holds, &got[started]) != 0)
                _exit(CHILD_BAD);
            sem_wait(&allocated);
            started++;
        }
        bool reached = pm_os_fail_pending() == 0;
        for (int i = 0; i < started; i++)
            sem_post(&release);
        for (int i = 0; i < started; i++)
            if (pthread_join(t[i], NULL) != 0 || !got[i])
                _exit(CHILD_BAD);
        if (!reached)
            _exit(CHILD_NOT_REACHED);
        void *after = NULL;
        pthread_t last;
        if (pthread_create(&last, NULL, thread_allocates, NULL) != 0 || pthread_join(last, &after) != 0 || !after)
            _exit(CHILD_BAD);
        _exit(CHILD_OK);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK, "status %#x", status);
}
