/* Isolation: caches never share a page, and an address range that a cache
 * owned is never handed out by another cache, even after its pages went
 * back to the OS. Typed mode, default configuration. */
#include <stdint.h>
#include <sys/mman.h>

#include "frontend.h"
#include "testutil.h"
#include "typed_map.h"

/* An object of `size` in `partition`. A known type's partition is reached
 * through a token that maps there (pm_token_partition); a partition of the
 * unknown group, [0, N/4), is chosen by call site, so the test allocates
 * there as a call site that hashes to it would. */
static void *alloc_in(size_t size, unsigned partition) {
    struct pm_config c;
    pm_get_config(&c);
    if (pm_group_of_partition(partition, c.partitions) == PM_GROUP_UNKNOWN)
        return fe_malloc(size, pm_part_of_index(partition));
    uint64_t half = (c.token_max ? c.token_max : UINT64_MAX) / 2;
    for (size_t i = 1; i < 4 * (size_t)c.partitions + 4; i++)
        for (int upper = 0; upper < 2; upper++) {
            size_t t = upper ? (size_t)half + i - 1 : i;
            if (pm_token_group(t) != PM_GROUP_UNKNOWN && pm_token_partition(t) == partition)
                return pm_malloc_token(size, t);
        }
    cr_assert_fail("no token maps to partition %u", partition);
    return NULL;
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
    /* the largest 8 bytes short of 32 KiB: a slab object under strict too
     * (the canary's 8 bytes) */
    const size_t sizes[] = {8, 16, 24, 48, 100, 256, 1000, 3000, 9000, 32760};
    enum { PER = 64 };
    size_t n = 0, cap = (sizeof sizes / sizeof *sizes) * c.partitions * PER * 2;
    struct page_owner *pages = malloc(cap * sizeof *pages);
    for (int round = 0; round < PER; round++)
        for (unsigned part = 0; part < c.partitions; part++)
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
                char *p = alloc_in(sizes[s], part);
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
    void *data = pm_malloc_token(64, 1);        /* a known type without pointers */
    void *ptrs = alloc_in(64, c.partitions - 1); /* a type with pointers */
    struct pm_ptr_info a, b;
    pm_ptr_info(data, &a);
    pm_ptr_info(ptrs, &b);
    cr_expect_eq(pm_group_of_partition(a.partition, c.partitions), PM_GROUP_NO_POINTERS);
    cr_expect_eq(pm_group_of_partition(b.partition, c.partitions), PM_GROUP_POINTERS);
    /* different regions: at least one region apart */
    uintptr_t gap = (uintptr_t)ptrs > (uintptr_t)data ? (uintptr_t)ptrs - (uintptr_t)data
                                                      : (uintptr_t)data - (uintptr_t)ptrs;
    cr_expect_geq(gap, c.cache_region_size / 2);
    pm_free(data);
    pm_free(ptrs);
}

static long resident_pages(uintptr_t lo, uintptr_t hi) {
    uintptr_t start = lo & ~4095ul;
    size_t pages = (hi - start + 4095) / 4096;
    unsigned char *vec = malloc(pages);
    cr_assert_eq(mincore((void *)start, pages * 4096, vec), 0);
    long n = 0;
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    free(vec);
    return n;
}

/* The address ranges one cache's objects span: a cache that filled its
 * first region takes more, anywhere the OS puts them, and another cache's
 * region may lie between two of them. Sorted objects are cut into runs no
 * longer than a region: a run then lies in at most two adjacent regions,
 * both holding objects of the cache, so nothing of another cache is in it. */
struct span {
    uintptr_t lo, hi;
};
enum { MAX_SPANS = 256 };

static int by_address(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static size_t spans_of(char **objs, size_t n, size_t size, size_t region, struct span *out) {
    uintptr_t *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = (uintptr_t)objs[i];
    qsort(a, n, sizeof *a, by_address);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || a[i] + size - out[k - 1].lo > region) {
            cr_assert_lt(k, MAX_SPANS);
            out[k].lo = a[i];
            k++;
        }
        out[k - 1].hi = a[i] + size;
    }
    free(a);
    return k;
}

static int in_spans(uintptr_t a, size_t size, const struct span *sp, size_t k, size_t extra) {
    for (size_t i = 0; i < k; i++)
        if (a + size > sp[i].lo && a < sp[i].hi + extra)
            return 1;
    return 0;
}

