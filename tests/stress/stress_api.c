/* A multi-threaded differential stress of partmalloc's API.
 *
 * The API fuzzer's operation language (tests/fuzz/api_ops.h) driven by a
 * seeded generator instead of an input: STRESS_THREADS threads (4) each run
 * programs over a table of their own, with the same checks (every block's
 * pattern before each realloc and free, alignment, usable size and
 * placement of every result) and the same model of what each call must
 * return, which is glibc's: NULL with ENOMEM for sizes and products that
 * cannot be served, EINVAL for invalid alignments, realloc(p, 0) frees p and
 * returns NULL. Blocks also go from thread to thread through an exchange
 * table of atomic swaps, so that a block allocated in one thread is
 * reallocated and freed in another. Halfway through, thread 0 forks: the
 * child goes on alone for a quarter of the time, then frees what it holds
 * and exits; the parent checks its exit status.
 *
 * Environment: STRESS_SECONDS (2), STRESS_THREADS (4, at most 32),
 * STRESS_SEED (from the clock; printed), STRESS_CORRUPT=1 (the control:
 * thread 0 changes one byte of a block's pattern and frees it, which must
 * stop the program with a model disagreement), and partmalloc's own options.
 * Prints one line of counts and exits 0 when every check held.
 *
 * Two builds (tests/tests.mk): linked with the library, which is then the
 * process's allocator, and against its TSan objects with the C names
 * renamed pmfz_* (STRESS_RENAMED), as the fuzzer is built for ASan.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#ifndef STRESS_RENAMED
/* The library is the process's allocator: the C names are its. */
#define pmfz_malloc malloc
#define pmfz_calloc calloc
#define pmfz_realloc realloc
#define pmfz_reallocarray reallocarray
#define pmfz_aligned_alloc aligned_alloc
#define pmfz_posix_memalign posix_memalign
#define pmfz_memalign memalign
#define pmfz_valloc valloc
#define pmfz_pvalloc pvalloc
#define pmfz_free free
#define pmfz_free_sized free_sized
#define pmfz_free_aligned_sized free_aligned_sized
#define pmfz_malloc_usable_size malloc_usable_size
#define pmfz___libc_malloc __libc_malloc
#define pmfz___libc_calloc __libc_calloc
#define pmfz___libc_realloc __libc_realloc
#define pmfz___libc_memalign __libc_memalign
#define pmfz___libc_valloc __libc_valloc
#define pmfz___libc_pvalloc __libc_pvalloc
#define pmfz___libc_free __libc_free
#define pmfz_malloc_trim malloc_trim
#endif

#define OPS_TLS _Thread_local
#include "api_ops.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_TSAN 1
#endif
#endif

#ifdef STRESS_TSAN
/* partmalloc's fork handler holds every cache lock across fork(), more
 * than the 64 that TSan's lock-order detector tracks per thread (see
 * tests/unit/test_threads.c); races are still reported, and the first one
 * stops the program. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) {
    return "detect_deadlocks=0 halt_on_error=1";
}
#endif

#define MAX_THREADS 32
#define XCHG 64     /* the exchange table */
#define CARRIERS 16 /* exchange records per thread */

/* A block on its way between threads: its record, written by the thread
 * that hands it over and read by the one that takes it; the swap orders
 * the two. The records themselves change hands with the blocks. */
static _Atomic(struct block *) xchg[XCHG];
static struct block carrier_pool[MAX_THREADS * CARRIERS];
static OPS_TLS struct block *free_carriers[MAX_THREADS * CARRIERS];
static OPS_TLS unsigned nfree;

struct counts {
    _Atomic unsigned long ops, handed, child_ops;
};
static struct counts *counts; /* shared with the fork child */

static atomic_bool stop, fork_now;
static unsigned threads = 4;
static double seconds = 2;
static bool corrupt;
static pid_t child = -1;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Swaps the block of a slot (or nothing) with an entry of the exchange
 * table. A dedicated cache's object stays with the table that owns the
 * cache. */
