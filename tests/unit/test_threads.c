/* Many threads at once: mixed sizes, objects freed by other threads than
 * the ones that allocated them, threads exiting (their caches go back) and
 * new ones starting, and memory going back to the OS at the end.
 *
 * Only the pm_* API is used for the objects under test: tests.mk also builds
 * this suite under TSan against the core alone (-DPM_TEST_NO_INTERPOSE),
 * where plain malloc is not partmalloc. TSan is slow, so that build does a
 * fifth of the work and skips the RSS checks (its shadow memory makes RSS
 * meaningless). */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "testutil.h"
#include "threadutil.h"

#include "options.h"
#include "os.h"
#include "slab.h"
#include "tcache.h"

#ifdef PM_TEST_NO_INTERPOSE
#define STRESS_TOTAL_OPS 4000000u /* TSan: about 15 s on 2 cores */
#define STRESS_SLOTS 16384u
#define CHECK_RSS 0
#else
#define STRESS_TOTAL_OPS 10000000u
#define STRESS_SLOTS 131072u /* about 220 MiB live once every slot is full */
#define CHECK_RSS 1
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PM_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define PM_TSAN 1
#endif

#ifdef PM_TSAN
/* Criterion cannot start under TSan as it is (Snaipe/Criterion#274): its
 * BoxFort sandbox maps the arena shared with the test processes at
 * 0x200000000000 + (rand_r() & 0x3fffff) * 16 MiB with MAP_FIXED, which is
 * TSan's shadow and protected gaps ("Could not initialize inheritable
 * arena", or a SEGV, or a hang). rand_r is used for nothing else here, so
 * steer the arena into the application range TSan leaves free for PIE
 * programs, 0x580000000000 .. 0x5a0000000000 (the binary itself loads near
 * 0x555555554000), one 4 GiB step per attempt. */
int rand_r(unsigned *seed);
int rand_r(unsigned *seed) {
    static unsigned attempt;
    (void)seed;
    unsigned step = __atomic_fetch_add(&attempt, 1, __ATOMIC_RELAXED);
    return (int)(0x380000u + (step * 0x100u) % 0x20000u);
}

/* partmalloc's fork handler holds every cache lock across fork() (656 of
 * them with 16 partitions), and Criterion forks its test processes; TSan's
 * lock-order detector tracks at most 64 locks held by one thread and
 * aborts with "CHECK failed: sanitizer_deadlock_detector.h:67" beyond
 * that. So it is off here (races are still reported); TSAN_OPTIONS from the
 * environment still override this. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) {
    return "detect_deadlocks=0";
}
#endif

#define LANES 8       /* worker threads alive at once */
#define GENERATIONS 5 /* workers each lane runs one after the other */
#define SLOT_LOCKS 1024u
#define MiB ((size_t)1 << 20)

/* ---- random numbers, sizes, patterns ---- */

