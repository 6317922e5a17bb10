/* The size-class table and the offset-to-slot arithmetic the free path
 * relies on, checked exhaustively. */
#include "testutil.h"
#include "fastpath.h"

Test(sizeclass, table_is_increasing_aligned_and_tight) {
    cr_assert_eq(pm_class_size[0], 8);
    cr_assert_eq(pm_class_size[PM_NUM_SMALL_CLASSES - 1], PM_MAX_SMALL);
    cr_assert_eq(pm_class_size[PM_NUM_CLASSES - 1], PM_MAX_CLASS);
    for (unsigned c = 1; c < PM_NUM_CLASSES; c++) {
        cr_assert_gt(pm_class_size[c], pm_class_size[c - 1]);
        cr_assert_eq(pm_class_size[c] % 16, 0, "class %u", c);
        if (c >= PM_NUM_SMALL_CLASSES) /* one object per slab, a guard after each: whole pages */
            cr_assert_eq(pm_class_size[c] % PM_PAGE, 0, "class %u", c);
        /* the worst request of this class is one byte above the previous */
        double waste = (double)(pm_class_size[c] - pm_class_size[c - 1] - 1) / pm_class_size[c];
        if (pm_class_size[c] > 64)
            cr_assert_leq(waste, 0.20, "class %u (%u) wastes %.2f", c, pm_class_size[c], waste);
        else
            cr_assert_leq(pm_class_size[c] - pm_class_size[c - 1] - 1, 15u);
    }
}

Test(sizeclass, lookup_agrees_with_the_table_for_every_size) {
    for (size_t n = 0; n <= PM_MAX_CLASS; n++) {
        unsigned c = pm_size_to_class(n);
        cr_assert_lt(c, PM_NUM_CLASSES);
        cr_assert_geq(pm_class_size[c], n, "size %zu class %u", n, c);
        if (c > 0)
            cr_assert_lt(pm_class_size[c - 1], n ? n : 1, "size %zu not in the smallest class", n);
    }
}

Test(sizeclass, slot_arithmetic_is_exact, .timeout = 60) {
    for (unsigned c = 0; c < PM_NUM_CLASSES; c++) {
        uint64_t size = pm_class_size[c], magic = UINT64_MAX / size + 1;
        /* every offset of the first 256 KiB and of the last 256 KiB of a
         * 64 GiB region (the largest), then samples up to 2^43 */
        for (uint64_t k = 0; k < (1u << 19); k++) {
            uint64_t off = k < (1u << 18) ? k : (1ull << 36) - (1u << 19) + k;
            struct pm_slot_div d = pm_slot_div(off, magic);
            cr_assert_eq(d.slot, off / size, "class %u offset %lu", c, (unsigned long)off);
            cr_assert_eq(d.is_start, off % size == 0, "class %u offset %lu", c, (unsigned long)off);
        }
        uint64_t x = 88172645463325252ull;
        for (int i = 0; i < 100000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint64_t off = x & ((1ull << 43) - 1);
            uint64_t edge = off / size * size; /* exact slot starts, one before and after */
            uint64_t probes[] = {off, edge, edge ? edge - 1 : 0, edge + 1, (1ull << 43) - 1 - (x & 0xffff)};
            for (int k = 0; k < 5; k++) {
                struct pm_slot_div d = pm_slot_div(probes[k], magic);
                cr_assert_eq(d.slot, probes[k] / size);
                cr_assert_eq(d.is_start, probes[k] % size == 0);
            }
        }
    }
}
