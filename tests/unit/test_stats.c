/* Statistics: counts follow a known allocation pattern and every output
 * format parses back to the numbers the C API gives. The at-exit and
 * on-signal dumps of a separate process are in
 * tests/integration/test_stats_programs.c. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "partmalloc.h"
#include "partmalloc/slab.h"

/* Snapshots live in their own pages so taking one allocates nothing. */
#define MAX_CACHES 8192
struct snapshot {
    size_t count;
    struct pm_cache_stats caches[MAX_CACHES];
};

static struct snapshot *snapshot_new(void) {
    struct snapshot *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(s != MAP_FAILED);
    return s;
}

static void take(struct snapshot *s) {
    s->count = pm_stats_caches(s->caches, MAX_CACHES);
    cr_assert(s->count <= MAX_CACHES);
}

/* The cache called `name`, or an all-zero record if it is not listed. */
static struct pm_cache_stats find(const struct snapshot *s, const char *name) {
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->caches[i].name, name) == 0)
            return s->caches[i];
    struct pm_cache_stats none;
    memset(&none, 0, sizeof none);
    return none;
}

static const char *cache_of(const void *p) {
    static struct pm_ptr_info info;
    cr_assert(pm_ptr_info(p, &info));
    return info.cache_name;
}

Test(stats, counts_follow_allocations_and_frees) {
    struct snapshot *before = snapshot_new(), *after = snapshot_new(), *freed = snapshot_new();
    enum { N = 300 };
    void **objs = mmap(NULL, N * sizeof *objs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    objs[0] = pm_malloc_token(200, 5);
    char name[32];
    strcpy(name, cache_of(objs[0]));
    take(before);
    for (int i = 1; i < N; i++)
        objs[i] = pm_malloc_token(200, 5);
    take(after);
    for (int i = 0; i < 100; i++)
        pm_free(objs[i]);
    take(freed);
    struct pm_cache_stats b = find(before, name), a = find(after, name), f = find(freed, name);
    cr_assert_str_eq(a.name, name);
    cr_expect_eq(a.active_objs - b.active_objs, N - 1);
    cr_expect_eq(a.allocs - b.allocs, N - 1);
    cr_expect_eq(a.frees, b.frees);
    cr_expect_eq(a.active_objs - f.active_objs, 100);
    cr_expect_eq(f.frees - a.frees, 100);
    cr_expect_eq(f.allocs, a.allocs);
    cr_expect_eq(f.frees, f.allocs - f.active_objs);
    struct pm_ptr_info info;
    cr_assert_eq(pm_ptr_info(objs[N - 1], &info), 1);
    cr_expect_eq(a.object_size, info.object_size); /* not the usable size: under strict, the size asked for */
    cr_expect_eq(a.kind, PM_CACHE_KMALLOC);
    cr_expect_eq(a.partition, pm_token_partition(5));
    cr_expect_eq(a.objs_per_slab, a.pages_per_slab * 4096 / a.object_size);
    cr_expect_eq(a.total_objs, a.total_slabs * a.objs_per_slab);
    cr_expect_geq(a.total_objs, a.active_objs + a.cached_objs);
    cr_expect_leq(a.active_slabs, a.total_slabs);
    cr_expect_geq(a.active_slabs * a.objs_per_slab, a.active_objs);
    for (int i = 100; i < N; i++)
        pm_free(objs[i]);
}

struct thread_job {
    size_t token;
    void *objs[1000];
};

static void *allocate_in_thread(void *arg) {
    struct thread_job *job = arg;
    for (int i = 0; i < 1000; i++)
        job->objs[i] = pm_malloc_token(72, job->token);
    return NULL;
}

/* Threads that exit leave their counts behind: the sums stay exact. */
Test(stats, threads_counts_are_merged) {
    struct snapshot *before = snapshot_new(), *after = snapshot_new(), *freed = snapshot_new();
    static struct thread_job jobs[4];
    void *probe = pm_malloc_token(72, 3);
    char name[32];
    strcpy(name, cache_of(probe));
    pm_free(probe);
    take(before);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].token = 3;
        cr_assert_eq(pthread_create(&t[i], NULL, allocate_in_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    take(after);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 1000; j++)
            pm_free(jobs[i].objs[j]);
    take(freed);
    struct pm_cache_stats b = find(before, name), a = find(after, name), f = find(freed, name);
    cr_expect_eq(a.allocs - b.allocs, 4000);
    cr_expect_eq(a.active_objs - b.active_objs, 4000);
    cr_expect_eq(f.frees - a.frees, 4000);
    cr_expect_eq(f.active_objs, b.active_objs);
}

Test(stats, dedicated_and_bucket_caches_are_listed) {
    struct snapshot *s = snapshot_new();
    struct kmem_cache *cache = kmem_cache_create("stats_probe", 100, 0, 0, NULL);
    kmem_buckets *buckets = kmem_buckets_create("stats_bkt", 0, 0, 0, NULL);
    cr_assert_not_null(cache);
    cr_assert_not_null(buckets);
    void *objs[7], *from_buckets[3];
    for (int i = 0; i < 7; i++)
        objs[i] = kmem_cache_alloc(cache, 0);
    for (int i = 0; i < 3; i++)
        from_buckets[i] = kmem_buckets_alloc(buckets, 500, 0);
    take(s);
    struct pm_cache_stats c = find(s, "stats_probe"), b = find(s, "stats_bkt-512");
    cr_expect_eq(c.kind, PM_CACHE_DEDICATED);
    cr_expect_eq(c.active_objs, 7);
    cr_expect_eq(c.allocs, 7);
    cr_expect_geq(c.object_size, 100);
    cr_expect_eq(b.kind, PM_CACHE_BUCKET);
    cr_expect_eq(b.active_objs, 3);
    for (int i = 0; i < 7; i++)
        kmem_cache_free(cache, objs[i]);
    for (int i = 0; i < 3; i++)
        kfree(from_buckets[i]);
}

/* ---- formats, parsed back ---- */

/* Writes `format` into a memory file and returns its text (static buffer). */
static const char *render(enum pm_stats_format format) {
    static char text[1 << 20];
    int fd = memfd_create("stats", 0);
    cr_assert(fd >= 0);
    cr_assert_eq(pm_stats_write(fd, format), 0);
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    cr_assert(n > 0 && (size_t)n < sizeof text - 1);
    text[n] = '\0';
    close(fd);
    return text;
}

/* Keeps a few hundred objects live in several caches while formats render,
 * so no format is checked on empty numbers. */
static void *kept[600];
static void keep_some(void) {
    for (int i = 0; i < 600; i++)
        kept[i] = pm_malloc_token((size_t)(16 + (i % 6) * 90), (size_t)(i % 16));
}
static void release_some(void) {
    for (int i = 0; i < 600; i++)
        pm_free(kept[i]);
}

Test(stats, slabinfo_parses_back) {
    struct snapshot *s = snapshot_new();
    keep_some();
    take(s);
    const char *text = render(PM_STATS_SLABINFO);
    const char *line = text;
    cr_assert(strncmp(line, "slabinfo - version: 2.1\n", 24) == 0);
    line = strchr(line, '\n') + 1;
    static const char columns[] = "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
                                  " : tunables <limit> <batchcount> <sharedfactor>"
                                  " : slabdata <active_slabs> <num_slabs> <sharedavail>\n";
    cr_assert(strncmp(line, columns, sizeof columns - 1) == 0, "%.200s", line);
    line = strchr(line, '\n') + 1;
    size_t rows = 0;
    for (; *line; line = strchr(line, '\n') + 1, rows++) {
        char name[64];
        size_t active, total, size, per_slab, pages, active_slabs, slabs;
        unsigned limit, batch, shared, avail;
        cr_assert_eq(sscanf(line, "%63s %zu %zu %zu %zu %zu : tunables %u %u %u : slabdata %zu %zu %u", name, &active,
                            &total, &size, &per_slab, &pages, &limit, &batch, &shared, &active_slabs, &slabs, &avail),
                     12, "line: %.120s", line);
        cr_assert(rows < s->count);
        const struct pm_cache_stats *c = &s->caches[rows];
        cr_expect_str_eq(name, c->name);
        cr_expect_eq(active, c->active_objs, "%s", name);
        cr_expect_eq(total, c->total_objs, "%s", name);
        cr_expect_eq(size, c->object_size);
        cr_expect_eq(per_slab, c->objs_per_slab);
        cr_expect_eq(pages, c->pages_per_slab);
        cr_expect_eq(active_slabs, c->active_slabs, "%s", name);
        cr_expect_eq(slabs, c->total_slabs, "%s", name);
    }
    cr_expect_eq(rows, s->count);
    release_some();
}

static uint64_t json_u64(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    cr_assert(json_is_integer(v), "missing integer %s", key);
    return (uint64_t)json_integer_value(v);
}

Test(stats, json_parses_back) {
    struct snapshot *s = snapshot_new();
    keep_some();
    take(s);
    struct pm_large_stats large;
    pm_stats_large(&large);
    const char *text = render(PM_STATS_JSON);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    cr_assert_not_null(root, "JSON error line %d: %s", err.line, err.text);
    struct pm_config cfg;
    pm_get_config(&cfg);
    cr_expect_str_eq(json_string_value(json_object_get(root, "version")), PARTMALLOC_VERSION);
    cr_expect_eq(json_u64(root, "pid"), (uint64_t)getpid());
    cr_expect_eq(json_u64(root, "partitions"), cfg.partitions);
    cr_expect_str_eq(json_string_value(json_object_get(root, "mode")),
                     cfg.mode == PM_MODE_TYPED ? "typed" : cfg.mode == PM_MODE_RANDOM ? "random" : "none");
    json_t *caches = json_object_get(root, "caches");
    cr_assert(json_is_array(caches));
    cr_assert_eq(json_array_size(caches), s->count);
    for (size_t i = 0; i < s->count; i++) {
        json_t *c = json_array_get(caches, i);
        const struct pm_cache_stats *e = &s->caches[i];
        cr_expect_str_eq(json_string_value(json_object_get(c, "name")), e->name);
        cr_expect_eq(json_u64(c, "partition"), e->partition);
        cr_expect_eq(json_u64(c, "object_size"), e->object_size);
        cr_expect_eq(json_u64(c, "objs_per_slab"), e->objs_per_slab);
        cr_expect_eq(json_u64(c, "pages_per_slab"), e->pages_per_slab);
        cr_expect_eq(json_u64(c, "active_objs"), e->active_objs, "%s", e->name);
        cr_expect_eq(json_u64(c, "total_objs"), e->total_objs);
        cr_expect_eq(json_u64(c, "active_slabs"), e->active_slabs);
        cr_expect_eq(json_u64(c, "total_slabs"), e->total_slabs);
        cr_expect_eq(json_u64(c, "allocs"), e->allocs, "%s", e->name);
        cr_expect_eq(json_u64(c, "frees"), e->frees, "%s", e->name);
    }
    json_t *l = json_object_get(root, "large");
    cr_expect_eq(json_u64(l, "active_blocks"), large.active_blocks);
    cr_expect_eq(json_u64(l, "active_bytes"), large.active_bytes);
    cr_expect_eq(json_u64(l, "allocs"), large.allocs);
    json_decref(root);
    release_some();
}

/* Objects per kmalloc partition, from a snapshot. */
static void per_partition(const struct snapshot *s, uint64_t *objs) {
    memset(objs, 0, sizeof(uint64_t) * PARTMALLOC_MAX_PARTITIONS);
    for (size_t i = 0; i < s->count; i++)
        if (s->caches[i].kind == PM_CACHE_KMALLOC)
            objs[s->caches[i].partition] += s->caches[i].active_objs;
}

Test(stats, histogram_parses_back) {
    struct snapshot *s = snapshot_new();
    keep_some();
    take(s);
    const char *text = render(PM_STATS_HISTOGRAM);
    struct pm_config cfg;
    pm_get_config(&cfg);
    uint64_t expect[PARTMALLOC_MAX_PARTITIONS], most = 0;
    per_partition(s, expect);
    for (unsigned p = 0; p < cfg.partitions; p++)
        most = expect[p] > most ? expect[p] : most;
    const char *line = strchr(text, '\n') + 1;
    cr_assert(strncmp(line, "<slab cache>       <objs> <hist>\n", 33) == 0);
    line = strchr(line, '\n') + 1;
    for (unsigned row = 0; row < cfg.partitions; row++, line = strchr(line, '\n') + 1) {
        unsigned p = cfg.partitions - 1 - row;
        char name[32], bars[64] = "";
        unsigned long long objs;
        int fields = sscanf(line, "%31s %llu %63s", name, &objs, bars);
        cr_assert(fields >= 2, "line: %.80s", line);
        char want[32];
        if (p == 0)
            strcpy(want, "kmalloc");
        else
            snprintf(want, sizeof want, "kmalloc-part-%02u", p);
        cr_expect_str_eq(name, want);
        cr_expect_eq(objs, expect[p], "%s", name);
        size_t n = strspn(bars, "+");
        size_t want_bars = most ? (size_t)(expect[p] * 40 / most) : 0;
        cr_expect_eq(n, expect[p] && !want_bars ? 1 : want_bars, "%s", name);
    }
    /* The summary: one line per typed-mode group (typed_map.h), then where
     * calls without a token go. */
    if (cfg.mode == PM_MODE_TYPED && cfg.partitions >= 2) {
        static const enum pm_group order[] = {PM_GROUP_NO_POINTERS, PM_GROUP_POINTERS, PM_GROUP_UNKNOWN};
        static const char *const what[] = {"types without pointers", "types with pointers",
                                           "unknown types (0, void, >= max), by call site"};
        unsigned groups = cfg.partitions == 2 ? 2 : 3;
        for (unsigned g = 0; g < groups; g++, line = strchr(line, '\n') + 1) {
            struct pm_group_range r = cfg.groups[order[g]];
            uint64_t sum = 0;
            for (unsigned p = r.first; p < r.first + r.count; p++)
                sum += expect[p];
            char range[8], want[200];
            if (r.count > 1)
                snprintf(range, sizeof range, "%02u-%02u", r.first, r.first + r.count - 1);
            else
                snprintf(range, sizeof range, "%02u   ", r.first);
            snprintf(want, sizeof want, "  %10llu objects in %s %s%s\n", (unsigned long long)sum, range, what[g],
                     cfg.partitions == 2 && order[g] == PM_GROUP_POINTERS ? ", and unknown types" : "");
            cr_expect(strncmp(line, want, strlen(want)) == 0, "summary: %.120s, want %s", line, want);
        }
        const char *plain = cfg.plain_calls_unknown
                                ? "  calls without a token: with the unknowns (the program has tokens)\n"
                                : "  calls without a token: over all partitions (the program has no tokens)\n";
        cr_expect(strncmp(line, plain, strlen(plain)) == 0, "summary: %.120s, want %s", line, plain);
    }
    release_some();
}

/* The peaks: large blocks' count and bytes stay at their most after a
 * free; small objects' bytes live are the caches' live slots' bytes, and
 * the peak at least that. */
Test(stats, peaks_stay_after_frees) {
    struct pm_large_stats before, during, after;
    pm_stats_large(&before);
    enum { BLOCKS = 4, SIZE = 1200 * 1024 }; /* above the largest class */
    void *blocks[BLOCKS];
    for (int i = 0; i < BLOCKS; i++)
        cr_assert_not_null(blocks[i] = pm_malloc(SIZE));
    pm_stats_large(&during);
    for (int i = 0; i < BLOCKS; i++)
        pm_free(blocks[i]);
    pm_stats_large(&after);
    cr_expect_eq(during.active_blocks, before.active_blocks + BLOCKS);
    cr_expect_geq(during.peak_blocks, during.active_blocks);
    cr_expect_geq(during.peak_bytes, during.active_bytes);
    cr_expect_geq(during.active_bytes, before.active_bytes + BLOCKS * SIZE);
    cr_expect_eq(after.active_blocks, before.active_blocks);
    cr_expect_eq(after.peak_blocks, during.peak_blocks);
    cr_expect_eq(after.peak_bytes, during.peak_bytes);
    keep_some();
    struct pm_small_stats small;
    pm_stats_small(&small);
    static struct pm_cache_stats caches[8192];
    size_t n = pm_stats_caches(caches, 8192), live = 0;
    cr_assert_leq(n, 8192);
    for (size_t i = 0; i < n; i++) {
        live += caches[i].active_objs * caches[i].object_size;
        cr_expect_geq(caches[i].peak_objs, caches[i].active_objs + caches[i].cached_objs, "%s", caches[i].name);
    }
    cr_expect_eq(small.active_bytes, live);
    cr_expect_geq(small.peak_bytes, small.active_bytes);
    release_some();
}
