/* cache_thrash — active false sharing, after Hoard's cache-thrash test.
 * Each worker repeatedly allocates a small object, writes every byte of it
 * `repetitions` times (a volatile store and load per byte) and frees it. No
 * object ever moves between threads; an allocator that nevertheless carves
 * concurrently live objects of different threads out of the same cache line
 * (one shared heap, no per-thread or per-CPU separation) makes the workers'
 * writes bounce that line between cores.
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
    int id;
    char pad[BENCH_CACHELINE - sizeof(int)];
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    uint64_t sum = 0;
    for (long i = 0; i < iterations; i++) {
        volatile char *a = bench_malloc(objsize);
        for (long r = 0; r < repetitions; r++)
            for (size_t k = 0; k < objsize; k++) {
                a[k] = (char)(r + w->id);
                char ch = a[k];
                (void)ch;
            }
        char want = (char)(repetitions - 1 + w->id);
        for (size_t k = 0; k < objsize; k++) {
            if (a[k] != want)
                bench_fail("worker %d: byte %zu of %p is %d, expected %d", w->id, k, (void *)a, a[k], want);
            sum += (unsigned char)a[k];
        }
        bench_free((void *)a);
    }
    atomic_fetch_add(&total, sum);
    return NULL;
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "active false sharing (Hoard cache-thrash)");
    int threads = (int)params[0].value;
    iterations = params[1].value;
    objsize = (size_t)params[2].value;
    repetitions = params[3].value;

    double t0 = bench_now();
    struct worker *workers = bench_malloc((size_t)threads * sizeof *workers);
    for (int t = 0; t < threads; t++)
        workers[t].id = t;
    bench_run_threads(threads, worker_main, workers, sizeof *workers);
    bench_free(workers);
    double t1 = bench_now();
    uint64_t expect = 0;
    for (int t = 0; t < threads; t++)
        expect += (uint64_t)iterations * objsize * (unsigned char)(char)(repetitions - 1 + t);
    if (total != expect)
        bench_fail("byte sum %llu, expected %llu", (unsigned long long)total, (unsigned long long)expect);
    bench_report(total, t1 - t0, NULL);
    return 0;
}