static inline uint64_t rng_next(uint64_t *s) { /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* 8 B .. 64 KiB, weighted to small sizes like real programs: 70% up to
 * 256 B, 25% up to 4 KiB, 4.5% up to 32 KiB (the largest class), 0.5%
 * large mappings up to 64 KiB. */
static size_t rand_size(uint64_t *rng) {
    uint64_t r = rng_next(rng);
    unsigned pick = (unsigned)(r % 1000);
    size_t lo, hi;
    if (pick < 700)
        lo = 8, hi = 256;
    else if (pick < 950)
        lo = 257, hi = 4096;
    else if (pick < 995)
        lo = 4097, hi = 32768;
    else
        lo = 32769, hi = 65536;
    return lo + (size_t)((r >> 10) % (hi - lo + 1));
}

/* The pattern of an object (threadutil.h) is keyed by the address and size
 * it was allocated with. */
static inline uint64_t seed_of(const void *p, size_t n) {
    return mix((uint64_t)(uintptr_t)p ^ ((uint64_t)n << 40) ^ 0x5bd1e995u);
}

/* ---- errors seen by worker threads (Criterion asserts only on the main thread) ---- */

static atomic_ulong errors;
static char first_error[256];
static atomic_flag first_error_taken = ATOMIC_FLAG_INIT;

static void report(const char *what, const void *p, size_t n, long at) {
    atomic_fetch_add(&errors, 1);
    if (!atomic_flag_test_and_set(&first_error_taken))
        snprintf(first_error, sizeof first_error, "%s: object %p size %zu, byte %ld", what, p, n, at);
}

static void verify_and_free(void *p, size_t n) {
    long at = pattern_check(p, n, seed_of(p, n));
    if (at >= 0)
        report("pattern damaged before free", p, n, at);
    pm_free(p);
}

static void *alloc_filled(size_t n) {
    void *p = pm_malloc(n);
    if (!p) {
        report("pm_malloc returned NULL", NULL, n, -1);
        return NULL;
    }
    pattern_fill(p, n, seed_of(p, n));
    return p;
}

/* ---- resident memory ---- */


static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the stress test: a shared array of slots, each holding a live object ---- */

static struct slot slots[STRESS_SLOTS];
static pthread_mutex_t slot_locks[SLOT_LOCKS];

static inline pthread_mutex_t *lock_of(size_t i) { return &slot_locks[i % SLOT_LOCKS]; }

/* Puts (p, n) into slot i and returns what was there (possibly nothing). */
static struct slot exchange(size_t i, void *p, size_t n) {
    return slot_exchange(&slots[i], lock_of(i), p, n);
}

struct worker_arg {
    uint64_t seed;
    unsigned ops;
};

#define LOCAL_RING 32

static void *worker(void *argp) {
    struct worker_arg *arg = argp;
    uint64_t rng = arg->seed | 1;
    struct slot ring[LOCAL_RING];
    memset(ring, 0, sizeof ring);
    for (unsigned op = 0; op < arg->ops; op++) {
        uint64_t r = rng_next(&rng);
        unsigned kind = (unsigned)(r % 100);
        size_t i = (size_t)((r >> 8) % STRESS_SLOTS);
        if (kind < 55) {
            /* publish a new object, free the one it replaces (most likely
             * allocated by another thread) */
            size_t n = rand_size(&rng);
            void *p = alloc_filled(n);
            struct slot old = exchange(i, p, p ? n : 0);
            if (old.p)
                verify_and_free(old.p, old.n);
        } else if (kind < 70) {
            /* thread-local churn: a small ring freed in allocation order */
            size_t k = (size_t)((r >> 40) % LOCAL_RING);
            if (ring[k].p)
                verify_and_free(ring[k].p, ring[k].n);
            ring[k].n = rand_size(&rng);
            ring[k].p = alloc_filled(ring[k].n);
        } else if (kind < 80) {
            /* take an object, resize it, put it back */
            struct slot s = exchange(i, NULL, 0);
            if (!s.p) {
                s.n = rand_size(&rng);
                s.p = alloc_filled(s.n);
                if (!s.p)
                    continue;
            }
            long at = pattern_check(s.p, s.n, seed_of(s.p, s.n));
            if (at >= 0)
                report("pattern damaged before realloc", s.p, s.n, at);
            size_t m = rand_size(&rng);
            uint64_t old_seed = seed_of(s.p, s.n);
            void *q = pm_realloc(s.p, m);
            if (!q) {
                report("pm_realloc returned NULL", s.p, m, -1);
                pm_free(s.p);
                continue;
            }
            size_t keep = s.n < m ? s.n : m;
            at = pattern_check(q, keep, old_seed);
            if (at >= 0)
                report("contents lost by realloc", q, keep, at);
            pattern_fill(q, m, seed_of(q, m));
            struct slot old = exchange(i, q, m);
            if (old.p)
                verify_and_free(old.p, old.n);
        } else if (kind < 85) {
            /* calloc: zeroed even when the slot was used before */
            size_t n = rand_size(&rng);
            size_t elem = (r >> 50) & 1 ? 8 : 1;
            size_t count = (n + elem - 1) / elem;
            unsigned char *p = pm_calloc(count, elem);
            if (!p) {
                report("pm_calloc returned NULL", NULL, n, -1);
                continue;
            }
            for (size_t k = 0; k < count * elem; k++)
                if (p[k] != 0) {
                    report("pm_calloc memory not zero", p, count * elem, (long)k);
                    break;
                }
            pattern_fill(p, count * elem, seed_of(p, count * elem));
            struct slot old = exchange(i, p, count * elem);
            if (old.p)
                verify_and_free(old.p, old.n);
        } else {
            /* empty a slot */
            struct slot old = exchange(i, NULL, 0);
            if (old.p)
                verify_and_free(old.p, old.n);
        }
    }
    for (size_t k = 0; k < LOCAL_RING; k++)
        if (ring[k].p)
            verify_and_free(ring[k].p, ring[k].n);
    return NULL; /* the thread cache goes back at exit */
}

/* A lane runs GENERATIONS workers one after another, so threads exit and
 * start all along while the other lanes keep allocating. */
static void *lane(void *argp) {
    uintptr_t id = (uintptr_t)argp;
    for (unsigned g = 0; g < GENERATIONS; g++) {
        struct worker_arg a = {mix(id * 1000 + g + 1), STRESS_TOTAL_OPS / (LANES * GENERATIONS)};
        pthread_t t;
        if (pthread_create(&t, NULL, worker, &a) != 0) {
            report("pthread_create failed", NULL, 0, -1);
            return NULL;
        }
        pthread_join(t, NULL);
    }
    return NULL;
}

static atomic_int lanes_done;

static void *lane_counted(void *argp) {
    lane(argp);
    atomic_fetch_add(&lanes_done, 1);
    return NULL;
}

Test(threads, stress_cross_thread_frees_and_rss, .timeout = 300) {
    for (unsigned i = 0; i < SLOT_LOCKS; i++)
        pthread_mutex_init(&slot_locks[i], NULL);
    pm_collect();
    size_t start = tu_rss_bytes();
    size_t peak = start;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    pthread_t lanes[LANES];
    for (uintptr_t l = 0; l < LANES; l++)
        cr_assert_eq(pthread_create(&lanes[l], NULL, lane_counted, (void *)l), 0);
    /* Meanwhile: watch the resident size, and give empty slabs back while
     * the workers allocate (pm_collect concurrent with refills). */
    while (atomic_load(&lanes_done) < LANES) {
        sleep_ms(20);
        size_t now = tu_rss_bytes();
        if (now > peak)
            peak = now;
        static unsigned tick;
        if (++tick % 5 == 0)
            pm_collect();
    }
    for (unsigned l = 0; l < LANES; l++)
        pthread_join(lanes[l], NULL);
    size_t full = tu_rss_bytes();
    if (full > peak)
        peak = full;

    /* What is left in the slots: verify and free from this thread. */
    size_t left = 0;
    for (size_t i = 0; i < STRESS_SLOTS; i++) {
        struct slot s = exchange(i, NULL, 0);
        if (s.p) {
            verify_and_free(s.p, s.n);
            left++;
        }
    }
    size_t returned = pm_collect();
    size_t end = tu_rss_bytes();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    cr_log_info("%u ops in %.2f s; RSS start %zu MiB, peak %zu MiB, end %zu MiB; %zu objects left in slots, "
                "pm_collect returned %zu MiB",
                STRESS_TOTAL_OPS, secs, start / MiB, peak / MiB, end / MiB, left, returned / MiB);
    cr_assert_eq(atomic_load(&errors), 0, "%lu errors, first: %s", (unsigned long)atomic_load(&errors),
                 first_error);
    cr_expect_gt(left, STRESS_SLOTS / 2, "the slots were mostly full at the end (%zu of %u)", left,
                 (unsigned)STRESS_SLOTS);
#if CHECK_RSS
    /* The check means something only if the live set was large: every slot
     * full is about 220 MiB of objects, so the peak must be at least
     * 128 MiB above the start. After everything is freed and pm_collect()
     * has returned the empty slabs, what may stay resident is out-of-line
     * metadata (one state byte and one map bit per slot ever used, under
     * 1/16 of the peak's small objects, a few MiB here), thread caches kept
     * for reuse (under 1 MiB each, at most one per thread alive at once,
     * 17 here) and the process's own odds and ends: well under 32 MiB.
     * Memory kept in partly used slabs, caches that never gave back their
     * objects or large mappings left mapped would all exceed it. */
    cr_expect_geq(peak, start + 128 * MiB, "peak RSS %zu MiB is not far above the start %zu MiB", peak / MiB,
                  start / MiB);
    cr_expect_leq(end, start + 32 * MiB, "RSS %zu MiB after pm_collect, start %zu MiB, peak %zu MiB", end / MiB,
                  start / MiB, peak / MiB);
#else
    (void)returned;
#endif
}

/* ---- short-lived threads: objects outlive their allocating thread ---- */

#ifdef PM_TEST_NO_INTERPOSE
#define SHORT_ROUNDS 60
#else
#define SHORT_ROUNDS 400
#endif
#define SHORT_THREADS 8
#define SHORT_OBJS 256

struct short_arg {
    uint64_t seed;
    struct slot kept[SHORT_OBJS / 2]; /* handed to the main thread at join */
};

static void *short_worker(void *argp) {
    struct short_arg *a = argp;
    uint64_t rng = a->seed | 1;
    struct slot mine[SHORT_OBJS];
    for (unsigned k = 0; k < SHORT_OBJS; k++) {
        mine[k].n = k % 7 == 0 ? rand_size(&rng) : 8 + (size_t)(rng_next(&rng) % 1024);
        mine[k].p = alloc_filled(mine[k].n);
    }
    /* Half is freed here (into this thread's cache, which goes back at
     * exit), half outlives the thread. */
    for (unsigned k = 0; k < SHORT_OBJS; k++) {
        if (k & 1)
            a->kept[k / 2] = mine[k];
        else if (mine[k].p)
            verify_and_free(mine[k].p, mine[k].n);
    }
    return NULL;
}

Test(threads, short_lived_threads_return_their_caches, .timeout = 300) {
    static struct short_arg args[SHORT_THREADS];
    size_t rss_early = 0;
    for (unsigned round = 0; round < SHORT_ROUNDS; round++) {
        pthread_t t[SHORT_THREADS];
        for (unsigned k = 0; k < SHORT_THREADS; k++) {
            args[k].seed = mix(round * 100 + k + 7);
            cr_assert_eq(pthread_create(&t[k], NULL, short_worker, &args[k]), 0);
        }
        for (unsigned k = 0; k < SHORT_THREADS; k++)
            pthread_join(t[k], NULL);
        /* The main thread frees what the exited threads allocated. */
        for (unsigned k = 0; k < SHORT_THREADS; k++)
            for (unsigned j = 0; j < SHORT_OBJS / 2; j++)
                if (args[k].kept[j].p)
                    verify_and_free(args[k].kept[j].p, args[k].kept[j].n);
        if (round == SHORT_ROUNDS / 8) {
            pm_collect();
            rss_early = tu_rss_bytes();
        }
    }
    pm_collect();
    size_t rss_late = tu_rss_bytes();
    cr_assert_eq(atomic_load(&errors), 0, "%lu errors, first: %s", (unsigned long)atomic_load(&errors),
                 first_error);
#if CHECK_RSS
    /* 2800 threads ran after the early sample. Each thread cache is over
     * 32 KiB of bins alone; were they not reused, or their objects not
     * given back, RSS would grow by well over 80 MiB. Reused, it stays
     * flat: allow 8 MiB of noise. */
    cr_log_info("RSS after %u threads %zu MiB, after %u threads %zu MiB", (SHORT_ROUNDS / 8 + 1) * SHORT_THREADS,
                rss_early / MiB, SHORT_ROUNDS * SHORT_THREADS, rss_late / MiB);
    cr_expect_leq(rss_late, rss_early + 8 * MiB, "RSS grew from %zu to %zu MiB over %u short-lived threads",
                  rss_early / MiB, rss_late / MiB, SHORT_ROUNDS * SHORT_THREADS);
#else
    (void)rss_early;
    (void)rss_late;
#endif
}

/* ---- a producer/consumer queue: every object freed by another thread ---- */

#define QCAP 1024
static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct slot items[QCAP];
    unsigned head, count, producers_left;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0, 0}}, 0, 0, 0};

