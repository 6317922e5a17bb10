/* fork() while other threads allocate and free: the child must find every
 * cache consistent and unlocked, allocate, free and realloc normally
 * (including objects the parent allocated), start threads of its own and
 * fork again. Linked with the static library, so malloc is partmalloc.
 *
 * A child reports through its exit status (0: all good, see enum child_err
 * for the rest); an alarm kills a child that deadlocks (SIGALRM). */
#include "testutil.h" /* first: it defines _GNU_SOURCE */
#include "threadutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define MiB ((size_t)1 << 20)

enum child_err {
    CHILD_OK = 0,
    CHILD_NOT_PARTMALLOC = 10, /* malloc did not return partmalloc memory */
    CHILD_ALLOC_FAILED = 11,
    CHILD_PATTERN = 12,        /* an object's contents changed */
    CHILD_CALLOC_NOT_ZERO = 13,
    CHILD_THREAD = 14,         /* pthread_create failed or a thread saw an error */
    CHILD_GRANDCHILD = 15,     /* a grandchild failed */
    CHILD_INHERITED = 16,      /* an object inherited from the parent was damaged */
};

/* ---- patterns (threadutil.h; keyed by address and size) ---- */

static inline uint64_t rng_next(uint64_t *s) {
    *s += 0x9e3779b97f4a7c15ull;
    return mix(*s);
}

static inline uint64_t seed_of(const void *p, size_t n) {
    return mix((uint64_t)(uintptr_t)p ^ ((uint64_t)n << 40));
}

static inline int intact(const void *p, size_t n, uint64_t seed) {
    return pattern_check(p, n, seed) < 0;
}

/* 1 B .. 96 KiB, most of them small; about 2% large mappings. */
static size_t rand_size(uint64_t *rng) {
    uint64_t r = rng_next(rng);
    switch (r % 8) {
    case 0: case 1: case 2: case 3: return 1 + (size_t)((r >> 8) % 256);
    case 4: case 5: return 257 + (size_t)((r >> 8) % 3840);
    case 6: return 4097 + (size_t)((r >> 8) % 28672);
    default: return (r >> 8) % 8 == 0 ? 32769 + (size_t)((r >> 16) % 65536) : 1 + (size_t)((r >> 16) % 1024);
    }
}

/* ---- objects shared by the parent's threads (and inherited by children) ---- */

#define SLOTS 4096u
#define SLOT_LOCKS 64u
static struct slot slots[SLOTS];
static pthread_mutex_t slot_locks[SLOT_LOCKS];
static atomic_int stop_churn;
static atomic_ulong churn_errors;
static atomic_ulong churn_ops;

static void init_slots(void) {
    for (unsigned i = 0; i < SLOT_LOCKS; i++)
        pthread_mutex_init(&slot_locks[i], NULL);
}

static struct slot exchange(size_t i, void *p, size_t n) {
    return slot_exchange(&slots[i], &slot_locks[i % SLOT_LOCKS], p, n);
}

/* One step of churn: malloc/calloc/realloc a filled object into a random
 * slot, verify and free what it replaces. Returns 0 on any error. */
static int churn_step(uint64_t *rng) {
    uint64_t r = rng_next(rng);
    size_t i = (size_t)(r % SLOTS);
    size_t n = rand_size(rng);
    void *p;
    if ((r >> 20) % 4 == 0) {
        struct slot s = exchange(i, NULL, 0);
        if (s.p && !intact(s.p, s.n, seed_of(s.p, s.n)))
            return 0;
        uint64_t old_seed = s.p ? seed_of(s.p, s.n) : 0;
        p = realloc(s.p, n);
        if (!p)
            return 0;
        if (s.p && !intact(p, s.n < n ? s.n : n, old_seed))
            return 0;
    } else if ((r >> 20) % 4 == 1) {
        unsigned char *z = calloc(n, 1);
        if (!z)
            return 0;
        for (size_t k = 0; k < n; k++)
            if (z[k])
                return 0;
        p = z;
    } else {
        p = malloc(n);
        if (!p)
            return 0;
    }
    pattern_fill(p, n, seed_of(p, n));
    struct slot old = exchange(i, p, n);
    if (old.p) {
        if (!intact(old.p, old.n, seed_of(old.p, old.n)))
            return 0;
        free(old.p);
    }
    return 1;
}

static void *churn_thread(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x51ed2701u + 17;
    while (!atomic_load_explicit(&stop_churn, memory_order_relaxed)) {
        if (!churn_step(&rng))
            atomic_fetch_add(&churn_errors, 1);
        atomic_fetch_add_explicit(&churn_ops, 1, memory_order_relaxed);
    }
    return NULL;
}

