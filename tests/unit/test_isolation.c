/* Isolation: caches never share a page, and an address range that a cache
 * owned is never handed out by another cache, even after its pages went
 * back to the OS. Typed mode, default configuration. */
#include <stdint.h>
#include <sys/mman.h>

#include "testutil.h"

/* A token that typed mode maps to `partition`. */
static size_t token_for(unsigned partition) {
    struct pm_config c;
    pm_get_config(&c);
    uint64_t max = c.token_max ? c.token_max : UINT64_MAX;
    size_t t = partition < c.partitions / 2 ? partition : (size_t)(max / 2) + (partition - c.partitions / 2);
    cr_assert_eq(pm_token_partition(t), partition, "token %zu", t);
    return t;
}

struct page_owner {
    uintptr_t page;
    char cache[32];
};

static int by_page(const void *a, const void *b) {
    const struct page_owner *x = a, *y = b;
    return x->page < y->page ? -1 : x->page > y->page;
}

Test(isolation, caches_never_share_a_page) {
    struct pm_config c;
    pm_get_config(&c);
    cr_assert_eq(c.mode, PM_MODE_TYPED);
    cr_assert_geq(c.partitions, 2);
    const size_t sizes[] = {8, 16, 24, 48, 100, 256, 1000, 3000, 9000, 32768};
    enum { PER = 64 };
    size_t n = 0, cap = (sizeof sizes / sizeof *sizes) * c.partitions * PER * 2;
    struct page_owner *pages = malloc(cap * sizeof *pages);
    for (int round = 0; round < PER; round++)
        for (unsigned part = 0; part < c.partitions; part++)
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
                char *p = pm_malloc_token(sizes[s], token_for(part));
                struct pm_ptr_info info;
                cr_assert_eq(pm_ptr_info(p, &info), 1);
                cr_assert_eq(info.partition, part);
                /* first and last page of the object */
                pages[n].page = (uintptr_t)p >> 12;
                strcpy(pages[n++].cache, info.cache_name);
                pages[n].page = ((uintptr_t)p + info.object_size - 1) >> 12;
                strcpy(pages[n++].cache, info.cache_name);
            }
    qsort(pages, n, sizeof *pages, by_page);
    for (size_t i = 1; i < n; i++)
        if (pages[i].page == pages[i - 1].page)
            cr_assert_str_eq(pages[i].cache, pages[i - 1].cache, "page %#lx shared",
                             (unsigned long)(pages[i].page << 12));
    free(pages);
}

Test(isolation, pointer_free_and_pointer_partitions_are_apart) {
    struct pm_config c;
    pm_get_config(&c);
    void *data = pm_malloc_token(64, 1);                   /* pointer-free half */
    void *ptrs = pm_malloc_token(64, token_for(c.partitions - 1)); /* pointer half */
    struct pm_ptr_info a, b;
    pm_ptr_info(data, &a);
    pm_ptr_info(ptrs, &b);
    cr_expect_lt(a.partition, c.partitions / 2);
    cr_expect_geq(b.partition, c.partitions / 2);
    /* different regions: at least one region apart */
    uintptr_t gap = (uintptr_t)ptrs > (uintptr_t)data ? (uintptr_t)ptrs - (uintptr_t)data
                                                      : (uintptr_t)data - (uintptr_t)ptrs;
    cr_expect_geq(gap, c.cache_region_size / 2);
    pm_free(data);
    pm_free(ptrs);
}

static long resident_pages(void *start, size_t len) {
    size_t pages = (len + 4095) / 4096;
    unsigned char *vec = malloc(pages);
    cr_assert_eq(mincore(start, pages * 4096, vec), 0);
    long n = 0;
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    free(vec);
    return n;
}

Test(isolation, no_reuse_across_caches_after_pages_returned, .timeout = 120) {
    struct pm_config c;
    pm_get_config(&c);
    const unsigned victim_part = 3;
    const size_t victim_size = 96;
    enum { VICTIMS = 40000 };
    char **v = malloc(VICTIMS * sizeof *v);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < VICTIMS; i++) {
        v[i] = pm_malloc_token(victim_size, token_for(victim_part));
        memset(v[i], 0x5a, victim_size);
        if ((uintptr_t)v[i] < lo)
            lo = (uintptr_t)v[i];
        if ((uintptr_t)v[i] + victim_size > hi)
            hi = (uintptr_t)v[i] + victim_size;
    }
    struct pm_ptr_info vinfo;
    pm_ptr_info(v[0], &vinfo);
    long before = resident_pages((void *)(lo & ~4095ul), hi - (lo & ~4095ul));
    cr_assert_gt(before, (long)(VICTIMS * victim_size / 4096 / 2));
    for (int i = 0; i < VICTIMS; i++)
        pm_free(v[i]);
    pm_collect();
    long after = resident_pages((void *)(lo & ~4095ul), hi - (lo & ~4095ul));
    cr_expect_lt(after, before / 4, "pages went back to the OS: %ld of %ld still resident", after, before);

    /* 1e6 allocations of churn in every other cache: none lands in the range. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    enum { LIVE = 4096 };
    void *live[LIVE] = {0};
    for (long i = 0; i < 1000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned part = (unsigned)(x % c.partitions);
        size_t size = (size_t)((x >> 8) % 4000) + 1;
        if (part == victim_part && size > 80 && size <= 96)
            size = 200;
        size_t slot = (size_t)(x >> 40) % LIVE;
        pm_free(live[slot]);
        live[slot] = pm_malloc_token(size, token_for(part));
        uintptr_t a = (uintptr_t)live[slot];
        cr_assert(a + size <= lo || a >= hi, "cache of size %zu partition %u reused %#lx", size, part,
                  (unsigned long)a);
    }
    for (int i = 0; i < LIVE; i++)
        pm_free(live[i]);

    /* The victim's own cache gets its range back: its slabs, the last of
     * which the victims filled only in part (in random slot order). */
    static struct pm_cache_stats all[8192];
    size_t n = pm_stats_caches(all, 8192), slab_bytes = 0;
    for (size_t i = 0; i < n && i < 8192; i++)
        if (strcmp(all[i].name, vinfo.cache_name) == 0)
            slab_bytes = all[i].pages_per_slab * 4096;
    cr_assert_gt(slab_bytes, 0);
    char *again = pm_malloc_token(victim_size, token_for(victim_part));
    struct pm_ptr_info info;
    pm_ptr_info(again, &info);
    cr_expect_str_eq(info.cache_name, vinfo.cache_name);
    cr_expect((uintptr_t)again >= lo && (uintptr_t)again < hi + slab_bytes, "%p outside [%#lx, %#lx)", (void *)again,
              (unsigned long)lo, (unsigned long)(hi + slab_bytes));
    pm_free(again);
    free(v);
}

Test(isolation, each_cache_owns_one_region) {
    struct pm_config c;
    pm_get_config(&c);
    /* Objects of one cache all lie within one region of cache_region_size,
     * and regions of different partitions do not overlap. */
    uintptr_t prev_lo = 0, prev_hi = 0;
    for (unsigned part = 0; part < c.partitions; part += 5) {
        uintptr_t lo = UINTPTR_MAX, hi = 0;
        for (int i = 0; i < 5000; i++) {
            uintptr_t p = (uintptr_t)pm_malloc_token(128, token_for(part));
            lo = p < lo ? p : lo;
            hi = p + 128 > hi ? p + 128 : hi;
        }
        cr_assert_leq(hi - lo, c.cache_region_size);
        if (prev_hi)
            cr_assert(hi <= prev_lo || lo >= prev_hi);
        prev_lo = lo;
        prev_hi = hi;
    }
}