#ifdef PM_TEST_NO_INTERPOSE
#define QUEUE_ITEMS 20000u
#else
#define QUEUE_ITEMS 200000u
#endif

static void *producer(void *argp) {
    uint64_t rng = (uint64_t)(uintptr_t)argp * 0x9e3779b97f4a7c15ull + 1;
    for (unsigned k = 0; k < QUEUE_ITEMS; k++) {
        size_t n = rand_size(&rng);
        void *p = alloc_filled(n);
        pthread_mutex_lock(&q.lock);
        while (q.count == QCAP)
            pthread_cond_wait(&q.not_full, &q.lock);
        q.items[(q.head + q.count) % QCAP] = (struct slot){p, n};
        q.count++;
        pthread_cond_signal(&q.not_empty);
        pthread_mutex_unlock(&q.lock);
    }
    pthread_mutex_lock(&q.lock);
    q.producers_left--;
    pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

static void *consumer(void *argp) {
    (void)argp;
    for (;;) {
        pthread_mutex_lock(&q.lock);
        while (q.count == 0 && q.producers_left > 0)
            pthread_cond_wait(&q.not_empty, &q.lock);
        if (q.count == 0) {
            pthread_mutex_unlock(&q.lock);
            return NULL;
        }
        struct slot s = q.items[q.head];
        q.head = (q.head + 1) % QCAP;
        q.count--;
        pthread_cond_signal(&q.not_full);
        pthread_mutex_unlock(&q.lock);
        if (s.p)
            verify_and_free(s.p, s.n);
    }
}

Test(threads, producers_allocate_consumers_free, .timeout = 300) {
    enum { PRODUCERS = 4, CONSUMERS = 4 };
    q.producers_left = PRODUCERS;
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (uintptr_t k = 0; k < PRODUCERS; k++)
        cr_assert_eq(pthread_create(&p[k], NULL, producer, (void *)(k + 1)), 0);
    for (unsigned k = 0; k < CONSUMERS; k++)
        cr_assert_eq(pthread_create(&c[k], NULL, consumer, NULL), 0);
    for (unsigned k = 0; k < PRODUCERS; k++)
        pthread_join(p[k], NULL);
    for (unsigned k = 0; k < CONSUMERS; k++)
        pthread_join(c[k], NULL);
    cr_expect_eq(q.count, 0);
    cr_assert_eq(atomic_load(&errors), 0, "%lu errors, first: %s", (unsigned long)atomic_load(&errors),
                 first_error);
}

/* ---- pm_collect() and objects cached by other threads ---- */

/* A thread frees, for every size class, objects spread over 64 different
 * slabs last, so that what stays in its thread cache pins as many slabs as
 * the cache can hold (every class's bin, about 40 MiB of slabs in all),
 * then waits until told to exit. */
struct pinner {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int freed, may_exit;
    int collect_self; /* the live thread calls pm_collect() itself */
};

/* In-place heapsort by address (qsort would take its buffer from glibc's
 * malloc here, whose arena then stays resident and blurs the RSS). */
static void sort_by_address(void **a, size_t n) {
    for (size_t start = n / 2; n > 1;) {
        size_t root;
        if (start > 0) {
            root = --start;
        } else {
            void *t = a[0];
            a[0] = a[--n];
            a[n] = t;
            root = 0;
        }
        for (size_t child; (child = 2 * root + 1) < n; root = child) {
            if (child + 1 < n && (uintptr_t)a[child + 1] > (uintptr_t)a[child])
                child++;
            if ((uintptr_t)a[root] >= (uintptr_t)a[child])
                break;
            void *t = a[root];
            a[root] = a[child];
            a[child] = t;
        }
    }
}

/* Bytes of out-of-line metadata the pinning thread's objects may leave
 * resident for good: a state byte and a map bit per slot ever used; with
 * the strict defences also the 4-byte size asked for, whose array is made
 * writable in doubling steps (up to 8 bytes a slot). */
static size_t pin_meta_bytes;

static void *pinning_thread(void *argp) {
    struct pinner *pin = argp;
    struct pm_config c;
    pm_get_config(&c);
    /* No slab is larger than 256 KiB: objects 256 KiB apart are in
     * different slabs. */
    const size_t span = 256 * 1024, picks = 64;
    for (unsigned cls = 0; cls < c.num_size_classes; cls++) {
        size_t size = pm_size_class_size(cls);
        size_t stride = (span + size - 1) / size, n = stride * picks;
        void **objs = pm_malloc(n * sizeof *objs);
        if (!objs) {
            report("pm_malloc of the pointer array failed", NULL, n * sizeof *objs, -1);
            break;
        }
        for (size_t k = 0; k < n; k++) {
            objs[k] = pm_malloc(size);
            if (!objs[k]) {
                report("pm_malloc returned NULL", NULL, size, -1);
                n = k;
                break;
            }
            memset(objs[k], 0x5c, size); /* make the pages resident */
        }
        sort_by_address(objs, n);
        for (size_t k = 1; k < n; k++)
            if ((uintptr_t)objs[k - 1] >= (uintptr_t)objs[k]) {
                report("sort_by_address is broken", objs[k], size, (long)k);
                break;
            }
        pin_meta_bytes += n + n / 8 + 1 + (pm_g.slow_only ? 8 * n : 0);
        for (size_t k = 0; k < n; k++)
            if (k % stride != 0)
                pm_free(objs[k]);
        for (size_t k = 0; k < n; k += stride)
            pm_free(objs[k]); /* these stay in this thread's cache */
        pm_free(objs);
    }
    if (pin->collect_self)
        pm_collect(); /* gives back this thread's cache */
    pthread_mutex_lock(&pin->lock);
    pin->freed = 1;
    pthread_cond_broadcast(&pin->cond);
    while (!pin->may_exit)
        pthread_cond_wait(&pin->cond, &pin->lock);
    pthread_mutex_unlock(&pin->lock);
    return NULL;
}

/* Runs a pinning thread; returns the RSS growth over the start measured
 * after pm_collect(), while the thread is still alive (alive = 1) or after
 * it has exited (alive = 0). */
static long growth_after_collect(int alive) {
    static struct pinner pin = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    pin.collect_self = alive;
    pm_collect();
    size_t start = tu_rss_bytes();
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, pinning_thread, &pin), 0);
    pthread_mutex_lock(&pin.lock);
    while (!pin.freed)
        pthread_cond_wait(&pin.cond, &pin.lock);
    if (!alive)
        pin.may_exit = 1;
    pthread_cond_broadcast(&pin.cond);
    pthread_mutex_unlock(&pin.lock);
    if (!alive)
        pthread_join(t, NULL);
    size_t before = tu_rss_bytes();
    pm_collect();
    size_t after = tu_rss_bytes();
    if (alive) {
        pthread_mutex_lock(&pin.lock);
        pin.may_exit = 1;
        pthread_cond_broadcast(&pin.cond);
        pthread_mutex_unlock(&pin.lock);
        pthread_join(t, NULL);
    }
    cr_assert_eq(atomic_load(&errors), 0, "%lu errors, first: %s", (unsigned long)atomic_load(&errors),
                 first_error);
    cr_log_info("thread %s: RSS start %zu MiB, before pm_collect %zu MiB, after %zu MiB",
                alive ? "alive" : "exited", start / MiB, before / MiB, after / MiB);
    return (long)after - (long)start;
}

