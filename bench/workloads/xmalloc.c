/* xmalloc — producer/consumer in the style of xmalloc-test: producer
 * threads allocate objects and hand them, in batches, to consumer threads,
 * which verify and free them. Every free is remote (the object was
 * allocated by another thread), so allocators that return memory to the
 * allocating thread or its pages pay for that here, and allocators that keep
 * freed memory in the freeing thread's cache must move it back.
 *
 * `pairs` producers and `pairs` consumers share one bounded queue of
 * batches (a mutex and two condition variables; one lock round trip per
 * batch). Sizes are log-uniform in [minsize, maxsize]. Objects are filled
 * with the pattern of common.h by the producer and verified by the
 * consumer; the sums of allocated and freed tags must match.
 *
 * Parameters (name=value; defaults are the suite's):
 *   pairs    1        producer/consumer pairs (threads = 2 * pairs)
 *   objects  8000000  objects per producer
 *   batch    64       objects per batch
 *   queue    64       batches the queue holds
 *   minsize  16       smallest object
 *   maxsize  256      largest object
 *   seed     1        random seed
 */
#include "common.h"

static struct bench_param params[] = {
    {"pairs", 1, 1, 128, "producer/consumer pairs"},
    {"objects", 8000000, 1, 1L << 40, "objects per producer"},
    {"batch", 64, 1, 1 << 16, "objects per batch"},
    {"queue", 64, 1, 1 << 16, "batches the queue holds"},
    {"minsize", 16, OBJ_MIN, 1L << 30, "smallest object"},
    {"maxsize", 256, OBJ_MIN, 1L << 30, "largest object"},
    {"seed", 1, 0, 1L << 62, "random seed"},
};

static long objects;
static size_t batch, qcap, minsize, maxsize;
static uint64_t seed;

/* The queue: qcap batches of `batch` pointers (count per batch). */
static void **qbuf;
static size_t *qcount;
static size_t qhead, qtail, qlen;
static int producers_left;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qnotfull = PTHREAD_COND_INITIALIZER, qnotempty = PTHREAD_COND_INITIALIZER;
static _Atomic uint64_t alloc_total, free_total, freed_count;

static void put_batch(void **items, size_t n) {
    pthread_mutex_lock(&qlock);
    while (qlen == qcap)
        pthread_cond_wait(&qnotfull, &qlock);
    memcpy(qbuf + qtail * batch, items, n * sizeof *items);
    qcount[qtail] = n;
    qtail = (qtail + 1) % qcap;
    qlen++;
    pthread_cond_signal(&qnotempty);
    pthread_mutex_unlock(&qlock);
}

/* Returns the number of objects taken, 0 when all producers are done. */
static size_t take_batch(void **items) {
    pthread_mutex_lock(&qlock);
    while (qlen == 0 && producers_left > 0)
        pthread_cond_wait(&qnotempty, &qlock);
    size_t n = 0;
    if (qlen > 0) {
        n = qcount[qhead];
        memcpy(items, qbuf + qhead * batch, n * sizeof *items);
        qhead = (qhead + 1) % qcap;
        qlen--;
        pthread_cond_signal(&qnotfull);
    }
    pthread_mutex_unlock(&qlock);
    return n;
}

struct role {
    int id;
    char pad[BENCH_CACHELINE - sizeof(int)];
};

static void *producer(void *arg) {
    int id = ((struct role *)arg)->id;
    struct rng rng;
    rng_seed(&rng, mix64(seed + (uint64_t)id));
    void **items = bench_malloc(batch * sizeof *items);
    uint64_t asum = 0;
    size_t n = 0;
    for (long i = 0; i < objects; i++) {
        uint64_t tag = obj_tag((uint64_t)id, (uint64_t)i);
        items[n++] = obj_new(rng_log_range(&rng, minsize, maxsize), tag);
        asum += tag;
        if (n == batch) {
            put_batch(items, n);
            n = 0;
        }
    }
    if (n)
        put_batch(items, n);
    bench_free(items);
    atomic_fetch_add(&alloc_total, asum);
    pthread_mutex_lock(&qlock);
    producers_left--;
    pthread_cond_broadcast(&qnotempty);
    pthread_mutex_unlock(&qlock);
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    void **items = bench_malloc(batch * sizeof *items);
    uint64_t fsum = 0, count = 0;
    size_t n;
    while ((n = take_batch(items)) > 0) {
        for (size_t i = 0; i < n; i++)
            fsum += obj_free(items[i]);
        count += n;
    }
    bench_free(items);
    atomic_fetch_add(&free_total, fsum);
    atomic_fetch_add(&freed_count, count);
    return NULL;
}

static void *role_main(void *arg) {
    return ((struct role *)arg)->id >= 0 ? producer(arg) : consumer(arg);
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "producer/consumer: allocate in one thread, free in another");
    int pairs = (int)params[0].value;
    objects = params[1].value;
    batch = (size_t)params[2].value;
    qcap = (size_t)params[3].value;
    minsize = (size_t)params[4].value;
    maxsize = (size_t)params[5].value;
    seed = (uint64_t)params[6].value;
    if (maxsize < minsize)
        bench_fail("maxsize < minsize");

    double t0 = bench_now();
    qbuf = bench_malloc(qcap * batch * sizeof *qbuf);
    qcount = bench_malloc(qcap * sizeof *qcount);
    producers_left = pairs;
    struct role *roles = bench_malloc((size_t)(2 * pairs) * sizeof *roles);
    for (int i = 0; i < pairs; i++) {
        roles[2 * i].id = i;       /* producer i */
        roles[2 * i + 1].id = -1;  /* a consumer */
    }
    bench_run_threads(2 * pairs, role_main, roles, sizeof *roles);
    bench_free(roles);
    bench_free(qbuf);
    bench_free(qcount);
    double t1 = bench_now();
    if (freed_count != (uint64_t)pairs * (uint64_t)objects)
        bench_fail("freed %llu objects, expected %llu", (unsigned long long)freed_count,
                   (unsigned long long)pairs * (unsigned long long)objects);
    bench_check_tag_sums(alloc_total, free_total);
    char extra[64];
    snprintf(extra, sizeof extra, "objects=%llu", (unsigned long long)freed_count);
    bench_report(alloc_total, t1 - t0, extra);
    return 0;
}
