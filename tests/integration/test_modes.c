/* Call-site placement (modes random and typed without a token), mode none,
 * and the environment options' error handling. Runs the helpers
 * tests/helpers/sites (1024 call sites of pm_malloc, each called twice) and
 * tests/helpers/pm_config (prints the configuration) with chosen
 * environments and reads their stdout and stderr.
 */
#include "testutil.h" /* first: it defines _GNU_SOURCE */

#include <stdbool.h>
#include <stdint.h>

/* Runs helper `name` (under $BUILD/tests/helpers) with only `env` (NULL
 * terminated "NAME=value") as its PARTMALLOC_* settings. `fixed_layout`:
 * turn address-space randomization off for it (where the kernel lets us),
 * so two runs put the call sites at the same addresses. */
static struct run run_helper(const char *name, const char *const *env, bool fixed_layout) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/helpers/%s", build_dir(), name);
    cr_assert(access(path, X_OK) == 0, "%s is not built (make test-build)", path);
    const char *argv[] = {path, NULL};
    return run_env(argv, env, fixed_layout);
}

/* ---- the sites helper's output ---- */

enum { NSITES = 1024 };

struct sites {
    char config[128];     /* "config mode=... partitions=... token_max=..." */
    char base[64];        /* "base 0x..." */
    unsigned first[NSITES], second[NSITES];
};

static void run_sites(const char *const *env, bool fixed_layout, struct sites *s) {
    struct run r = run_helper("sites", env, fixed_layout);
    cr_assert_eq(exit_code(&r), 0, "sites exited %d: %s", exit_code(&r), r.err);
    cr_assert_str_empty(r.err, "sites wrote to stderr: %s", r.err);
    memset(s, 0, sizeof *s);
    int got = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        int k;
        unsigned a, b;
        if (strncmp(line, "config ", 7) == 0)
            snprintf(s->config, sizeof s->config, "%s", line);
        else if (strncmp(line, "base ", 5) == 0)
            snprintf(s->base, sizeof s->base, "%s", line);
        else if (sscanf(line, "site %d %u %u", &k, &a, &b) == 3 && k >= 0 && k < NSITES) {
            s->first[k] = a;
            s->second[k] = b;
            got++;
        }
    }
    cr_assert_eq(got, NSITES, "sites printed %d sites", got);
    run_free(&r);
}

static int sites_differing(const struct sites *a, const struct sites *b) {
    int d = 0;
    for (int k = 0; k < NSITES; k++)
        d += a->first[k] != b->first[k];
    return d;
}

static double chi_square(const struct sites *s, unsigned partitions) {
    unsigned count[64] = {0};
    for (int k = 0; k < NSITES; k++) {
        cr_assert_lt(s->first[k], partitions);
        count[s->first[k]]++;
    }
    double expected = (double)NSITES / partitions, stat = 0;
    for (unsigned p = 0; p < partitions; p++)
        stat += (count[p] - expected) * (count[p] - expected) / expected;
    return stat;
}

/* ---- random mode ---- */

Test(modes, random_same_site_same_partition) {
    const char *env[] = {"PARTMALLOC_MODE=random", NULL};
    static struct sites s;
    run_sites(env, false, &s);
    cr_expect_str_eq(s.config, "config mode=random partitions=16 token_max=0");
    for (int k = 0; k < NSITES; k++)
        cr_expect_eq(s.first[k], s.second[k], "site %d: partition %u then %u", k, s.first[k], s.second[k]);
}

/* Plain allocations in typed mode are placed the same way, by call site. */
Test(modes, typed_plain_malloc_by_call_site) {
    const char *env[] = {"PARTMALLOC_PARTITIONS=16", NULL};
    static struct sites s;
    run_sites(env, false, &s);
    cr_expect_str_eq(s.config, "config mode=typed partitions=16 token_max=0");
    for (int k = 0; k < NSITES; k++)
        cr_expect_eq(s.first[k], s.second[k], "site %d: partition %u then %u", k, s.first[k], s.second[k]);
    /* the evenness is random_spreads_sites_evenly_*'s business; here only
     * that the sites use every partition */
    unsigned used = 0;
    for (int k = 0; k < NSITES; k++)
        used |= 1u << s.first[k];
    cr_expect_eq(used, 0xffffu, "typed mode, 1024 plain call sites: partitions used %#x", used);
}

