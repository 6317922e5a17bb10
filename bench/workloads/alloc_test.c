/* alloc_test — mixed sizes over a fixed working set, in the style of
 * alloc-test: each thread owns `slots` slots and, per operation, picks a
 * random slot; a full slot is verified and freed, an empty one gets a new
 * object. The working set therefore hovers around half full while sizes
 * from 16 bytes to 16 KiB churn through it in random order. Threads share
 * nothing (an allocator's per-thread scaling and its handling of mixed
 * sizes are what is measured).
 *
 * Sizes: a power-of-two range [2^e, 2^(e+1)) with e uniform in 4..13, then
 * uniform within it (log-uniform 16 B..16 KiB, mean ~2.3 KiB). Objects
 * carry the pattern of common.h (every word up to 1 KiB, one word per 64
 * bytes above); allocated and freed tag sums must match.
 *
 * Parameters (name=value; defaults are the suite's):
 *   threads  2        independent threads
 *   ops      2500000  operations per thread
 *   slots    16384    working-set slots per thread
 *   seed     1        random seed
 */
#include "common.h"

static struct bench_param params[] = {
    {"threads", 2, 1, 256, "independent threads"},
    {"ops", 2500000, 1, 1L << 40, "operations per thread"},
    {"slots", 16384, 1, 1L << 28, "working-set slots per thread"},
    {"seed", 1, 0, 1L << 62, "random seed"},
};

static long ops;
static size_t nslots;
static uint64_t seed;
static _Atomic uint64_t alloc_total, free_total;

static void *worker_main(void *arg) {
    struct bench_worker *w = arg;
    struct rng rng;
    rng_seed(&rng, mix64(seed + (uint64_t)w->id));
    struct obj_slot *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        bench_fail("calloc of the slot array failed");
    uint64_t asum = 0, fsum = 0, serial = 0;
    for (long i = 0; i < ops; i++) {
        struct obj_slot *s = &slots[rng_below(&rng, nslots)];
        if (s->p) {
            fsum += obj_slot_free(s);
        } else {
            unsigned e = 4 + (unsigned)rng_below(&rng, 10);
            size_t size = ((size_t)1 << e) + rng_below(&rng, (size_t)1 << e);
            asum += obj_slot_new(s, size, obj_tag((uint64_t)w->id, serial++));
        }
    }
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].p)
            fsum += obj_slot_free(&slots[i]);
    bench_free(slots);
    atomic_fetch_add(&alloc_total, asum);
    atomic_fetch_add(&free_total, fsum);
    return NULL;
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "mixed sizes 16 B..16 KiB over a working set (alloc-test style)");
    int threads = (int)params[0].value;
    ops = params[1].value;
    nslots = (size_t)params[2].value;
    seed = (uint64_t)params[3].value;

    double t0 = bench_now();
    bench_run_workers(threads, worker_main);
    double t1 = bench_now();
    bench_check_tag_sums(alloc_total, free_total);
    bench_report(alloc_total, t1 - t0, NULL);
    return 0;
}
