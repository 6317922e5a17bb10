/* larson — a server in the style of Larson and Krishnan's benchmark: worker
 * threads repeatedly replace a random slot of one shared array with a new
 * object and free the object they took out, which was usually allocated by
 * another thread (possibly one that has exited), so most frees are remote.
 * Workers run in rounds: each round starts `threads` new threads and joins
 * them, so thread caches are created and handed back all the time, as in a
 * server that spawns a thread per connection. The array starts full, and
 * the main thread frees what is left at the end.
 *
 * Slots are swapped with an atomic exchange; every object is filled with the
 * pattern of common.h at allocation and verified by whichever thread frees
 * it. Each thread sums the tags it allocated and freed; the totals must
 * match at the end (a block handed out twice, or lost, breaks the sums).
 * Sizes are uniform in [minsize, maxsize].
 *
 * Parameters (name=value; defaults are the suite's):
 *   threads  2        worker threads per round
 *   rounds   10       rounds (threads are started anew each round)
 *   ops      300000   slot replacements per thread per round
 *   slots    20000    shared slots
 *   minsize  16       smallest object
 *   maxsize  1000     largest object
 *   seed     1        random seed
 */
#include "common.h"

static struct bench_param params[] = {
    {"threads", 2, 1, 256, "worker threads per round"},
    {"rounds", 10, 1, 1L << 20, "rounds of threads"},
    {"ops", 300000, 1, 1L << 40, "slot replacements per thread per round"},
    {"slots", 20000, 1, 1L << 28, "shared slots"},
    {"minsize", 16, OBJ_MIN, 1L << 30, "smallest object"},
    {"maxsize", 1000, OBJ_MIN, 1L << 30, "largest object"},
    {"seed", 1, 0, 1L << 62, "random seed"},
};

static _Atomic(void *) *slots;
static size_t nslots, minsize, maxsize;
static long ops;
static _Atomic uint64_t alloc_total, free_total;

struct worker {
    uint64_t stream;
    uint64_t seed;
    char pad[BENCH_CACHELINE - 16];
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct rng rng;
    rng_seed(&rng, w->seed);
    uint64_t asum = 0, fsum = 0;
    for (long i = 0; i < ops; i++) {
        size_t size = rng_range(&rng, minsize, maxsize);
        uint64_t tag = obj_tag(w->stream, (uint64_t)i);
        void *p = obj_new(size, tag);
        asum += tag;
        void *old = atomic_exchange_explicit(&slots[rng_below(&rng, nslots)], p, memory_order_acq_rel);
        fsum += obj_free(old);
    }
    atomic_fetch_add(&alloc_total, asum);
    atomic_fetch_add(&free_total, fsum);
    return NULL;
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "larson-style server: threads replace random shared slots");
    int threads = (int)params[0].value;
    long rounds = params[1].value;
    ops = params[2].value;
    nslots = (size_t)params[3].value;
    minsize = (size_t)params[4].value;
    maxsize = (size_t)params[5].value;
    uint64_t seed = (uint64_t)params[6].value;
    if (maxsize < minsize)
        bench_fail("maxsize < minsize");

    double t0 = bench_now();
    struct rng rng;
    rng_seed(&rng, seed);
    slots = bench_malloc(nslots * sizeof *slots);
    uint64_t asum = 0;
    for (size_t i = 0; i < nslots; i++) {
        uint64_t tag = obj_tag(0xffff, i);
        atomic_init(&slots[i], obj_new(rng_range(&rng, minsize, maxsize), tag));
        asum += tag;
    }
    atomic_fetch_add(&alloc_total, asum);
    struct worker *workers = bench_malloc((size_t)threads * sizeof *workers);
    for (long r = 0; r < rounds; r++) {
        for (int t = 0; t < threads; t++) {
            workers[t].stream = (uint64_t)(r * threads + t);
            workers[t].seed = mix64(seed ^ ((uint64_t)(r * threads + t) << 20));
        }
        bench_run_threads(threads, worker_main, workers, sizeof *workers);
    }
    uint64_t fsum = 0;
    for (size_t i = 0; i < nslots; i++)
        fsum += obj_free(atomic_load(&slots[i]));
    atomic_fetch_add(&free_total, fsum);
    bench_free(workers);
    bench_free((void *)slots);
    double t1 = bench_now();
    bench_check_tag_sums(alloc_total, free_total);
    char extra[64];
    snprintf(extra, sizeof extra, "ops=%lld", (long long)rounds * threads * ops);
    bench_report(alloc_total, t1 - t0, extra);
    return 0;
}
