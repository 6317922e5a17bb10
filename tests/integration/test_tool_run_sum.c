/* partmalloc run --processes sum: tests/tools/spawner keeps 100 nodes and
 * starts K copies of itself, child i keeping i * 100 nodes and one 2 MiB
 * block. The sum holds every process's counts, exactly those of the
 * processes' own dumps added up; without the option only the program's show;
 * a child with other partitions gets a sum of its own. */
#include "testutil.h"
#include "typed_map.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>

#define CHILDREN 3
#define NODES_OF_MAIN 100
/* 100 + 100 + 200 + 300 */
#define NODES_IN_ALL (NODES_OF_MAIN + 100 * CHILDREN * (CHILDREN + 1) / 2)

static const char *tool(void) { return build_path("partmalloc"); }
static const char *spawner(void) { return build_path("tests/tools/spawner"); }

static const char sum_heading[] =
    "partmalloc run: the sum of 4 processes (the program and those it started): counts are totals; peaks are the "
    "sum of each process's peak, an upper bound on the peak at any one moment\n";

/* The node's partition among n, by the library's rule (full 64-bit tokens:
 * partmalloc cc sets no -falloc-token-max). */
static unsigned node_partition(uint64_t token, unsigned n) {
    const uint64_t half = UINT64_MAX / 2;
    return pm_typed_partition_of(token, UINT64_MAX, half, pm_void_token(half), n);
}

static uint64_t token_of(const struct run *r) {
    unsigned long long token;
    cr_assert_eq(sscanf(r->out, "token %llu", &token), 1, "%s", r->out);
    return token;
}

/* The count on the histogram line of partition p, the first after `from`. */
static long partition_count(const char *from, unsigned p) {
    char name[32];
    if (p == 0)
        snprintf(name, sizeof name, "\nkmalloc ");
    else
        snprintf(name, sizeof name, "\nkmalloc-part-%02u ", p);
    const char *l = strstr(from, name);
    cr_assert_not_null(l, "no line %s in\n%s", name + 1, from);
    long n;
    cr_assert_eq(sscanf(l + strlen(name), "%ld", &n), 1, "%s", l);
    return n;
}

static struct run run_spawner(const char *processes, const char *stats, const char *mixed) {
    const char *argv[10] = {tool(), "run"};
    int n = 2;
    if (processes) {
        argv[n++] = "--processes";
        argv[n++] = processes;
    }
    if (stats) {
        argv[n++] = "--stats";
        argv[n++] = stats;
    }
    argv[n++] = "--";
    argv[n++] = spawner();
    argv[n++] = "3";
    argv[n++] = mixed;
    struct run r = run_env(argv, (const char *[]){NULL}, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    return r;
}

Test(tool_run_sum, histogram_counts_every_process) {
    struct run r = run_spawner("sum", NULL, NULL);
    uint64_t token = token_of(&r);
    cr_assert(strncmp(r.err, sum_heading, strlen(sum_heading)) == 0, "%s", r.err);
    const char header[] = "partmalloc: typed mode, 16 partitions, token max none\n"; /* no pid: no one process */
    cr_expect(strncmp(r.err + strlen(sum_heading), header, strlen(header)) == 0, "%s", r.err);
    cr_expect_eq(partition_count(r.err, node_partition(token, 16)), NODES_IN_ALL, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "++ node"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "large blocks: 3 live, 6.0 MiB (peak 3, 6.0 MiB), 3 allocated\n"), "%s", r.err);
    cr_expect_null(strstr(r.err, "not shown"), "%s", r.err);
    run_free(&r);
}

/* The control: the default shows the program alone, and says how to see the rest. */
Test(tool_run_sum, without_it_only_the_program_shows) {
    for (int explicit = 0; explicit < 2; explicit++) {
        struct run r = run_spawner(explicit ? "main" : NULL, NULL, NULL);
        uint64_t token = token_of(&r);
        cr_expect_eq(partition_count(r.err, node_partition(token, 16)), NODES_OF_MAIN, "%s", r.err);
        cr_expect_not_null(strstr(r.err, "large blocks: 0 live, 0 B (peak 0, 0 B), 0 allocated\n"), "%s", r.err);
        cr_expect_not_null(strstr(r.err, "\npartmalloc run: 3 other processes started by the program also ran on "
                                         "partmalloc (not shown: --processes sum adds them in)\n"),
                           "%s", r.err);
        cr_expect_null(strstr(r.err, "the sum of"), "%s", r.err);
        run_free(&r);
    }
}

/* What is compared between the sum and the dumps added up. Allocations
 * without a token go to a partition chosen by a per-process key, so caches
 * are compared by object size; the node's by its partition and token. */
struct totals {
    uint64_t allocs_by_size[8192], active_by_size[8192];
    uint64_t node_allocs, node_census;
    uint64_t large_allocs, large_active_bytes, large_peak_bytes, small_active_bytes;
};