Test(isolation, no_reuse_across_caches_after_pages_returned, .timeout = 120) {
    struct pm_config c;
    pm_get_config(&c);
    const unsigned victim_part = 3;
    const size_t victim_size = 96;
    enum { VICTIMS = 40000, CHURN_MAX = 4000 };
    /* The churn's sizes that the victims' cache serves in their partition
     * (81 to 96 bytes; under strict, with the canary, 89 to 104): */
    static bool victim_cache_size[CHURN_MAX + 1];
    char victim_cache[32];
    void *probe = alloc_in(victim_size, victim_part);
    struct pm_ptr_info pinfo;
    pm_ptr_info(probe, &pinfo);
    strcpy(victim_cache, pinfo.cache_name);
    pm_free(probe);
    for (size_t size = 1; size <= CHURN_MAX; size++) {
        probe = alloc_in(size, victim_part);
        pm_ptr_info(probe, &pinfo);
        victim_cache_size[size] = strcmp(pinfo.cache_name, victim_cache) == 0;
        pm_free(probe);
    }
    char **v = malloc(VICTIMS * sizeof *v);
    for (int i = 0; i < VICTIMS; i++) {
        v[i] = alloc_in(victim_size, victim_part);
        memset(v[i], 0x5a, victim_size);
    }
    static struct span sp[MAX_SPANS];
    size_t k = spans_of(v, VICTIMS, victim_size, c.cache_region_size, sp);
    struct pm_ptr_info vinfo;
    pm_ptr_info(v[0], &vinfo);
    long before = 0, after = 0;
    for (size_t i = 0; i < k; i++)
        before += resident_pages(sp[i].lo, sp[i].hi);
    cr_assert_gt(before, (long)(VICTIMS * victim_size / 4096 / 2));
    for (int i = 0; i < VICTIMS; i++)
        pm_free(v[i]);
    pm_collect();
    for (size_t i = 0; i < k; i++)
        after += resident_pages(sp[i].lo, sp[i].hi);
    cr_expect_lt(after, before / 4, "pages went back to the OS: %ld of %ld still resident", after, before);

    /* 1e6 allocations of churn in every other cache: none lands in a range. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    enum { LIVE = 4096 };
    void *live[LIVE] = {0};
    for (long i = 0; i < 1000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned part = (unsigned)(x % c.partitions);
        size_t size = (size_t)((x >> 8) % CHURN_MAX) + 1;
        if (part == victim_part && victim_cache_size[size])
            size = 200;
        size_t slot = (size_t)(x >> 40) % LIVE;
        pm_free(live[slot]);
        live[slot] = alloc_in(size, part);
        uintptr_t a = (uintptr_t)live[slot];
        cr_assert(!in_spans(a, size, sp, k, 0), "cache of size %zu partition %u reused %#lx", size, part,
                  (unsigned long)a);
    }
    for (int i = 0; i < LIVE; i++)
        pm_free(live[i]);

    /* The victim's own cache gets its ranges back: its slabs, the last of
     * which the victims filled only in part (in random slot order). */
    static struct pm_cache_stats all[8192];
    size_t n = pm_stats_caches(all, 8192), slab_bytes = 0;
    for (size_t i = 0; i < n && i < 8192; i++)
        if (strcmp(all[i].name, vinfo.cache_name) == 0)
            slab_bytes = all[i].pages_per_slab * 4096;
    cr_assert_gt(slab_bytes, 0);
    char *again = alloc_in(victim_size, victim_part);
    struct pm_ptr_info info;
    pm_ptr_info(again, &info);
    cr_expect_str_eq(info.cache_name, vinfo.cache_name);
    cr_expect(in_spans((uintptr_t)again, victim_size, sp, k, slab_bytes), "%p outside the victims' %zu ranges",
              (void *)again, k);
    pm_free(again);
    free(v);
}

Test(isolation, each_region_belongs_to_one_cache) {
    struct pm_config c;
    pm_get_config(&c);
    /* The ranges of objects of different partitions never overlap, however
     * many regions each cache took; while a cache's objects fit in one
     * region, they lie in one. */
    enum { OBJS = 5000, PARTS = 16 };
    static struct span sp[PARTS][MAX_SPANS];
    size_t k[PARTS] = {0};
    static char *objs[OBJS];
    unsigned used = 0;
    for (unsigned part = 0; part < c.partitions && used < PARTS; part += 5, used++) {
        for (int i = 0; i < OBJS; i++)
            objs[i] = alloc_in(128, part);
        k[used] = spans_of(objs, OBJS, 128, c.cache_region_size, sp[used]);
        if ((size_t)OBJS * 128 * 2 <= c.cache_region_size)
            cr_expect_eq(k[used], 1, "partition %u: %zu ranges", part, k[used]);
    }
    for (unsigned a = 0; a < used; a++)
        for (unsigned b = a + 1; b < used; b++)
            for (size_t i = 0; i < k[a]; i++)
                cr_assert(!in_spans(sp[a][i].lo, sp[a][i].hi - sp[a][i].lo, sp[b], k[b], 0),
                          "[%#lx, %#lx) of one cache overlaps another's", (unsigned long)sp[a][i].lo,
                          (unsigned long)sp[a][i].hi);
}