/* With the layout fixed, the seed alone decides: the same seed gives the
 * same placement, another seed moves most sites (15/16 expected). */
Test(modes, seed_decides_the_placement) {
    const char *seed1[] = {"PARTMALLOC_MODE=random", "PARTMALLOC_SEED=1", NULL};
    const char *seed2[] = {"PARTMALLOC_MODE=random", "PARTMALLOC_SEED=2", NULL};
    static struct sites a, b, c;
    run_sites(seed1, true, &a);
    run_sites(seed2, true, &b);
    run_sites(seed1, true, &c);
    if (strcmp(a.base, b.base) != 0 || strcmp(a.base, c.base) != 0)
        cr_log_warn("address-space randomization could not be turned off (%s, %s, %s): "
                    "only checking that the seeds differ",
                    a.base, b.base, c.base);
    else
        cr_expect_eq(sites_differing(&a, &c), 0, "PARTMALLOC_SEED=1 twice at the same addresses: %d sites moved",
                     sites_differing(&a, &c));
    int moved = sites_differing(&a, &b);
    cr_expect_gt(moved, NSITES * 3 / 4, "PARTMALLOC_SEED=1 vs 2: only %d of %d sites moved", moved, NSITES);
}

/* "0x" hexadecimal seeds are the same numbers as decimal ones. */
Test(modes, seed_accepts_hexadecimal) {
    const char *dec[] = {"PARTMALLOC_MODE=random", "PARTMALLOC_SEED=255", NULL};
    const char *hex[] = {"PARTMALLOC_MODE=random", "PARTMALLOC_SEED=0xfF", NULL};
    static struct sites a, b;
    run_sites(dec, true, &a);
    run_sites(hex, true, &b);
    if (strcmp(a.base, b.base) != 0) {
        cr_log_warn("address-space randomization could not be turned off; skipped");
        return;
    }
    cr_expect_eq(sites_differing(&a, &b), 0, "seed 255 and 0xfF place %d sites differently",
                 sites_differing(&a, &b));
}

/* Without a seed each run draws its own secret: even at the same
 * addresses two runs disagree on most sites. */
Test(modes, unseeded_runs_differ) {
    const char *env[] = {"PARTMALLOC_MODE=random", NULL};
    static struct sites a, b;
    run_sites(env, true, &a);
    run_sites(env, true, &b);
    int moved = sites_differing(&a, &b);
    cr_expect_gt(moved, NSITES * 3 / 4, "two unseeded runs (%s, %s): only %d of %d sites differ", a.base, b.base,
                 moved, NSITES);
}

/* 1024 sites over N partitions must look uniform: the chi-square statistic
 * stays below the 0.001 critical value (37.70 for 15 degrees of freedom,
 * 103.44 for 63). One run of a good hash exceeds it one time in a
 * thousand, so one run says little either way. Over 500 fresh secrets a
 * good hash exceeds it about 0.5 times, 6 or more times with probability
 * about 1e-5; a hash that is poor for a few percent of its secrets (the
 * addresses of 1024 small functions form a near arithmetic progression)
 * exceeds it 10 to 40 times. */
enum { SPREAD_RUNS = 500, SPREAD_MAX_OVER = 5 };