/* What may stay: the metadata of every slot used (about 6 MiB here, most
 * of it for the 8- and 16-byte classes) and 3 MiB of noise; what the
 * thread's cache can pin is about 40 MiB of slabs. */
#if CHECK_RSS
static long allowed_growth(void) {
    return (long)(pin_meta_bytes + 3 * MiB);
}
#endif

/* The thread's cache went back when it exited: pm_collect() can return
 * every slab. */
Test(threads, collect_after_thread_exit_returns_everything, .timeout = 120) {
    long growth = growth_after_collect(0);
#if CHECK_RSS
    cr_expect_leq(growth, allowed_growth(),
                  "RSS %ld MiB above the start after the thread exited and pm_collect() (allowed %ld MiB)",
                  growth / (long)MiB, allowed_growth() / (long)MiB);
#else
    (void)growth;
#endif
}

/* partmalloc.h: pm_collect() gives back the calling thread's cache (no
 * thread may touch another's) and returns empty slabs' pages. A live thread
 * that calls it itself, then idles, pins nothing once the main thread's
 * pm_collect() returns the pages. */
Test(threads, collect_takes_back_objects_cached_by_live_threads, .timeout = 120) {
    long growth = growth_after_collect(1);
#if CHECK_RSS
    cr_expect_leq(growth, allowed_growth(),
                  "RSS %ld MiB above the start after pm_collect() (allowed %ld MiB): the objects another, "
                  "live thread has cached still pin their slabs",
                  growth / (long)MiB, allowed_growth() / (long)MiB);
#else
    (void)growth;
#endif
}

