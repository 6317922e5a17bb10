/* large — large blocks, 64 KiB to 10 MiB, growing by realloc, the way
 * growable buffers (vectors, string builders, I/O buffers) use memory.
 *
 * A single thread keeps `slots` buffers. Each operation picks a random
 * slot:
 *   - empty: a new buffer of log-uniform size in [minsize, 1 MiB];
 *   - otherwise, with probability 3/4, the buffer grows by realloc to
 *     1.25..2x its size; a buffer that would pass maxsize is freed instead;
 *   - otherwise it is freed.
 * Every buffer is filled with the pattern of common.h, which for blocks
 * above 64 KiB writes one word per 4 KiB page (so every page is touched, as
 * a program writing its buffer would); after a realloc the old contents
 * are verified in the new block before the grown block is filled, and
 * every buffer is verified before it is freed. The sums of allocated and
 * freed tags must match.
 *
 * Parameters (name=value; defaults are the suite's):
 *   slots    8         buffers
 *   ops      8000      operations
 *   minsize  65536     smallest new buffer
 *   maxsize  10485760  largest buffer
 *   seed     1         random seed
 */
#include "common.h"

static struct bench_param params[] = {
    {"slots", 8, 1, 1 << 20, "buffers"},
    {"ops", 8000, 1, 1L << 40, "operations"},
    {"minsize", 65536, OBJ_MIN, 1L << 30, "smallest new buffer"},
    {"maxsize", 10485760, OBJ_MIN, 1L << 34, "largest buffer"},
    {"seed", 1, 0, 1L << 62, "random seed"},
};

struct buf {
    void *p;
    size_t size;
    uint64_t tag;
};

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "large blocks (64 KiB..10 MiB) with realloc growth");
    size_t nslots = (size_t)params[0].value;
    long ops = params[1].value;
    size_t minsize = (size_t)params[2].value, maxsize = (size_t)params[3].value;
    size_t firstmax = maxsize < ((size_t)1 << 20) ? maxsize : (size_t)1 << 20;
    if (firstmax < minsize)
        bench_fail("maxsize < minsize");
    struct rng rng;
    rng_seed(&rng, (uint64_t)params[4].value);

    double t0 = bench_now();
    struct buf *bufs = calloc(nslots, sizeof *bufs);
    if (!bufs)
        bench_fail("calloc failed");
    uint64_t asum = 0, fsum = 0, serial = 0, reallocs = 0, moved = 0;
    for (long i = 0; i < ops; i++) {
        struct buf *b = &bufs[rng_below(&rng, nslots)];
        uint64_t choice = rng_below(&rng, 4);
        double factor = 1.25 + 0.75 * (double)rng_below(&rng, 1024) / 1023.0;
        size_t fresh = rng_log_range(&rng, minsize, firstmax);
        if (!b->p) {
            b->size = fresh;
            b->tag = obj_tag(0, serial++);
            b->p = obj_new(b->size, b->tag);
            asum += b->tag;
            continue;
        }
        size_t grown = (size_t)((double)b->size * factor);
        if (choice != 0 && grown <= maxsize) {
            obj_check_sized(b->p, b->size, b->tag);
            void *old = b->p;
            b->p = bench_realloc(b->p, grown);
            moved += b->p != old;
            reallocs++;
            obj_check_sized(b->p, b->size, b->tag);
            b->size = grown;
            obj_fill(b->p, grown, b->tag);
        } else {
            obj_check_sized(b->p, b->size, b->tag);
            bench_free(b->p);
            fsum += b->tag;
            b->p = NULL;
        }
    }
    for (size_t i = 0; i < nslots; i++)
        if (bufs[i].p) {
            obj_check_sized(bufs[i].p, bufs[i].size, bufs[i].tag);
            bench_free(bufs[i].p);
            fsum += bufs[i].tag;
        }
    bench_free(bufs);
    double t1 = bench_now();
    bench_check_tag_sums(asum, fsum);
    char extra[96];
    snprintf(extra, sizeof extra, "buffers=%llu reallocs=%llu moved=%llu", (unsigned long long)serial,
             (unsigned long long)reallocs, (unsigned long long)moved);
    bench_report(asum, t1 - t0, extra);
    return 0;
}
