/* cache_scratch — passive false sharing, after Hoard's cache-scratch test.
 * The main thread allocates one small object per worker, back to back (so
 * they usually share a cache line), and hands one to each worker. Each
 * worker frees the object it was given, then repeatedly allocates an object
 * of the same size, writes every byte of it `repetitions` times (a volatile
 * store and load per byte) and frees it. An allocator that hands a worker
 * back the object it just freed — which was carved next to the other
 * workers' objects in the main thread's memory — makes the workers write
 * to one cache line from different cores for the whole run.
 *
 * Check: after its writes a worker verifies every byte of its object holds
 * the value of the last pass, and adds the object's bytes to its sum; the
 * total must equal the value computed from the parameters.
 *
 * Parameters (name=value; defaults are the suite's):
 *   threads      2       workers
 *   iterations   100     allocate/write/free cycles per worker
 *   objsize      8       object size in bytes
 *   repetitions  1000000 write passes over the object per cycle
 */
#include "common.h"

static struct bench_param params[] = {
    {"threads", 2, 1, 256, "workers"},
    {"iterations", 100, 1, 1L << 40, "allocate/write/free cycles per worker"},
    {"objsize", 8, 1, 1 << 20, "object size in bytes"},
    {"repetitions", 1000000, 1, 1L << 40, "write passes over the object per cycle"},
};

static long iterations, repetitions;
static size_t objsize;
static _Atomic uint64_t total;

struct worker {
    char *given;
    int id;
    char pad[BENCH_CACHELINE - sizeof(char *) - sizeof(int)];
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    bench_free(w->given);
    atomic_fetch_add(&total, bench_write_cycles(w->id, iterations, objsize, repetitions));
    return NULL;
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "passive false sharing (Hoard cache-scratch)");
    int threads = (int)params[0].value;
    iterations = params[1].value;
    objsize = (size_t)params[2].value;
    repetitions = params[3].value;

    double t0 = bench_now();
    struct worker *workers = bench_malloc((size_t)threads * sizeof *workers);
    for (int t = 0; t < threads; t++) {
        workers[t].id = t;
        workers[t].given = bench_malloc(objsize);
        memset(workers[t].given, t, objsize);
    }
    bench_run_threads(threads, worker_main, workers, sizeof *workers);
    bench_free(workers);
    double t1 = bench_now();
    bench_check_write_total(total, threads, iterations, objsize, repetitions);
    bench_report(total, t1 - t0, NULL);
    return 0;
}