static void expect_even_spread(const char *partitions, unsigned n, double critical) {
    char env_parts[64];
    snprintf(env_parts, sizeof env_parts, "PARTMALLOC_PARTITIONS=%s", partitions);
    const char *env[] = {"PARTMALLOC_MODE=random", env_parts, NULL};
    int over = 0;
    double worst = 0, sum = 0;
    for (int round = 0; round < SPREAD_RUNS; round++) {
        static struct sites s;
        run_sites(env, false, &s);
        double stat = chi_square(&s, n);
        over += stat > critical;
        sum += stat;
        worst = stat > worst ? stat : worst;
    }
    if (over <= SPREAD_MAX_OVER)
        cr_log_info("N=%u: %d of %d runs above %.2f; mean chi-square %.1f (expected %u), worst %.1f", n, over,
                    SPREAD_RUNS, critical, sum / SPREAD_RUNS, n - 1, worst);
    cr_expect_leq(over, SPREAD_MAX_OVER,
                  "N=%u: %d of %d runs (fresh secrets, 1024 call sites) have a chi-square above the 0.001 "
                  "critical value %.2f (a uniform hash: about %.1f); mean %.1f (expected %u), worst %.1f",
                  n, over, SPREAD_RUNS, critical, SPREAD_RUNS * 0.001, sum / SPREAD_RUNS, n - 1, worst);
}

Test(modes, random_spreads_sites_evenly_16) { expect_even_spread("16", 16, 37.70); }
Test(modes, random_spreads_sites_evenly_64) { expect_even_spread("64", 64, 103.44); }

/* With 2 partitions both are used, near half each. */
Test(modes, random_two_partitions) {
    const char *env[] = {"PARTMALLOC_MODE=random", "PARTMALLOC_PARTITIONS=2", NULL};
    static struct sites s;
    run_sites(env, false, &s);
    cr_expect_str_eq(s.config, "config mode=random partitions=2 token_max=0");
    int upper = 0;
    for (int k = 0; k < NSITES; k++)
        upper += s.first[k] == 1;
    cr_expect(upper > 400 && upper < 624, "%d of 1024 sites in partition 1", upper);
}

/* ---- mode none, one partition ---- */

Test(modes, none_puts_every_site_in_partition_0) {
    const char *env[] = {"PARTMALLOC_MODE=none", "PARTMALLOC_PARTITIONS=32", NULL};
    static struct sites s;
    run_sites(env, false, &s);
    cr_expect_str_eq(s.config, "config mode=none partitions=1 token_max=0");
    for (int k = 0; k < NSITES; k++)
        cr_expect(s.first[k] == 0 && s.second[k] == 0, "site %d: partitions %u, %u", k, s.first[k], s.second[k]);
}

Test(modes, one_partition_puts_every_site_in_partition_0) {
    const char *env[] = {"PARTMALLOC_MODE=random", "PARTMALLOC_PARTITIONS=1", NULL};
    static struct sites s;
    run_sites(env, false, &s);
    cr_expect_str_eq(s.config, "config mode=random partitions=1 token_max=0");
    for (int k = 0; k < NSITES; k++)
        cr_expect(s.first[k] == 0 && s.second[k] == 0, "site %d: partitions %u, %u", k, s.first[k], s.second[k]);
}

/* ---- options ---- */

/* Runs pm_config with `env`; expects exactly `stderr_text` on stderr and
 * `config` on stdout. */
static void expect_config(const char *const *env, const char *stderr_text, const char *config) {
    struct run r = run_helper("pm_config", env, false);
    char what[256] = "";
    for (const char *const *e = env; *e; e++)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s ", *e);
    cr_expect_eq(exit_code(&r), 0, "%s: exit %d", what, exit_code(&r));
    cr_expect_str_eq(r.err, stderr_text, "%s: stderr", what);
    cr_expect_str_eq(r.out, config, "%s: config", what);
    run_free(&r);
}

#define DEFAULT_CONFIG "config mode=typed partitions=16 token_max=0\n"
#define BAD_MODE(v) "partmalloc: invalid PARTMALLOC_MODE='" v "' (accepted: typed, random, none); using typed\n"
#define BAD_PARTS(v)                                                                               \
    "partmalloc: invalid PARTMALLOC_PARTITIONS='" v "' (accepted: 1, 2, 4, 8, 16, 32, 64); using 16\n"
#define BAD_MAX(v)                                                                                 \
    "partmalloc: invalid PARTMALLOC_TOKEN_MAX='" v "' (accepted: the -falloc-token-max the program was built " \
    "with, 0 for none); using 0\n"