/* ---- malloc_object_size while other threads allocate and free ----
 * Each worker keeps its own objects and measures them at their start,
 * middle and last byte while the others allocate and free in the same
 * caches; every few operations it hands an object to the next worker
 * through a mailbox (under a mutex), which measures it, then frees it.
 * Every answer is checked: the object's usable size from where it points,
 * 0 once freed. Under TSan the suite also proves the reads race-free. */

#define OBJSIZE_WORKERS 4
#ifdef PM_TEST_NO_INTERPOSE
#define OBJSIZE_OPS 40000u
#else
#define OBJSIZE_OPS 400000u
#endif
#define OBJSIZE_KEPT 256u

struct mailbox {
    pthread_mutex_t lock;
    char *obj;
    size_t usable;
};
static struct mailbox objsize_box[OBJSIZE_WORKERS];
static atomic_size_t objsize_wrong, objsize_measured;

static void objsize_check(const char *p, size_t usable) {
    size_t half = usable / 2;
    int ok = malloc_object_size(p) == usable && malloc_object_size(p + half) == usable - half &&
             malloc_object_size(p + usable - 1) == 1;
    size_t fast = malloc_object_size_fast(p);
    ok = ok && (fast == usable || fast == SIZE_MAX);
    if (!ok)
        atomic_fetch_add(&objsize_wrong, 1);
    atomic_fetch_add(&objsize_measured, 1);
}