static void add_totals(json_t *root, uint64_t token, struct totals *t) {
    cr_assert_not_null(root);
    unsigned part = node_partition(token, 16);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "caches"), i, c) {
        json_int_t size = json_integer_value(json_object_get(c, "object_size"));
        uint64_t allocs = (uint64_t)json_integer_value(json_object_get(c, "allocs"));
        cr_assert(size > 0 && size < 8192, "object_size %lld", (long long)size);
        t->allocs_by_size[size] += allocs;
        t->active_by_size[size] += (uint64_t)json_integer_value(json_object_get(c, "active_objs"));
        if (json_integer_value(json_object_get(c, "partition")) == part && size == 16)
            t->node_allocs += allocs;
    }
    json_t *e;
    char want[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)token);
    json_array_foreach(json_object_get(root, "census"), i, e) {
        const char *tok = json_string_value(json_object_get(e, "token"));
        if (tok && strcmp(tok, want) == 0)
            t->node_census += (uint64_t)json_integer_value(json_object_get(e, "allocs"));
    }
    json_t *large = json_object_get(root, "large"), *small = json_object_get(root, "small");
    t->large_allocs += (uint64_t)json_integer_value(json_object_get(large, "allocs"));
    t->large_active_bytes += (uint64_t)json_integer_value(json_object_get(large, "active_bytes"));
    t->large_peak_bytes += (uint64_t)json_integer_value(json_object_get(large, "peak_bytes"));
    t->small_active_bytes += (uint64_t)json_integer_value(json_object_get(small, "active_bytes"));
}

/* The spawner run with the counting library preloaded, each process's
 * dump in a directory of its own, the dumps added up here. */
static size_t totals_of_own_dumps(struct totals *t) {
    char dir[] = "/tmp/pmsumXXXXXX", stats[600], lib[600];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(stats, sizeof stats, "PARTMALLOC_STATS=%s/stats-%%p.json,json", dir);
    snprintf(lib, sizeof lib, "LD_PRELOAD=%s", build_path("stats/libpartmalloc.so"));
    const char *argv[] = {spawner(), "3", NULL};
    struct run r = run_env(argv, (const char *[]){lib, stats, NULL}, false);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    uint64_t token = token_of(&r);
    run_free(&r);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t dumps = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "stats-", 6) != 0)
            continue;
        char path[900];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_error_t err;
        json_t *root = json_load_file(path, 0, &err);
        cr_assert_not_null(root, "%s: %s", path, err.text);
        add_totals(root, token, t);
        json_decref(root);
        dumps++;
    }
    closedir(d);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    return dumps;
}

Test(tool_run_sum, json_sum_equals_the_dumps_added_up) {
    struct run r = run_spawner("sum", "json", NULL);
    uint64_t token = token_of(&r);
    json_error_t err;
    json_t *root = json_loads(r.err, 0, &err);
    cr_assert_not_null(root, "%s: %s", err.text, r.err);
    cr_expect_eq(json_integer_value(json_object_get(root, "pid")), 0);
    static struct totals summed, added;
    memset(&summed, 0, sizeof summed);
    memset(&added, 0, sizeof added);
    add_totals(root, token, &summed);
    json_decref(root);
    run_free(&r);
    cr_expect_eq(summed.node_census, NODES_IN_ALL);
    cr_expect_eq(summed.node_allocs, NODES_IN_ALL);
    cr_expect_eq(summed.large_allocs, CHILDREN);
    cr_expect_eq(summed.large_active_bytes, CHILDREN << 21);
    cr_expect_eq(summed.large_peak_bytes, CHILDREN << 21); /* the peaks added up */
    cr_assert_eq(totals_of_own_dumps(&added), 1 + CHILDREN);
    cr_expect_eq(summed.node_census, added.node_census);
    cr_expect_eq(summed.node_allocs, added.node_allocs);
    cr_expect_eq(summed.large_allocs, added.large_allocs);
    cr_expect_eq(summed.large_active_bytes, added.large_active_bytes);
    cr_expect_eq(summed.large_peak_bytes, added.large_peak_bytes);
    cr_expect_eq(summed.small_active_bytes, added.small_active_bytes);
    for (size_t size = 0; size < 8192; size++) {
        cr_expect_eq(summed.allocs_by_size[size], added.allocs_by_size[size], "allocations of %zu bytes", size);
        cr_expect_eq(summed.active_by_size[size], added.active_by_size[size], "live objects of %zu bytes", size);
    }
}

/* The last child runs with 4 partitions: two sums, the second named by
 * the field it differs in, each holding its own processes' nodes. */
Test(tool_run_sum, other_partitions_get_a_sum_of_their_own) {
    struct run r = run_spawner("sum", NULL, "mixed");
    uint64_t token = token_of(&r);
    const char first[] = "partmalloc run: the 4 processes ran in 2 configurations, not summed together: one sum for each\n"
                         "partmalloc run: the sum of 3 processes (the program and those it started): counts are totals; "
                         "peaks are the sum of each process's peak, an upper bound on the peak at any one moment\n"
                         "partmalloc: typed mode, 16 partitions, token max none\n";
    cr_assert(strncmp(r.err, first, strlen(first)) == 0, "%s", r.err);
    cr_expect_eq(partition_count(r.err, node_partition(token, 16)), NODES_IN_ALL - 100 * CHILDREN, "%s", r.err);
    const char second[] = "\npartmalloc run: the sum of 1 process started by the program: counts are totals; peaks are "
                          "the sum of each process's peak, an upper bound on the peak at any one moment; they differ "
                          "from the first sum in partitions\n"
                          "partmalloc: typed mode, 4 partitions, token max none\n";
    const char *at = strstr(r.err, second);
    cr_assert_not_null(at, "%s", r.err);
    cr_expect_eq(partition_count(at, node_partition(token, 4)), 100 * CHILDREN, "%s", at);
    cr_expect_null(strstr(at + strlen(second), "partmalloc run: the sum of"), "a third sum:\n%s", r.err);
    run_free(&r);
}