#define BAD_SEED(v)                                                                                \
    "partmalloc: invalid PARTMALLOC_SEED='" v "' (accepted: a decimal or 0x-hexadecimal 64-bit number); using a " \
    "random seed\n"

Test(options, defaults_print_nothing) {
    const char *env[] = {NULL};
    expect_config(env, "", DEFAULT_CONFIG);
}

Test(options, valid_values_print_nothing) {
    const char *env[] = {"PARTMALLOC_MODE=random", "PARTMALLOC_PARTITIONS=0x20", "PARTMALLOC_TOKEN_MAX=0x10",
                         "PARTMALLOC_SEED=0xdeadbeef", NULL};
    expect_config(env, "", "config mode=random partitions=32 token_max=16\n");
    const char *env2[] = {"PARTMALLOC_MODE=typed", "PARTMALLOC_PARTITIONS=64", "PARTMALLOC_TOKEN_MAX=18446744073709551615",
                          "PARTMALLOC_SEED=18446744073709551615", NULL};
    expect_config(env2, "", "config mode=typed partitions=64 token_max=0\n");
    const char *env3[] = {"PARTMALLOC_PARTITIONS=1", "PARTMALLOC_TOKEN_MAX=0", NULL};
    expect_config(env3, "", "config mode=typed partitions=1 token_max=0\n");
}

/* Each value of `option` is reported with `bad_format` (one %s for the
 * value) and the default configuration is used. */
static void expect_each_rejected(const char *option, const char *const *values, size_t n, const char *bad_format) {
    for (size_t i = 0; i < n; i++) {
        char env_v[128], want[256];
        snprintf(env_v, sizeof env_v, "%s=%s", option, values[i]);
        snprintf(want, sizeof want, bad_format, values[i]);
        const char *env[] = {env_v, NULL};
        expect_config(env, want, DEFAULT_CONFIG);
    }
}

Test(options, invalid_mode) {
    const char *env[] = {"PARTMALLOC_MODE=bogus", NULL};
    expect_config(env, BAD_MODE("bogus"), DEFAULT_CONFIG);
    const char *env2[] = {"PARTMALLOC_MODE=Random", NULL}; /* case matters */
    expect_config(env2, BAD_MODE("Random"), DEFAULT_CONFIG);
    const char *env3[] = {"PARTMALLOC_MODE=", NULL};
    expect_config(env3, BAD_MODE(""), DEFAULT_CONFIG);
}

Test(options, invalid_partitions) {
    static const char *const values[] = {"3", "128", "0", "", "16x", "-16", " 16", "1024", "99999999999999999999999"};
    expect_each_rejected("PARTMALLOC_PARTITIONS", values, sizeof values / sizeof values[0], BAD_PARTS("%s"));
    /* the other options still apply */
    const char *env[] = {"PARTMALLOC_PARTITIONS=3", "PARTMALLOC_MODE=random", NULL};
    expect_config(env, BAD_PARTS("3"), "config mode=random partitions=16 token_max=0\n");
}

Test(options, invalid_token_max) {
    static const char *const values[] = {"abc", "16abc", "0x", "-1", "18446744073709551616"};
    expect_each_rejected("PARTMALLOC_TOKEN_MAX", values, sizeof values / sizeof values[0], BAD_MAX("%s"));
}

Test(options, invalid_seed) {
    static const char *const values[] = {"xyz", "12z", "0xg", ""};
    expect_each_rejected("PARTMALLOC_SEED", values, sizeof values / sizeof values[0], BAD_SEED("%s"));
}

#define BAD_REGION(v)                                                                              \
    "partmalloc: invalid PARTMALLOC_REGION_SIZE='" v "' (accepted: a power of two from 1M to 64G, as bytes or " \
    "with K, M or G); using the largest the address space allows\n"

Test(options, invalid_region_size) {
    static const char *const values[] = {"3M", "512K", "128G", "1m5", "0", "", "M", "1048575", "-1M",
                                         "99999999999999999999G"};
    expect_each_rejected("PARTMALLOC_REGION_SIZE", values, sizeof values / sizeof values[0], BAD_REGION("%s"));
    const char *env[] = {"PARTMALLOC_REGION_SIZE=1048576", NULL};
    expect_config(env, "", DEFAULT_CONFIG);
    const char *env2[] = {"PARTMALLOC_REGION_SIZE=4g", NULL};
    expect_config(env2, "", DEFAULT_CONFIG);
}

