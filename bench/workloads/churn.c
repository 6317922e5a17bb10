/* churn — single-threaded churn of small mixed sizes with mixed lifetimes,
 * in the style of symbolic-math and logic-minimizer programs (cfrac,
 * espresso): most objects are short-lived temporaries freed in roughly LIFO
 * order, some survive into a medium-lived working set, a few are long-lived,
 * and working objects occasionally grow with realloc (like a bignum gaining
 * digits or a cube list gaining a term).
 *
 * Each step:
 *   - allocates 1..4 temporaries (sizes below), fills them;
 *   - "computes": reads the headers of two random working objects and of
 *     the temporaries into the checksum;
 *   - frees the temporaries newest first, except that with probability
 *     1/4 the last one is promoted into a random working slot (the old
 *     working object is verified and freed);
 *   - with probability 1/32 grows a random working object with realloc by
 *     1/4..1x (capped at 4 KiB; objects at the cap are replaced by a fresh
 *     small one);
 *   - with probability 1/512 replaces a random long-lived object.
 * Sizes: 70% 16..64 bytes, 25% 65..256, 5% 257..1024 (uniform within each).
 * Every object is filled with the pattern of common.h and verified before it
 * is freed; the checksum is the sum of all verified tags plus header reads.
 *
 * Parameters (name=value; defaults are the suite's):
 *   steps   5000000  steps of the loop above
 *   work    20000    medium-lived working-set slots
 *   keep    2000     long-lived slots
 *   seed    1        random seed
 */
#include "common.h"

static struct bench_param params[] = {
    {"steps", 5000000, 1, 1L << 40, "steps of the churn loop"},
    {"work", 20000, 1, 1L << 28, "medium-lived working-set slots"},
    {"keep", 2000, 1, 1L << 28, "long-lived slots"},
    {"seed", 1, 0, 1L << 62, "random seed"},
};

static struct rng rng;
static uint64_t serial, alloc_sum, free_sum, checksum;

static size_t churn_size(void) {
    uint64_t r = rng_below(&rng, 100);
    if (r < 70)
        return rng_range(&rng, 16, 64);
    if (r < 95)
        return rng_range(&rng, 65, 256);
    return rng_range(&rng, 257, 1024);
}

static void slot_new(struct obj_slot *s, size_t size) {
    alloc_sum += obj_slot_new(s, size, obj_tag(0, serial++));
}

static void slot_free(struct obj_slot *s) {
    free_sum += obj_slot_free(s);
}

static uint64_t peek(const struct obj_slot *s) {
    const uint64_t *w = s->p;
    if (BENCH_UNLIKELY(w[0] != s->tag))
        bench_fail("working object %p: tag %016llx, expected %016llx", s->p, (unsigned long long)w[0],
                   (unsigned long long)s->tag);
    return w[0] ^ w[1];
}

int main(int argc, char **argv) {
    bench_args(argc, argv, params, BENCH_NPARAMS(params), "single-threaded small-object churn (cfrac/espresso style)");
    long steps = params[0].value;
    size_t nwork = (size_t)params[1].value, nkeep = (size_t)params[2].value;
    rng_seed(&rng, (uint64_t)params[3].value);

    double t0 = bench_now();
    struct obj_slot *work = bench_malloc(nwork * sizeof *work);
    struct obj_slot *keep = bench_malloc(nkeep * sizeof *keep);
    for (size_t i = 0; i < nkeep; i++)
        slot_new(&keep[i], churn_size());
    for (size_t i = 0; i < nwork; i++)
        slot_new(&work[i], churn_size());

    struct obj_slot tmp[4];
    for (long step = 0; step < steps; step++) {
        unsigned ntmp = 1 + (unsigned)rng_below(&rng, 4);
        for (unsigned i = 0; i < ntmp; i++)
            slot_new(&tmp[i], churn_size());
        checksum += peek(&work[rng_below(&rng, nwork)]);
        checksum += peek(&work[rng_below(&rng, nwork)]);
        for (unsigned i = 0; i < ntmp; i++)
            checksum += peek(&tmp[i]);
        unsigned last = ntmp;
        if (rng_below(&rng, 4) == 0) {
            struct obj_slot *w = &work[rng_below(&rng, nwork)];
            slot_free(w);
            *w = tmp[--last];
        }
        while (last > 0)
            slot_free(&tmp[--last]);
        if (rng_below(&rng, 32) == 0) {
            struct obj_slot *w = &work[rng_below(&rng, nwork)];
            if (w->size >= 4096) {
                slot_free(w);
                slot_new(w, churn_size());
            } else {
                size_t grown = w->size + 1 + rng_below(&rng, w->size);
                if (grown > 4096)
                    grown = 4096;
                obj_check_sized(w->p, w->size, w->tag);
                w->p = bench_realloc(w->p, grown);
                obj_check_sized(w->p, w->size, w->tag); /* the old contents moved intact */
                w->size = grown;
                obj_fill(w->p, grown, w->tag);
            }
        }
        if (rng_below(&rng, 512) == 0) {
            struct obj_slot *k = &keep[rng_below(&rng, nkeep)];
            slot_free(k);
            slot_new(k, churn_size());
        }
    }
    for (size_t i = 0; i < nwork; i++)
        slot_free(&work[i]);
    for (size_t i = 0; i < nkeep; i++)
        slot_free(&keep[i]);
    bench_free(work);
    bench_free(keep);
    double t1 = bench_now();
    bench_check_tag_sums(alloc_sum, free_sum);
    char extra[64];
    snprintf(extra, sizeof extra, "objects=%llu", (unsigned long long)serial);
    bench_report(checksum + alloc_sum, t1 - t0, extra);
    return 0;
}