#define CHURN_THREADS 4
static pthread_t churners[CHURN_THREADS];

static void start_churn(void) {
    init_slots();
    atomic_store(&stop_churn, 0);
    for (uintptr_t k = 0; k < CHURN_THREADS; k++)
        cr_assert_eq(pthread_create(&churners[k], NULL, churn_thread, (void *)(k + 1)), 0);
    /* let them fill the slots */
    while (atomic_load(&churn_ops) < 20000)
        sched_yield();
}

static void stop_and_drain_churn(void) {
    atomic_store(&stop_churn, 1);
    for (unsigned k = 0; k < CHURN_THREADS; k++)
        pthread_join(churners[k], NULL);
    for (size_t i = 0; i < SLOTS; i++) {
        struct slot s = exchange(i, NULL, 0);
        if (s.p) {
            cr_expect(intact(s.p, s.n, seed_of(s.p, s.n)), "slot %zu damaged", i);
            free(s.p);
        }
    }
    cr_expect_eq(atomic_load(&churn_errors), 0, "the parent's threads saw %lu errors",
                 (unsigned long)atomic_load(&churn_errors));
}

/* ---- what a child does ---- */

/* malloc/free/realloc/calloc objects of every size, some kept alive
 * across the rest of the work. */
static int child_allocate_everything(uint64_t seed) {
    char *probe = malloc(24);
    if (!probe)
        return CHILD_ALLOC_FAILED;
    memset(probe, 1, 24);
    struct pm_ptr_info info;
    if (!pm_ptr_info(probe, &info) || !info.live)
        return CHILD_NOT_PARTMALLOC;
    free(probe);

    enum { KEEP = 512, BURST = 2000 };
    struct slot *kept = calloc(KEEP, sizeof *kept);
    void **burst = calloc(BURST, sizeof *burst);
    if (!kept || !burst)
        return CHILD_ALLOC_FAILED;
    uint64_t rng = seed;
    for (unsigned k = 0; k < KEEP; k++) {
        kept[k].n = rand_size(&rng);
        kept[k].p = malloc(kept[k].n);
        if (!kept[k].p)
            return CHILD_ALLOC_FAILED;
        pattern_fill(kept[k].p, kept[k].n, seed_of(kept[k].p, kept[k].n));
    }
    /* every size class and then some, growing and shrinking */
    for (size_t n = 0; n <= 300000; n = n < 128 ? n + 1 : n + n / 6) {
        unsigned char *p = malloc(n);
        if (!p)
            return CHILD_ALLOC_FAILED;
        pattern_fill(p, n, seed_of(p, n));
        uint64_t s = seed_of(p, n);
        unsigned char *q = realloc(p, n * 2 + 1);
        if (!q)
            return CHILD_ALLOC_FAILED;
        if (!intact(q, n, s))
            return CHILD_PATTERN;
        pattern_fill(q, n * 2 + 1, seed_of(q, n * 2 + 1));
        s = seed_of(q, n * 2 + 1);
        unsigned char *r = realloc(q, n / 3 + 1);
        if (!r)
            return CHILD_ALLOC_FAILED;
        if (!intact(r, n / 3 + 1, s))
            return CHILD_PATTERN;
        free(r);
        unsigned char *z = calloc(1, n);
        if (!z)
            return CHILD_ALLOC_FAILED;
        for (size_t k = 0; k < n; k++)
            if (z[k])
                return CHILD_CALLOC_NOT_ZERO;
        free(z);
    }
    /* aligned too */
    for (size_t a = 8; a <= 65536; a *= 2) {
        void *p = NULL;
        if (posix_memalign(&p, a, a + 8) != 0 || ((uintptr_t)p & (a - 1)))
            return CHILD_ALLOC_FAILED;
        memset(p, 0x5a, a + 8);
        free(p);
    }
    /* a few MiB at once, then give it back */
    for (unsigned k = 0; k < BURST; k++)
        if (!(burst[k] = malloc(1 + k * 7 % 4000)))
            return CHILD_ALLOC_FAILED;
    for (unsigned k = 0; k < BURST; k++)
        free(burst[k]);
    free(burst);
    char *s = NULL;
    if (asprintf(&s, "child %d of %d", (int)getpid(), (int)getppid()) < 0)
        return CHILD_ALLOC_FAILED;
    free(s);
    for (unsigned k = 0; k < KEEP; k++) {
        if (!intact(kept[k].p, kept[k].n, seed_of(kept[k].p, kept[k].n)))
            return CHILD_PATTERN;
        free(kept[k].p);
    }
    free(kept);
    return CHILD_OK;
}

