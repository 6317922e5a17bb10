/* mstress — threads under heavy churn over a large live heap, with objects
 * handed between threads, in the style of mimalloc-bench's mstress.
 *
 * Each worker owns an array of `live` slots and, per operation, picks a
 * random slot: a full slot is verified and freed, and then, with
 * probability 7/8, the slot gets a new object. With
 * probability 1/16 an operation also swaps a random slot of the worker's
 * with a random slot of a shared transfer array (atomic exchange), so
 * objects migrate between threads and are freed far from where they were
 * allocated. Workers run in rounds; the worker of round r for array a is a
 * new thread each round and arrays rotate between thread slots, so objects
 * outlive the threads that allocated them. The main thread frees what is
 * left at the end.
 *
 * Sizes: 90% log-uniform 16..256 bytes, 9% 257..4096, 0.9% 4097..32768,
 * 0.1% 32769..262144 (mean ~400 bytes; with the defaults the live heap is
 * ~70 MB). Objects carry the pattern of common.h; the sums of allocated
 * and freed tags must match.
 *
 * Parameters (name=value; defaults are the suite's):
 *   threads   2       workers per round
 *   rounds    8       rounds
 *   ops       300000  operations per worker per round
 *   live      100000  slots per worker array
 *   transfer  4096    shared transfer slots
 *   seed      1       random seed
 */
#include "common.h"

static struct bench_param params[] = {
    {"threads", 2, 1, 256, "workers per round"},
    {"rounds", 8, 1, 1L << 20, "rounds"},
    {"ops", 300000, 1, 1L << 40, "operations per worker per round"},
    {"live", 100000, 1, 1L << 28, "slots per worker array"},
    {"transfer", 4096, 1, 1L << 28, "shared transfer slots"},
    {"seed", 1, 0, 1L << 62, "random seed"},
};

static long ops;
static size_t nlive, ntransfer;
static _Atomic(void *) *transfer;
static _Atomic uint64_t alloc_total, free_total;

struct worker {
    void **slots;
    uint64_t stream, seed;
    char pad[BENCH_CACHELINE - 24];
};

static size_t mstress_size(struct rng *r) {
    uint64_t x = rng_below(r, 1000);
    if (x < 900)
        return rng_log_range(r, 16, 256);
    if (x < 990)
        return rng_log_range(r, 257, 4096);
    if (x < 999)
        return rng_log_range(r, 4097, 32768);
    return rng_log_range(r, 32769, 262144);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct rng rng;
    rng_seed(&rng, w->seed);
    void **slots = w->slots;
    uint64_t asum = 0, fsum = 0, serial = 0;
    for (long i = 0; i < ops; i++) {
        /* Every random draw happens whatever the slot holds, so the set of
         * objects allocated (and the checksum) does not depend on timing. */
        size_t k = rng_below(&rng, nlive);
        bool fill = rng_below(&rng, 8) != 0;
        size_t size = mstress_size(&rng);
        if (slots[k]) {
            fsum += obj_free(slots[k]);
            slots[k] = NULL;
        }
        if (fill) {
            uint64_t tag = obj_tag(w->stream, serial++);
            slots[k] = obj_new(size, tag);
            asum += tag;
        }
        if (rng_below(&rng, 16) == 0) {
            size_t j = rng_below(&rng, nlive);
            slots[j] = atomic_exchange(&transfer[rng_below(&rng, ntransfer)], slots[j]);
        }
    }
    atomic_fetch_add(&alloc_total, asum);
    atomic_fetch_add(&free_total, fsum);
    return NULL;
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "heavy multi-threaded churn over a large live heap");
    int threads = (int)params[0].value;
    long rounds = params[1].value;
    ops = params[2].value;
    nlive = (size_t)params[3].value;
    ntransfer = (size_t)params[4].value;
    uint64_t seed = (uint64_t)params[5].value;

    double t0 = bench_now();
    transfer = bench_malloc(ntransfer * sizeof *transfer);
    for (size_t i = 0; i < ntransfer; i++)
        atomic_init(&transfer[i], NULL);
    void ***arrays = bench_malloc((size_t)threads * sizeof *arrays);
    for (int t = 0; t < threads; t++) {
        arrays[t] = calloc(nlive, sizeof **arrays);
        if (!arrays[t])
            bench_fail("calloc of the slot array failed");
    }
    struct worker *workers = bench_malloc((size_t)threads * sizeof *workers);
    for (long r = 0; r < rounds; r++) {
        for (int t = 0; t < threads; t++) {
            uint64_t id = (uint64_t)(r * threads + t);
            workers[t].slots = arrays[(t + r) % threads];
            workers[t].stream = id;
            workers[t].seed = mix64(seed ^ (id << 24));
        }
        bench_run_threads(threads, worker_main, workers, sizeof *workers);
    }
    uint64_t fsum = 0;
    size_t left = 0;
    for (int t = 0; t < threads; t++) {
        for (size_t i = 0; i < nlive; i++)
            if (arrays[t][i]) {
                fsum += obj_free(arrays[t][i]);
                left++;
            }
        bench_free(arrays[t]);
    }
    for (size_t i = 0; i < ntransfer; i++) {
        void *p = atomic_load(&transfer[i]);
        if (p) {
            fsum += obj_free(p);
            left++;
        }
    }
    atomic_fetch_add(&free_total, fsum);
    bench_free(workers);
    bench_free(arrays);
    bench_free((void *)transfer);
    double t1 = bench_now();
    bench_check_tag_sums(alloc_total, free_total);
    char extra[64];
    snprintf(extra, sizeof extra, "live_at_end=%zu", left);
    bench_report(alloc_total, t1 - t0, extra);
    return 0;
}