/* Just freed, a small object rests in this thread's cache, where only this
 * thread can hand it out again: 0. A large block's addresses may already
 * be another thread's new block (a kept block reused, or a new mapping). */
static void objsize_check_freed(const char *p, size_t usable) {
    /* With the strict defences it waits in the quarantine instead, which
     * a later free into the full ring, from any thread, may send back at
     * random to that thread's cache, to be handed out at once. */
    if (pm_g.slow_only && pm_g.harden.quarantine)
        return;
    if (usable <= 32768 && malloc_object_size(p) != 0)
        atomic_fetch_add(&objsize_wrong, 1);
}

/* Takes what the previous worker left in this worker's mailbox. */
static void objsize_take(unsigned me) {
    struct mailbox *box = &objsize_box[me];
    pthread_mutex_lock(&box->lock);
    char *obj = box->obj;
    size_t usable = box->usable;
    box->obj = NULL;
    pthread_mutex_unlock(&box->lock);
    if (!obj)
        return;
    objsize_check(obj, usable);
    pm_free(obj);
    objsize_check_freed(obj, usable);
}

/* Leaves `obj` for worker `to`; false if its mailbox is full. */
static int objsize_give(unsigned to, char *obj, size_t usable) {
    struct mailbox *box = &objsize_box[to];
    pthread_mutex_lock(&box->lock);
    int given = box->obj == NULL;
    if (given) {
        box->obj = obj;
        box->usable = usable;
    }
    pthread_mutex_unlock(&box->lock);
    return given;
}