/* The objects the parent's threads had in the slots when it forked: any
 * slot group whose lock was free at fork time is consistent. Verify those
 * objects and free them here (a lock held by a parent thread that does not
 * exist in the child stays held: skip its slots). */
static int child_free_inherited(void) {
    for (unsigned l = 0; l < SLOT_LOCKS; l++) {
        bool usable = pthread_mutex_trylock(&slot_locks[l]) == 0;
        for (size_t i = l; i < SLOTS; i += SLOT_LOCKS) {
            struct slot s = slots[i];
            slots[i] = (struct slot){NULL, 0};
            if (!s.p || !usable)
                continue; /* a held group's objects may be mid-update: left alone */
            if (!intact(s.p, s.n, seed_of(s.p, s.n)))
                return CHILD_INHERITED;
            free(s.p);
        }
        /* Only this thread runs now: make every group usable again for the
         * child's own threads. */
        if (usable)
            pthread_mutex_unlock(&slot_locks[l]);
        pthread_mutex_init(&slot_locks[l], NULL);
    }
    return CHILD_OK;
}

/* Threads in the child, churning the (partly inherited) slots. */
static atomic_ulong child_thread_errors;

struct child_thread_arg {
    uint64_t seed;
    unsigned ops;
};

static void *child_thread(void *argp) {
    struct child_thread_arg *a = argp;
    uint64_t rng = a->seed;
    for (unsigned k = 0; k < a->ops; k++)
        if (!churn_step(&rng))
            atomic_fetch_add(&child_thread_errors, 1);
    /* some thread-local work too */
    return child_allocate_everything(a->seed ^ 0xabcdef) == CHILD_OK ? NULL : (void *)1;
}

static int child_run_threads(unsigned nthreads, unsigned ops, uint64_t seed) {
    pthread_t t[8];
    struct child_thread_arg args[8];
    for (unsigned k = 0; k < nthreads; k++) {
        args[k] = (struct child_thread_arg){mix(seed + k), ops};
        if (pthread_create(&t[k], NULL, child_thread, &args[k]) != 0)
            return CHILD_THREAD;
    }
    int rc = CHILD_OK;
    for (unsigned k = 0; k < nthreads; k++) {
        void *ret;
        pthread_join(t[k], &ret);
        if (ret)
            rc = CHILD_THREAD;
    }
    if (atomic_load(&child_thread_errors))
        rc = CHILD_THREAD;
    return rc;
}

/* Forks, runs fn(seed) in the child (which ends with _exit of its result,
 * never returning into Criterion), and returns the child's wait status. */
static int fork_and_wait(int (*fn)(uint64_t), uint64_t seed) {
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        alarm(60); /* a deadlocked child dies of SIGALRM */
        _exit(fn(seed));
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

#define expect_child_ok(status, what, i)                                                           \
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,                                       \
              "%s %d: child %s %d", what, (int)(i), WIFSIGNALED(status) ? "killed by signal" : "exited with", \
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status))

/* ---- the tests ---- */

static int simple_child(uint64_t seed) {
    int rc = child_allocate_everything(seed);
    if (rc == CHILD_OK)
        rc = child_free_inherited();
    if (rc == CHILD_OK)
        rc = child_allocate_everything(seed + 1); /* reusing the freed memory */
    return rc;
}

Test(fork, fork_while_threads_allocate, .timeout = 300) {
    fflush(NULL);
    start_churn();
    enum { FORKS = 50 };
    for (int i = 0; i < FORKS; i++) {
        int status = fork_and_wait(simple_child, mix((uint64_t)i + 1));
        cr_assert_neq(status, -1, "fork or waitpid failed: %s", strerror(errno));
        expect_child_ok(status, "fork", i);
        /* the parent keeps allocating between forks too */
        uint64_t rng = (uint64_t)i;
        for (int k = 0; k < 200; k++)
            cr_assert(churn_step(&rng));
    }
    stop_and_drain_churn();
}

static int threaded_child(uint64_t seed) {
    int rc = child_free_inherited();
    if (rc == CHILD_OK)
        rc = child_run_threads(4, 5000, seed);
    if (rc == CHILD_OK)
        rc = child_allocate_everything(seed ^ 77);
    return rc;
}

Test(fork, child_creates_threads, .timeout = 300) {
    fflush(NULL);
    start_churn();
    enum { FORKS = 20 };
    for (int i = 0; i < FORKS; i++) {
        int status = fork_and_wait(threaded_child, mix((uint64_t)i + 1000));
        cr_assert_neq(status, -1, "fork or waitpid failed: %s", strerror(errno));
        expect_child_ok(status, "fork", i);
    }
    stop_and_drain_churn();
}

/* A child starts threads, forks while they run, and the grandchild does
 * the same once more. */
