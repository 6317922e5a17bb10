/* frag — fragmentation: build a peak, free most of it in a scattered order,
 * measure what the process still holds, then allocate again and measure
 * how much of the freed memory was reused.
 *
 *   1. build: allocate `objects` objects (sizes below) and fill them;
 *      rss_peak = RSS now.
 *   2. scatter: free all but every `keep`-th object, in a random order
 *      (the survivors are spread evenly over the heap, so few pages or
 *      slabs become entirely free); rss_free = RSS now.
 *   3. reuse: allocate new objects, of sizes drawn from a distribution
 *      shifted 2x up (a program moving to its next phase), until they
 *      total half the bytes freed in step 2; rss_reuse = RSS now.
 * Then everything is freed. No allocator-specific call (malloc_trim and
 * the like) is made: what is measured is what the allocator does by
 * itself. RSS is read from /proc/self/statm.
 *
 * Sizes in step 1: 60% 16..64 bytes, 30% 65..512, 9% 513..4096,
 * 1% 4097..16384 (uniform in each band; mean ~430 bytes; ~430 MB peak with
 * the defaults). Step 3 doubles each size. Objects carry the pattern of
 * common.h and are verified before they are freed; the sums of allocated
 * and freed tags must match.
 *
 * Reported: rss_peak_kib, rss_free_kib, rss_reuse_kib on the closing line
 * (the driver tabulates them); the process's peak RSS is the usual column.
 *
 * Parameters (name=value; defaults are the suite's):
 *   objects  1000000  objects built in step 1
 *   keep     10       every keep-th object survives step 2
 *   seed     1        random seed
 */
#include "common.h"

static struct bench_param params[] = {
    {"objects", 1000000, 1, 1L << 32, "objects built in step 1"},
    {"keep", 10, 1, 1L << 20, "every keep-th object survives the scatter"},
    {"seed", 1, 0, 1L << 62, "random seed"},
};

static size_t frag_size(struct rng *r) {
    uint64_t x = rng_below(r, 100);
    if (x < 60)
        return rng_range(r, 16, 64);
    if (x < 90)
        return rng_range(r, 65, 512);
    if (x < 99)
        return rng_range(r, 513, 4096);
    return rng_range(r, 4097, 16384);
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "fragmentation: peak, scattered free, RSS, reuse");
    size_t n = (size_t)params[0].value, keep = (size_t)params[1].value;
    struct rng rng;
    rng_seed(&rng, (uint64_t)params[2].value);

    double t0 = bench_now();
    /* The bookkeeping arrays are allocated first, so they sit below the heap
     * they describe in allocators that grow upwards. */
    struct obj_slot *objs = bench_malloc(n * sizeof *objs);
    size_t *order = bench_malloc(n * sizeof *order);
    memset(order, 0, n * sizeof *order); /* resident from the start, like objs */
    uint64_t asum = 0, fsum = 0, serial = 0;
    size_t freed_bytes = 0;

    for (size_t i = 0; i < n; i++) {
        size_t size = frag_size(&rng);
        asum += obj_slot_new(&objs[i], size, obj_tag(1, serial++));
    }
    long rss_peak = bench_rss_kib();

    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (i % keep != 0)
            order[m++] = i;
    for (size_t i = m; i > 1; i--) { /* Fisher-Yates */
        size_t j = rng_below(&rng, i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < m; i++) {
        freed_bytes += objs[order[i]].size;
        fsum += obj_slot_free(&objs[order[i]]);
    }
    long rss_free = bench_rss_kib();

    /* Reuse: the freed entries of objs are refilled with larger objects. */
    size_t target = freed_bytes / 2, got = 0, k = 0;
    for (size_t i = 0; i < m && got < target; i++) {
        struct obj_slot *o = &objs[order[i]];
        size_t size = 2 * frag_size(&rng);
        asum += obj_slot_new(o, size, obj_tag(2, serial++));
        got += o->size;
        k++;
    }
    long rss_reuse = bench_rss_kib();

    for (size_t i = 0; i < n; i++)
        if (objs[i].p)
            fsum += obj_slot_free(&objs[i]);
    bench_free(order);
    bench_free(objs);
    double t1 = bench_now();
    bench_check_tag_sums(asum, fsum);
    char extra[160];
    snprintf(extra, sizeof extra, "rss_peak_kib=%ld rss_free_kib=%ld rss_reuse_kib=%ld reused_objects=%zu", rss_peak,
             rss_free, rss_reuse, k);
    bench_report(asum, t1 - t0, extra);
    return 0;
}
