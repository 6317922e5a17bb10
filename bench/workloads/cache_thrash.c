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

static void *worker_main(void *arg) {
    struct bench_worker *w = arg;
    atomic_fetch_add(&total, bench_write_cycles(w->id, iterations, objsize, repetitions));
    return NULL;
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "active false sharing (Hoard cache-thrash)");
    int threads = (int)params[0].value;
    iterations = params[1].value;
    objsize = (size_t)params[2].value;
    repetitions = params[3].value;

    double t0 = bench_now();
    bench_run_workers(threads, worker_main);
    double t1 = bench_now();
    bench_check_write_total(total, threads, iterations, objsize, repetitions);
    bench_report(total, t1 - t0, NULL);
    return 0;
}