static void op_exchange(struct input *in) {
    int s = u8(in) % SLOTS;
    unsigned x = u8(in) % XCHG;
    struct block *b = &slots[s];
    struct block *give = NULL;
    if (b->p && b->how == HOW_CACHE)
        return;
    if (b->p) {
        verify(b, SIZE_MAX, "before handing over");
        if (!nfree) {
            release(s, u8(in));
        } else {
            give = free_carriers[--nfree];
            *give = *b;
            memset(b, 0, sizeof *b);
        }
    }
    struct block *got = atomic_exchange_explicit(&xchg[x], give, memory_order_acq_rel);
    if (!got)
        return;
    *b = *got;
    free_carriers[nfree++] = got;
    verify(b, SIZE_MAX, "after handing over");
    CHECK(usable_of(b->p) >= b->size, "usable size of %p (%zu bytes) shrank in another thread", (void *)b->p,
          b->size);
    atomic_fetch_add_explicit(&counts->handed, 1, memory_order_relaxed);
}

/* Frees what the table, its caches and the exchange table hold. */
static void finish(bool drain) {
    reset();
    for (int k = 0; k < CACHES; k++)
        destroy_cache(k);
    if (!drain)
        return;
    for (unsigned x = 0; x < XCHG; x++) {
        struct block *got = atomic_exchange(&xchg[x], NULL);
        if (!got)
            continue;
        slots[0] = *got;
        release(0, (uint8_t)x);
    }
}

/* The control: one byte of a block's pattern changed, then the block freed
 * through the checked path, which must report it. */
static void corrupt_one(void) {
    for (int s = 0; s < SLOTS; s++) {
        struct block *b = &slots[s];
        if (!b->p || b->size <= CTOR_BYTES)
            continue;
        b->p[b->size - 1] ^= 0x5a;
        release(s, 0);
        fail("the changed byte of %p was not noticed", (void *)b->p);
    }
}

/* Runs operations until `until` (or the stop flag when until is 0). */
static unsigned long run(struct input *in, unsigned id, double until, _Atomic unsigned long *count) {
    unsigned long ops = 0;
    for (;;) {
        for (int i = 0; i < 256; i++) {
            if (u8(in) < 24)
                op_exchange(in);
            else
                run_op(in);
        }
        ops += 256;
        atomic_fetch_add_explicit(count, 256, memory_order_relaxed);
        if (corrupt && id == 0 && ops >= 4096)
            corrupt_one();
        if (until ? now() >= until : atomic_load_explicit(&stop, memory_order_relaxed))
            return ops;
        if (id == 0 && child < 0 && atomic_load_explicit(&fork_now, memory_order_relaxed)) {
            fflush(NULL);
            pid_t pid = fork();
            CHECK(pid >= 0, "fork failed: errno %d", errno);
            if (pid == 0) {
                /* the child: this thread alone, the same tables, then a clean exit */
                static char name[96];
                snprintf(name, sizeof name, "%s (fork child)", ops_prog);
                ops_prog = name;
                run(in, 1, now() + seconds / 4, &counts->child_ops);
                finish(true);
                exit(0);
            }
            child = pid;
        }
    }
}

struct worker {
    pthread_t t;
    unsigned id;
    uint64_t seed;
};

static void *worker(void *arg) {
    struct worker *w = arg;
    static _Thread_local char name[96];
    snprintf(name, sizeof name, "stress_api[seed %#llx, thread %u]", (unsigned long long)w->seed, w->id);
    ops_prog = name;
    for (unsigned i = 0; i < CARRIERS; i++)
        free_carriers[nfree++] = &carrier_pool[w->id * CARRIERS + i];
    struct input in = {.generated = true, .rng = w->seed ^ (0x9e3779b97f4a7c15ull * (w->id + 1))};
    if (!in.rng)
        in.rng = 1;
    run(&in, w->id, 0, &counts->ops);
    finish(false);
    return NULL;
}

static double env_num(const char *name, double def) {
    const char *v = getenv(name);
    return v && *v ? strtod(v, NULL) : def;
}

