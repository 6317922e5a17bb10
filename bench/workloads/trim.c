/* trim — memory returned: build a large heap, free it, and read what the
 * process still holds, then call malloc_trim(0) and read it again.
 *
 *   1. before: the pointer table is allocated and touched; rss_before.
 *   2. build: allocate objects of the shape's sizes until they total
 *      `mib` MiB, writing the pattern of common.h; rss_peak.
 *   3. free: every object, in the order allocated, except every
 *      `keep`-th one in the mixed shape (a few survivors scattered over
 *      the heap); rss_free.
 *   4. trim: malloc_trim(0); rss_trim. Its return value is reported.
 *   5. release: the allocator's own call for the same, when it has one
 *      (looked up by name, so the program links with none of them):
 *      mimalloc's mi_collect(true), jemalloc's mallctl("arena.<all>.purge"),
 *      tcmalloc's MallocExtension_ReleaseFreeMemory(); rss_release
 *      (= rss_trim for glibc and partmalloc, whose call is malloc_trim).
 * The survivors are freed at the end. RSS is read from /proc/self/statm.
 *
 * Shapes (sizes uniform in each band unless said):
 *   0 small  64..1024 bytes
 *   1 mid    4 KiB..32 KiB
 *   2 large  64 KiB..1 MiB, log-uniform (every page written)
 *   3 mixed  98% small, 1.8% mid, 0.2% large by count (about a quarter,
 *            a fifth and a half of the bytes); 1 in `keep` survives
 *
 * malloc_trim is glibc's name: an allocator that does not define it
 * (mimalloc, jemalloc and tcmalloc do not) leaves the call to glibc's,
 * which trims glibc's own heap and not theirs.
 *
 * Reported on the closing line: rss_before_kib, rss_peak_kib,
 * rss_free_kib, rss_trim_kib, trim_returned, rss_release_kib, release
 * (the call made in step 5, or none), objects.
 *
 * Parameters (name=value; defaults are the suite's):
 *   shape  0     0 small, 1 mid, 2 large, 3 mixed
 *   mib    1024  MiB of objects built in step 2
 *   keep   64    in the mixed shape every keep-th object survives step 3
 *   seed   1     random seed
 */
#include <dlfcn.h>
#include <malloc.h>
#include <math.h>

#include "common.h"

enum { SHAPE_SMALL, SHAPE_MID, SHAPE_LARGE, SHAPE_MIXED };

static struct bench_param params[] = {
    {"shape", SHAPE_SMALL, SHAPE_SMALL, SHAPE_MIXED, "0 small, 1 mid, 2 large, 3 mixed"},
    {"mib", 1024, 1, 1L << 16, "MiB of objects built before the free"},
    {"keep", 64, 1, 1L << 20, "mixed shape: every keep-th object survives the free"},
    {"seed", 1, 0, 1L << 62, "random seed"},
};

static size_t log_uniform(struct rng *r, size_t lo, size_t hi) {
    double u = (double)rng_below(r, 1u << 30) / (double)(1u << 30);
    return (size_t)((double)lo * pow((double)hi / (double)lo, u));
}

static size_t band_size(struct rng *r, int shape) {
    switch (shape) {
    case SHAPE_SMALL:
        return rng_range(r, 64, 1024);
    case SHAPE_MID:
        return rng_range(r, 4096, 32768);
    case SHAPE_LARGE:
        return log_uniform(r, 65536, 1048576);
    default: {
        uint64_t x = rng_below(r, 1000);
        return band_size(r, x < 980 ? SHAPE_SMALL : x < 998 ? SHAPE_MID : SHAPE_LARGE);
    }
    }
}

/* jemalloc's MALLCTL_ARENAS_ALL: the pseudo-arena that names them all. */
#define JE_ARENAS_ALL 4096

/* Calls the preloaded allocator's own "give memory back" entry point, if
 * it has one; returns its name, or "none". */
static const char *release_own(void) {
    void (*mi_collect)(bool) = (void (*)(bool))dlsym(RTLD_DEFAULT, "mi_collect");
    int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
        (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT, "mallctl");
    void (*tc_release)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory");
    if (mi_collect) {
        mi_collect(true);
        return "mi_collect";
    }
    if (mallctl) {
        char name[64];
        snprintf(name, sizeof name, "arena.%d.purge", JE_ARENAS_ALL);
        if (mallctl(name, NULL, NULL, NULL, 0) != 0)
            bench_fail("mallctl(\"%s\") failed", name);
        return "mallctl-purge";
    }
    if (tc_release) {
        tc_release();
        return "MallocExtension_ReleaseFreeMemory";
    }
    return "none";
}

/* Objects the shape needs to reach `bytes` (the sizes replayed from the seed). */
static size_t objects_for(int shape, size_t bytes, uint64_t seed) {
    struct rng rng;
    rng_seed(&rng, seed);
    size_t n = 0;
    for (size_t total = 0; total < bytes; n++)
        total += band_size(&rng, shape);
    return n;
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "memory returned: RSS after a large free and after malloc_trim");
    int shape = (int)params[0].value;
    size_t bytes = (size_t)params[1].value << 20, keep = shape == SHAPE_MIXED ? (size_t)params[2].value : 0;
    uint64_t seed = (uint64_t)params[3].value;
    size_t n = objects_for(shape, bytes, seed);

    double t0 = bench_now();
    void **objs = bench_malloc(n * sizeof *objs);
    memset(objs, 0, n * sizeof *objs); /* resident before the first reading */
    long rss_before = bench_rss_kib();

    struct rng rng;
    rng_seed(&rng, seed);
    uint64_t asum = 0, fsum = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t tag = obj_tag(1, i);
        objs[i] = obj_new(band_size(&rng, shape), tag);
        asum += tag;
    }
    long rss_peak = bench_rss_kib();

    for (size_t i = 0; i < n; i++)
        if (!keep || i % keep != 0) {
            fsum += obj_free(objs[i]);
            objs[i] = NULL;
        }
    long rss_free = bench_rss_kib();
    int trim_returned = malloc_trim(0);
    long rss_trim = bench_rss_kib();
    const char *release = release_own();
    long rss_release = bench_rss_kib();

    for (size_t i = 0; i < n; i++)
        if (objs[i])
            fsum += obj_free(objs[i]);
    bench_free(objs);
    double t1 = bench_now();
    bench_check_tag_sums(asum, fsum);
    char extra[320];
    snprintf(extra, sizeof extra,
             "rss_before_kib=%ld rss_peak_kib=%ld rss_free_kib=%ld rss_trim_kib=%ld trim_returned=%d "
             "rss_release_kib=%ld release=%s objects=%zu",
             rss_before, rss_peak, rss_free, rss_trim, trim_returned, rss_release, release, n);
    bench_report(asum, t1 - t0, extra);
    return 0;
}