static int grandchild(uint64_t seed) {
    int rc = child_free_inherited();
    if (rc == CHILD_OK)
        rc = child_run_threads(2, 2000, seed);
    return rc;
}

struct forker_arg {
    uint64_t seed;
    int status;
};

static void *forking_thread(void *argp) {
    struct forker_arg *a = argp;
    a->status = fork_and_wait(grandchild, a->seed);
    return NULL;
}

static int nesting_child(uint64_t seed) {
    /* churn in this child while one of its threads forks */
    int rc = child_free_inherited();
    if (rc != CHILD_OK)
        return rc;
    stop_churn = 0;
    pthread_t t[2];
    for (uintptr_t k = 0; k < 2; k++)
        if (pthread_create(&t[k], NULL, churn_thread, (void *)(k + 100)) != 0)
            return CHILD_THREAD;
    struct forker_arg fa = {seed, -1};
    pthread_t f;
    if (pthread_create(&f, NULL, forking_thread, &fa) != 0)
        return CHILD_THREAD;
    pthread_join(f, NULL);
    atomic_store(&stop_churn, 1);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    if (atomic_load(&churn_errors))
        return CHILD_THREAD;
    if (fa.status == -1 || !WIFEXITED(fa.status) || WEXITSTATUS(fa.status) != 0)
        return CHILD_GRANDCHILD;
    return child_allocate_everything(seed + 5);
}

Test(fork, nested_fork_from_threads, .timeout = 300) {
    fflush(NULL);
    start_churn();
    enum { FORKS = 10 };
    for (int i = 0; i < FORKS; i++) {
        int status = fork_and_wait(nesting_child, mix((uint64_t)i + 5000));
        cr_assert_neq(status, -1, "fork or waitpid failed: %s", strerror(errno));
        expect_child_ok(status, "fork", i);
    }
    stop_and_drain_churn();
}

/* fork() called from a thread other than the main one, while the main
 * thread and the others allocate. */
struct thread_forks {
    int forks, failed, first_status;
};

static void *thread_that_forks(void *argp) {
    struct thread_forks *tf = argp;
    for (int i = 0; i < tf->forks; i++) {
        int status = fork_and_wait(simple_child, mix((uint64_t)i + 9000));
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (!tf->failed++)
                tf->first_status = status;
        }
    }
    return NULL;
}

Test(fork, fork_from_a_secondary_thread, .timeout = 300) {
    fflush(NULL);
    start_churn();
    struct thread_forks tf = {20, 0, 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, thread_that_forks, &tf), 0);
    /* the main thread allocates meanwhile */
    uint64_t rng = 42;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    void *ret;
    for (;;) {
        for (int k = 0; k < 100; k++)
            cr_assert(churn_step(&rng));
        if (pthread_tryjoin_np(t, &ret) == 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        cr_assert_lt(now.tv_sec - start.tv_sec, 240, "the forking thread did not finish");
    }
    cr_expect_eq(tf.failed, 0, "%d of %d children failed, first status %#x", tf.failed, tf.forks, tf.first_status);
    stop_and_drain_churn();
}

/* fork() while threads are being created and are exiting: their caches
 * are being created and handed back (under the thread-cache lock) as the
 * parent forks. */
static void *short_lived(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (int k = 0; k < 50; k++)
        if (!churn_step(&rng))
            atomic_fetch_add(&churn_errors, 1);
    return NULL;
}

static void *spawner(void *arg) {
    (void)arg;
    for (uintptr_t n = 1; !atomic_load(&stop_churn); n++) {
        pthread_t t[2];
        int made = 0;
        for (int k = 0; k < 2; k++)
            made += pthread_create(&t[k], NULL, short_lived, (void *)(n * 2 + (uintptr_t)k)) == 0;
        for (int k = 0; k < made; k++)
            pthread_join(t[k], NULL);
    }
    return NULL;
}

Test(fork, fork_while_threads_start_and_exit, .timeout = 300) {
    fflush(NULL);
    start_churn();
    pthread_t s[2];
    for (int k = 0; k < 2; k++)
        cr_assert_eq(pthread_create(&s[k], NULL, spawner, NULL), 0);
    enum { FORKS = 30 };
    for (int i = 0; i < FORKS; i++) {
        int status = fork_and_wait(i % 2 ? threaded_child : simple_child, mix((uint64_t)i + 7000));
        cr_assert_neq(status, -1, "fork or waitpid failed: %s", strerror(errno));
        expect_child_ok(status, "fork", i);
    }
    atomic_store(&stop_churn, 1);
    for (int k = 0; k < 2; k++)
        pthread_join(s[k], NULL);
    stop_and_drain_churn();
}