static size_t objsize_random_size(uint64_t *rng) {
    uint64_t r = rng_next(rng);
    return r % 64 == 0 ? 32769 + r % 100000 : 1 + (r >> 8) % 4096;
}

static void *objsize_worker(void *arg) {
    unsigned me = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (me + 1);
    char *kept[OBJSIZE_KEPT] = {0};
    size_t usable[OBJSIZE_KEPT] = {0};
    for (unsigned op = 0; op < OBJSIZE_OPS; op++) {
        unsigned i = (unsigned)(rng_next(&rng) % OBJSIZE_KEPT);
        if (kept[i]) {
            objsize_check(kept[i], usable[i]);
            if (op % 7 == 0 && objsize_give((me + 1) % OBJSIZE_WORKERS, kept[i], usable[i])) {
                kept[i] = NULL;
                continue;
            }
            pm_free(kept[i]);
            objsize_check_freed(kept[i], usable[i]);
            kept[i] = NULL;
        } else {
            kept[i] = pm_malloc(objsize_random_size(&rng));
            usable[i] = pm_usable_size(kept[i]);
        }
        if (op % 5 == 0)
            objsize_take(me);
    }
    for (unsigned i = 0; i < OBJSIZE_KEPT; i++)
        pm_free(kept[i]);
    return NULL;
}

Test(threads, object_size_while_other_threads_allocate_and_free, .timeout = 300) {
    for (unsigned w = 0; w < OBJSIZE_WORKERS; w++)
        pthread_mutex_init(&objsize_box[w].lock, NULL);
    pthread_t t[OBJSIZE_WORKERS];
    for (unsigned w = 0; w < OBJSIZE_WORKERS; w++)
        cr_assert_eq(pthread_create(&t[w], NULL, objsize_worker, (void *)(uintptr_t)w), 0);
    for (unsigned w = 0; w < OBJSIZE_WORKERS; w++)
        cr_assert_eq(pthread_join(t[w], NULL), 0);
    for (unsigned w = 0; w < OBJSIZE_WORKERS; w++) /* the last ones handed over */
        objsize_take(w);
    cr_expect_eq(atomic_load(&objsize_wrong), 0, "%zu wrong answers", atomic_load(&objsize_wrong));
    cr_expect_geq(atomic_load(&objsize_measured), OBJSIZE_WORKERS * OBJSIZE_OPS / 4);
}

