/* glibc_bench — a tight malloc/free loop over fixed small sizes, in the
 * style of glibc's benchtests (bench-malloc-simple / bench-malloc-thread):
 * what the allocator's fast path costs when the program does almost
 * nothing else. Each thread keeps a ring of `ring` objects; iteration i
 * frees the object in ring slot i % ring (after checking it) and puts a new
 * one there, of size sizes[i % 8] with sizes = {16, 32, 48, 64, 96, 128,
 * 192, 256}. Each new object gets a tag in its first word and the tag's
 * complement in its last word. Threads share nothing; the suite runs it
 * with threads=1 and threads=2.
 *
 * Check: both words are verified before every free, and the sum of the
 * tags freed must equal the sum of the tags allocated.
 *
 * Parameters (name=value; defaults are the suite's):
 *   threads  1         threads
 *   iters    40000000  malloc/free pairs per thread
 *   ring     64        live objects per thread
 */
#include "common.h"

static struct bench_param params[] = {
    {"threads", 1, 1, 256, "threads"},
    {"iters", 40000000, 1, 1L << 40, "malloc/free pairs per thread"},
    {"ring", 64, 1, 1 << 24, "live objects per thread"},
};

static const size_t sizes[8] = {16, 32, 48, 64, 96, 128, 192, 256};
static long iters;
static size_t ring_len;
static _Atomic uint64_t alloc_total, free_total;

struct entry {
    uint64_t *p;
    size_t size;
};

static inline void put(struct entry *e, size_t size, uint64_t tag) {
    uint64_t *p = bench_malloc(size);
    p[0] = tag;
    p[size / 8 - 1] = ~tag;
    e->p = p;
    e->size = size;
}

static inline uint64_t take(struct entry *e) {
    uint64_t *p = e->p, tag = p[0];
    if (BENCH_UNLIKELY(p[e->size / 8 - 1] != ~tag))
        bench_fail("object %p (size %zu) corrupted", (void *)p, e->size);
    bench_free(p);
    return tag;
}

static void *worker_main(void *arg) {
    struct bench_worker *w = arg;
    struct entry *ring = bench_malloc(ring_len * sizeof *ring);
    uint64_t asum = 0, fsum = 0, tag = (uint64_t)w->id << 48;
    for (size_t j = 0; j < ring_len; j++) {
        put(&ring[j], sizes[j % 8], ++tag);
        asum += tag;
    }
    size_t j = 0;
    for (long i = 0; i < iters; i++) {
        fsum += take(&ring[j]);
        put(&ring[j], sizes[i & 7], ++tag);
        asum += tag;
        if (++j == ring_len)
            j = 0;
    }
    for (size_t k = 0; k < ring_len; k++)
        fsum += take(&ring[k]);
    bench_free(ring);
    atomic_fetch_add(&alloc_total, asum);
    atomic_fetch_add(&free_total, fsum);
    return NULL;
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "tight malloc/free loop of fixed small sizes (glibc benchtests style)");
    int threads = (int)params[0].value;
    iters = params[1].value;
    ring_len = (size_t)params[2].value;

    double t0 = bench_now();
    bench_run_workers(threads, worker_main);
    double t1 = bench_now();
    bench_check_tag_sums(alloc_total, free_total);
    char extra[64];
    snprintf(extra, sizeof extra, "ns_per_pair=%.2f", (t1 - t0) * 1e9 / (double)iters);
    bench_report(alloc_total, t1 - t0, extra);
    return 0;
}