/* The fallback for a bad seed really is a random one: two runs at the same
 * addresses place the sites differently. */
Test(options, invalid_seed_falls_back_to_a_random_seed) {
    const char *env[] = {"PARTMALLOC_MODE=random", "PARTMALLOC_SEED=xyz", NULL};
    static struct sites a, b;
    struct run r = run_helper("sites", env, true);
    cr_expect_str_eq(r.err, BAD_SEED("xyz"));
    run_free(&r);
    /* run_sites insists on an empty stderr; compare by hand */
    r = run_helper("sites", env, true);
    struct run r2 = run_helper("sites", env, true);
    cr_assert_eq(exit_code(&r), 0);
    cr_assert_eq(exit_code(&r2), 0);
    int na = 0, nb = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        int k;
        unsigned x, y;
        if (sscanf(line, "site %d %u %u", &k, &x, &y) == 3 && k >= 0 && k < NSITES)
            a.first[k] = x, na++;
    }
    for (char *line = strtok(r2.out, "\n"); line; line = strtok(NULL, "\n")) {
        int k;
        unsigned x, y;
        if (sscanf(line, "site %d %u %u", &k, &x, &y) == 3 && k >= 0 && k < NSITES)
            b.first[k] = x, nb++;
    }
    cr_assert(na == NSITES && nb == NSITES);
    int moved = sites_differing(&a, &b);
    cr_expect_gt(moved, NSITES * 3 / 4, "PARTMALLOC_SEED=xyz twice: only %d sites differ", moved);
    run_free(&r);
    run_free(&r2);
}

/* Each bad option is reported on its own single line (in any order). */
Test(options, several_invalid_options_one_line_each) {
    const char *env[] = {"PARTMALLOC_MODE=bogus", "PARTMALLOC_PARTITIONS=128", "PARTMALLOC_TOKEN_MAX=abc",
                         "PARTMALLOC_SEED=xyz", NULL};
    struct run r = run_helper("pm_config", env, false);
    cr_expect_eq(exit_code(&r), 0);
    cr_expect_str_eq(r.out, DEFAULT_CONFIG);
    static const char *const lines[] = {BAD_MODE("bogus"), BAD_PARTS("128"), BAD_MAX("abc"), BAD_SEED("xyz")};
    size_t total = 0;
    for (int i = 0; i < 4; i++) {
        const char *at = strstr(r.err, lines[i]);
        cr_expect(at && (at == r.err || at[-1] == '\n'), "missing: %s in:\n%s", lines[i], r.err);
        total += strlen(lines[i]);
    }
    cr_expect_eq(strlen(r.err), total, "stderr has more than the four lines:\n%s", r.err);
    run_free(&r);
}

/* One call site, one size class, 16 GiB live: the cache takes region after
 * region (4 GiB each with N = 16, 1 GiB with N = 64), all its own. */
Test(options, one_cache_grows_past_its_region) {
    const char *ns[] = {"16", "64"};
    for (int i = 0; i < 2; i++) {
        char path[512], env_n[64], want[64];
        snprintf(path, sizeof path, "%s/tests/helpers/one_cache_capacity", build_dir());
        snprintf(env_n, sizeof env_n, "PARTMALLOC_PARTITIONS=%s", ns[i]);
        const char *argv[] = {path, "16", NULL};
        const char *env[] = {env_n, NULL};
        struct run r = run_env(argv, env, false);
        cr_expect_eq(exit_code(&r), 0, "N=%s:\n%s%s", ns[i], r.out, r.err);
        snprintf(want, sizeof want, "capacity N=%s region=%s live=16 ", ns[i], i == 0 ? "4096" : "1024");
        cr_expect(strstr(r.out, want) != NULL, "N=%s: %s", ns[i], r.out);
        run_free(&r);
    }
}
