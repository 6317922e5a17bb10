/* rptest — a realistic size distribution with generational lifetimes and
 * some cross-thread frees, in the style of rpmalloc's rptest.
 *
 * Each thread keeps a ring of `gens` batches of `batch` objects. Per loop it
 *   1. frees every batch other threads have handed it (its inbox),
 *   2. frees the oldest batch of its ring,
 *   3. allocates a new batch in its place, and
 *   4. with probability `cross`% hands that new batch to the next thread's
 *      inbox instead of keeping it (so it is freed by another thread).
 * Objects thus live for `gens` loops (or until the receiving thread's next
 * loop). Batches are themselves malloc'd arrays.
 *
 * Sizes (uniform within each band): 50% 16..64 bytes, 25% 65..256,
 * 15% 257..1024, 8% 1025..8192, 1.8% 8193..32768, 0.2% 32769..262144
 * (mean ~1.2 KiB). Objects carry the pattern of common.h; the sums of
 * allocated and freed tags must match.
 *
 * Parameters (name=value; defaults are the suite's):
 *   threads  2      threads
 *   loops    12000  loops per thread
 *   batch    128    objects per batch
 *   gens     64     batches each thread keeps alive
 *   cross    10     percent of batches handed to another thread
 *   seed     1      random seed
 */
#include "common.h"

static struct bench_param params[] = {
    {"threads", 2, 1, 256, "threads"},
    {"loops", 12000, 1, 1L << 40, "loops per thread"},
    {"batch", 128, 1, 1 << 20, "objects per batch"},
    {"gens", 64, 1, 1 << 20, "batches each thread keeps alive"},
    {"cross", 10, 0, 100, "percent of batches handed to another thread"},
    {"seed", 1, 0, 1L << 62, "random seed"},
};

static int nthreads;
static long loops;
static size_t batch, gens;
static unsigned cross;
static uint64_t seed;
static _Atomic uint64_t alloc_total, free_total;

struct batch {
    struct batch *next;
    size_t n;
    void *obj[];
};

struct inbox {
    pthread_mutex_t lock;
    struct batch *head;
    char pad[BENCH_CACHELINE];
};
static struct inbox *inboxes;

static size_t rp_size(struct rng *r) {
    uint64_t x = rng_below(r, 1000);
    if (x < 500)
        return rng_range(r, 16, 64);
    if (x < 750)
        return rng_range(r, 65, 256);
    if (x < 900)
        return rng_range(r, 257, 1024);
    if (x < 980)
        return rng_range(r, 1025, 8192);
    if (x < 998)
        return rng_range(r, 8193, 32768);
    return rng_range(r, 32769, 262144);
}

static uint64_t batch_free(struct batch *b) {
    uint64_t sum = 0;
    for (size_t i = 0; i < b->n; i++)
        sum += obj_free(b->obj[i]);
    bench_free(b);
    return sum;
}

static uint64_t inbox_drain(struct inbox *in) {
    pthread_mutex_lock(&in->lock);
    struct batch *b = in->head;
    in->head = NULL;
    pthread_mutex_unlock(&in->lock);
    uint64_t sum = 0;
    while (b) {
        struct batch *next = b->next;
        sum += batch_free(b);
        b = next;
    }
    return sum;
}

static void *worker_main(void *arg) {
    struct bench_worker *w = arg;
    struct rng rng;
    rng_seed(&rng, mix64(seed + (uint64_t)w->id));
    struct batch **ring = calloc(gens, sizeof *ring);
    if (!ring)
        bench_fail("calloc of the ring failed");
    struct inbox *mine = &inboxes[w->id], *next = &inboxes[(w->id + 1) % nthreads];
    uint64_t asum = 0, fsum = 0, serial = 0;
    for (long l = 0; l < loops; l++) {
        fsum += inbox_drain(mine);
        size_t g = (size_t)l % gens;
        if (ring[g])
            fsum += batch_free(ring[g]);
        struct batch *b = bench_malloc(sizeof *b + batch * sizeof(void *));
        b->n = batch;
        b->next = NULL;
        for (size_t i = 0; i < batch; i++) {
            uint64_t tag = obj_tag((uint64_t)w->id, serial++);
            b->obj[i] = obj_new(rp_size(&rng), tag);
            asum += tag;
        }
        ring[g] = b;
        if (rng_below(&rng, 100) < cross) {
            pthread_mutex_lock(&next->lock);
            b->next = next->head;
            next->head = b;
            pthread_mutex_unlock(&next->lock);
            ring[g] = NULL;
        }
    }
    for (size_t g = 0; g < gens; g++)
        if (ring[g])
            fsum += batch_free(ring[g]);
    bench_free(ring);
    atomic_fetch_add(&alloc_total, asum);
    atomic_fetch_add(&free_total, fsum);
    return NULL;
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "realistic size distribution, generational lifetimes (rptest style)");
    nthreads = (int)params[0].value;
    loops = params[1].value;
    batch = (size_t)params[2].value;
    gens = (size_t)params[3].value;
    cross = (unsigned)params[4].value;
    seed = (uint64_t)params[5].value;

    double t0 = bench_now();
    inboxes = bench_malloc((size_t)nthreads * sizeof *inboxes);
    for (int t = 0; t < nthreads; t++) {
        pthread_mutex_init(&inboxes[t].lock, NULL);
        inboxes[t].head = NULL;
    }
    bench_run_workers(nthreads, worker_main);
    uint64_t fsum = 0;
    for (int t = 0; t < nthreads; t++)
        fsum += inbox_drain(&inboxes[t]);
    atomic_fetch_add(&free_total, fsum);
    bench_free(inboxes);
    double t1 = bench_now();
    bench_check_tag_sums(alloc_total, free_total);
    bench_report(alloc_total, t1 - t0, NULL);
    return 0;
}
