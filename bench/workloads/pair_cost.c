/* pair_cost — the loop the instruction-count benchmark runs under
 * callgrind (bench/run.py): `iters` malloc(size)+free pairs, with `live`
 * other objects of the same size kept live in a ring.
 *
 *   live=0:  p = malloc(size); free(p);
 *   live=N:  p = malloc(size); free(ring[j]); ring[j] = p; j = (j+1) mod N
 *            (the ring is filled with N objects before the loop)
 *
 * The driver runs it twice with different `iters` and divides the
 * difference in total instructions by the difference in iterations, which
 * cancels start-up, the ring's set-up and exit. With noop=1 the same loop
 * calls two do-nothing functions instead of malloc and free; its cost per
 * iteration (the loop itself and the two calls) is measured the same way
 * and reported beside the allocators' figures. Objects are not written.
 *
 * Check: every pointer returned is nonzero and 16-byte aligned (8 for
 * sizes below 16), or the program fails.
 *
 * Parameters (name=value):
 *   size   32      request size in bytes
 *   live   0       other live objects (0 or a ring of this many)
 *   iters  100000  malloc+free pairs
 *   noop   0       1: call no-op functions instead of malloc/free
 */
#include "common.h"

static struct bench_param params[] = {
    {"size", 32, 1, 1 << 30, "request size in bytes"},
    {"live", 0, 0, 1 << 20, "other live objects"},
    {"iters", 100000, 0, 1L << 40, "malloc+free pairs"},
    {"noop", 0, 0, 1, "1: call no-op functions instead of malloc/free"},
};

static char noop_obj[64] __attribute__((aligned(16)));

static __attribute__((noipa)) void *noop_malloc(size_t size) {
    __asm__ volatile("" : : "r"(size) : "memory");
    return noop_obj;
}

static __attribute__((noipa)) void noop_free(void *p) {
    __asm__ volatile("" : : "r"(p) : "memory");
}

static uintptr_t align_mask;
static uintptr_t bad;

/* One loop body per allocator pair, so the no-op loop is the same code. */
#define PAIR_LOOPS(NAME, MALLOC, FREE)                                       \
    static __attribute__((noinline)) void NAME##_zero(size_t size, long n) { \
        for (long i = 0; i < n; i++) {                                       \
            void *p = MALLOC(size);                                          \
            bench_escape(p);                                                 \
            bad |= ((uintptr_t)p & align_mask) | !p;                         \
            FREE(p);                                                         \
        }                                                                    \
    }                                                                        \
    static __attribute__((noinline)) void NAME##_ring(size_t size, long n, void **ring, size_t live) { \
        size_t j = 0;                                                        \
        for (long i = 0; i < n; i++) {                                       \
            void *p = MALLOC(size);                                          \
            bench_escape(p);                                                 \
            bad |= ((uintptr_t)p & align_mask) | !p;                         \
            FREE(ring[j]);                                                   \
            ring[j] = p;                                                     \
            if (++j == live)                                                 \
                j = 0;                                                       \
        }                                                                    \
    }

PAIR_LOOPS(real, malloc, free)
PAIR_LOOPS(noop, noop_malloc, noop_free)

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "malloc+free pair loop for callgrind");
    size_t size = (size_t)params[0].value, live = (size_t)params[1].value;
    long iters = params[2].value;
    bool noop = params[3].value != 0;
    align_mask = size >= 16 ? 15 : 7;

    void **ring = NULL;
    if (live) {
        ring = bench_malloc(live * sizeof *ring);
        for (size_t j = 0; j < live; j++)
            ring[j] = noop ? noop_malloc(size) : bench_malloc(size);
    }
    double t0 = bench_now();
    if (noop)
        live ? noop_ring(size, iters, ring, live) : noop_zero(size, iters);
    else
        live ? real_ring(size, iters, ring, live) : real_zero(size, iters);
    double t1 = bench_now();
    if (bad)
        bench_fail("malloc(%zu) returned NULL or a misaligned pointer", size);
    if (live) {
        for (size_t j = 0; j < live; j++)
            if (!noop)
                bench_free(ring[j]);
        bench_free(ring);
    }
    bench_report((uint64_t)iters, t1 - t0, NULL);
    return 0;
}