/* ---- the decay of kept empty slabs under threads ----
 * With a decay of 8 cache operations the workers' refills and flushes keep
 * emptying, keeping, reusing and decommitting slabs while each one's decay
 * and the periodic sweep (which try-locks the other caches) run against the
 * others'. Every object's pattern is checked before its free; under TSan
 * the suite also proves the kept-bytes counters race-free. */

#define DECAY_WORKERS 4
#ifdef PM_TEST_NO_INTERPOSE
#define DECAY_ROUNDS 300u
#else
#define DECAY_ROUNDS 3000u
#endif
#define DECAY_BATCH 64

static void *decay_worker(void *arg) {
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uintptr_t)arg + 1;
    long bad = 0;
    void *objs[DECAY_BATCH];
    size_t sizes[DECAY_BATCH];
    for (unsigned r = 0; r < DECAY_ROUNDS; r++) {
        for (int i = 0; i < DECAY_BATCH; i++) {
            sizes[i] = 16 + rng_next(&rng) % 2048;
            objs[i] = pm_malloc(sizes[i]);
            if (!objs[i])
                return (void *)1;
            pattern_fill(objs[i], sizes[i], (uint64_t)(uintptr_t)objs[i]);
        }
        for (int i = 0; i < DECAY_BATCH; i++) {
            bad += pattern_check(objs[i], sizes[i], (uint64_t)(uintptr_t)objs[i]) >= 0;
            pm_free(objs[i]);
        }
        if (r % 4 == 0)
            pm_tcache_flush_current(); /* slabs empty: kept, then decayed */
    }
    return (void *)(uintptr_t)(bad != 0);
}

Test(threads, decay_of_kept_slabs_while_threads_churn, .timeout = 300) {
    pm_g.purge_decay = 8;
    pthread_t t[DECAY_WORKERS];
    for (uintptr_t w = 0; w < DECAY_WORKERS; w++)
        cr_assert_eq(pthread_create(&t[w], NULL, decay_worker, (void *)w), 0);
    for (int w = 0; w < DECAY_WORKERS; w++) {
        void *failed;
        cr_assert_eq(pthread_join(t[w], &failed), 0);
        cr_expect_null(failed, "worker %d: an allocation failed or an object lost its contents", w);
    }
    cr_expect_leq(pm_slab_kept_bytes(), pm_slab_kept_budget(), "kept %zu KiB", pm_slab_kept_bytes() >> 10);
    uint64_t decommits = 0;
    for (size_t cid = 0; cid < pm_g.num_caches; cid++)
        if (PM_CID_VALID(cid))
            decommits += __atomic_load_n(&pm_caches[cid].decommits, __ATOMIC_RELAXED);
    cr_expect_gt(decommits, 0, "the decay returned slabs while the workers ran");
    pm_collect();
    cr_expect_eq(pm_slab_kept_bytes(), 0, "pm_collect returned every kept slab");
}

/* Metadata ranges freed and carved again by other threads: a range given
 * back as the arena's last carve is carved again at the same address, and
 * the thread that gets it must see the freeing thread's remapping first
 * (TSan reports a race on the range otherwise). Both threads write every
 * page they carve, so a range still the other's shows as a race or a lost
 * value. */
#define CARVE_ROUNDS 20000

static void *carve_and_free(void *arg) {
    uintptr_t me = (uintptr_t)arg, bad = 0;
    for (unsigned r = 0; r < CARVE_ROUNDS; r++) {
        volatile uint64_t *m = pm_os_meta_reserve(PM_PAGE, PM_USE_STRICT);
        if (!m || !pm_os_commit((void *)m, PM_PAGE))
            return (void *)(uintptr_t)1;
        m[0] = me << 32 | r; /* the same word in both threads */
        bad += m[0] != (me << 32 | r);
        pm_os_meta_free((void *)m, PM_PAGE);
    }
    return (void *)bad;
}

Test(threads, metadata_ranges_freed_and_carved_again_by_other_threads, .timeout = 120) {
    pthread_t t[2];
    for (uintptr_t w = 0; w < 2; w++)
        cr_assert_eq(pthread_create(&t[w], NULL, carve_and_free, (void *)w), 0);
    for (int w = 0; w < 2; w++) {
        void *failed;
        cr_assert_eq(pthread_join(t[w], &failed), 0);
        cr_expect_null(failed, "thread %d: a carve failed or its page lost a value", w);
    }
}