int main(void) {
    seconds = env_num("STRESS_SECONDS", 2);
    threads = (unsigned)env_num("STRESS_THREADS", 4);
    corrupt = env_num("STRESS_CORRUPT", 0) != 0;
    /* STRESS_NO_STATS=1: no statistics reads, which race with other
     * threads' allocations (src/stats.c reads slab lists and state bytes
     * without the cache locks) */
    ops_no_stats = env_num("STRESS_NO_STATS", 0) != 0;
    if (threads < 1 || threads > MAX_THREADS || !(seconds > 0)) {
        fprintf(stderr, "stress_api: STRESS_THREADS must be 1..%d and STRESS_SECONDS positive\n", MAX_THREADS);
        return 2;
    }
    const char *sv = getenv("STRESS_SEED");
    uint64_t seed = sv && *sv ? strtoull(sv, NULL, 0) : (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();

    pm_get_config(&config);
    token_max = config.token_max;
    void *p = pm_malloc(5);
    strict_sizes = pm_usable_size(p) == 5;
    pm_free(p);
    trace = getenv("FUZZ_API_TRACE") != NULL;
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0)
        fail("cannot open /dev/null");

    /* Other threads allocate: the statistics cannot match one table. The
     * bucket sets (8 per process) are made here, once; each table gets an
     * equal share of the dedicated caches (256 per process). */
    ops_whole_process = false;
    ops_fixed_buckets = true;
    for (unsigned i = 0; i < 8; i++) {
        buckets[i] = kmem_buckets_create("stress-buckets", 0, 0, 0, NULL);
        CHECK(buckets[i], "kmem_buckets_create %u failed", i);
    }
    buckets_made = 8;
    CHECK(!kmem_buckets_create("stress-buckets", 0, 0, 0, NULL), "a ninth bucket set was made");
    product_max = 256u << 10; /* mostly the threads' caches, not mappings */
    dedicated_limit = UINT32_MAX;
    dedicated_reserve = 256 / threads > CACHES ? 256 / threads - CACHES : 0;

    counts = mmap(NULL, sizeof *counts, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counts == MAP_FAILED)
        fail("cannot map the counters");

    struct worker w[MAX_THREADS];
    for (unsigned i = 0; i < threads; i++) {
        w[i] = (struct worker){.id = i, .seed = seed};
        int rc = pthread_create(&w[i].t, NULL, worker, &w[i]);
        CHECK(rc == 0, "pthread_create: %d", rc);
    }
    struct timespec half = {(time_t)(seconds / 2), (long)((seconds / 2 - (time_t)(seconds / 2)) * 1e9)};
    nanosleep(&half, NULL);
    atomic_store(&fork_now, true);
    nanosleep(&half, NULL);
    atomic_store(&stop, true);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(w[i].t, NULL);

    ops_prog = "stress_api (main)";
    finish(true);
    int status = 0;
    CHECK(child > 0, "thread 0 never forked");
    CHECK(waitpid(child, &status, 0) == child, "waitpid: errno %d", errno);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the fork child ended with status %#x", status);
#ifdef STRESS_RENAMED
    /* Nothing else in this process allocates from partmalloc: with every
     * thread gone and every block freed, nothing is live. */
    size_t n = pm_stats_caches(cstats, sizeof cstats / sizeof cstats[0]);
    for (size_t i = 0; i < n; i++)
        CHECK(cstats[i].active_objs == 0 && cstats[i].allocs == cstats[i].frees,
              "%s: %zu objects live (%llu allocs, %llu frees) after every free", cstats[i].name,
              cstats[i].active_objs, (unsigned long long)cstats[i].allocs, (unsigned long long)cstats[i].frees);
    struct pm_large_stats ls;
    pm_stats_large(&ls);
    CHECK(ls.active_blocks == 0, "%zu large blocks live after every free", ls.active_blocks);
#endif
    printf("stress_api: seed %#llx, %u threads, %g s: %lu operations, %lu handed between threads, %lu in the "
           "fork child\n",
           (unsigned long long)seed, threads, seconds, atomic_load(&counts->ops), atomic_load(&counts->handed),
           atomic_load(&counts->child_ops));
    return 0;
}
