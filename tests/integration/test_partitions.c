/* What the partitions guarantee, with real types: runs the programs in
 * tests/partitions/ (built with clang-22 -fsanitize=alloc-token
 * -falloc-token-max=16, so each malloc(sizeof(struct T)) carries T's
 * token) under chosen modes and presets, and judges the counts they print.
 *
 *   layout       a pointer-free `struct blob_N` and a pointer-holding
 *                `struct victim_N` of the same size class: pages shared,
 *                a linear overflow from blobs against victims' checksums,
 *                a spray of a million of each for adjacency
 *   site_search  random mode: blobs from 256 call sites against victims
 *                from one, the attacker's search for a shared cache
 *
 * Each typed-mode check has a control run in mode none (one partition),
 * where the same program must see the sharing it is looking for: the
 * checks can fail.
 */
#include "testutil.h" /* first: it defines _GNU_SOURCE */

#include <math.h>
#include <stdint.h>

/* ---- running the programs ---- */

static struct run run_program(const char *name, const char *mode, const char *harden, const char *seed,
                              bool fixed_layout, const char *const *args) {
    const struct setting settings[] = {{"MODE", mode}, {"HARDEN", harden}, {"SEED", seed}, {NULL, NULL}};
    struct run r = run_built("tests/partitions", name, args, settings, fixed_layout);
    cr_assert_eq(exit_code(&r), 0, "%s %s (mode %s, harden %s): exit %d\n%s%s", name, args && args[0] ? args[0] : "",
                 mode ? mode : "typed", harden ? harden : "default", exit_code(&r), r.out, r.err);
    cr_assert_str_empty(r.err, "%s wrote to stderr: %s", name, r.err);
    char want[64];
    snprintf(want, sizeof want, "config mode=%s partitions=%s token_max=16\n", mode ? mode : "typed",
             mode && strcmp(mode, "none") == 0 ? "1" : "16");
    cr_assert(strncmp(r.out, want, strlen(want)) == 0, "%s: first line is not '%.*s': %.200s", name,
              (int)strlen(want) - 1, want, r.out);
    return r;
}

static struct run run_layout(const char *section, const char *mode, const char *harden) {
    const char *args[] = {section, NULL};
    return run_program("layout", mode, harden, NULL, false, args);
}

/* The next line of `text` after *pos that starts with `prefix` (copied into
 * `line`), advancing *pos; 0 when there is none. */
static int next_line(const char *text, const char **pos, const char *prefix, char *line, size_t size) {
    size_t plen = strlen(prefix);
    for (const char *s = *pos ? *pos : text; *s;) {
        const char *end = strchr(s, '\n');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *next = end ? end + 1 : s + len;
        if (len >= plen && strncmp(s, prefix, plen) == 0) {
            size_t n = len < size - 1 ? len : size - 1;
            memcpy(line, s, n);
            line[n] = '\0';
            *pos = next;
            return 1;
        }
        s = next;
    }
    *pos = text + strlen(text);
    return 0;
}

/* The size at the end of a kmalloc cache's name. */
static unsigned long name_size(const char *cache) {
    const char *dash = strrchr(cache, '-');
    return dash ? strtoul(dash + 1, NULL, 10) : 0;
}

/* ---- layout: pages ---- */

struct pages_line {
    size_t size, blobs, victims, blob_pages, victim_pages, shared;
    char blob_cache[32], victim_cache[32];
    unsigned blob_part, victim_part;
};

static int read_pages(const struct run *r, struct pages_line out[8]) {
    const char *pos = NULL, *tpos = NULL;
    char line[512], types[256];
    int n = 0;
    while (n < 8 && next_line(r->out, &pos, "pages ", line, sizeof line)) {
        struct pages_line *p = &out[n];
        cr_assert_eq(sscanf(line, "pages %zu blobs %zu victims %zu blob_pages %zu victim_pages %zu shared %zu "
                                  "blob_cache %31s victim_cache %31s",
                            &p->size, &p->blobs, &p->victims, &p->blob_pages, &p->victim_pages, &p->shared,
                            p->blob_cache, p->victim_cache),
                     8, "%s", line);
        size_t tsize;
        cr_assert(next_line(r->out, &tpos, "types ", types, sizeof types));
        cr_assert_eq(sscanf(types, "types %zu blob_partition %u victim_partition %u", &tsize, &p->blob_part,
                            &p->victim_part),
                     3, "%s", types);
        cr_assert_eq(tsize, p->size);
        n++;
    }
    return n;
}

static const size_t page_sizes[] = {32, 48, 64, 128, 256, 512};
#define N_PAGE_SIZES (sizeof page_sizes / sizeof page_sizes[0])

/* 100000 objects of each kind for each size: not one page holds both. The
 * blobs are in the lower half of the 16 partitions, the victims in the
 * upper half, each kind's cache of the same object size. Without the
 * guards (off) the same holds: it is the partitions that separate them. */
Test(partitions, pointer_free_and_pointer_holding_never_share_a_page) {
    const char *presets[] = {NULL, "off"};
    for (int h = 0; h < 2; h++) {
        const char *preset = presets[h] ? presets[h] : "default";
        struct run r = run_layout("pages", NULL, presets[h]);
        struct pages_line p[8];
        cr_assert_eq(read_pages(&r, p), (int)N_PAGE_SIZES, "%s", r.out);
        for (size_t i = 0; i < N_PAGE_SIZES; i++) {
            cr_expect_eq(p[i].size, page_sizes[i]);
            cr_expect(p[i].blobs == 100000 && p[i].victims == 100000);
            cr_expect_eq(p[i].shared, 0, "%s, %zu bytes: %zu pages hold both kinds", preset, p[i].size, p[i].shared);
            cr_expect_lt(p[i].blob_part, 8, "%s, %zu bytes: blobs in partition %u", preset, p[i].size,
                         p[i].blob_part);
            cr_expect(p[i].victim_part >= 8 && p[i].victim_part < 16, "%s, %zu bytes: victims in partition %u",
                      preset, p[i].size, p[i].victim_part);
            cr_expect_eq(name_size(p[i].blob_cache), name_size(p[i].victim_cache), "%s / %s", p[i].blob_cache,
                         p[i].victim_cache);
            cr_expect_eq(name_size(p[i].blob_cache), p[i].size, "%s", p[i].blob_cache);
            /* 100000 objects fill at least this many pages */
            cr_expect_geq(p[i].blob_pages, 100000 * p[i].size / 4096);
            cr_expect_geq(p[i].victim_pages, 100000 * p[i].size / 4096);
        }
        run_free(&r);
    }
}

/* Control: with one partition the same program finds the kinds mixed on
 * nearly every page. */
Test(partitions, control_one_partition_mixes_the_pages) {
    struct run r = run_layout("pages", "none", NULL);
    struct pages_line p[8];
    cr_assert_eq(read_pages(&r, p), (int)N_PAGE_SIZES, "%s", r.out);
    for (size_t i = 0; i < N_PAGE_SIZES; i++) {
        cr_expect_str_eq(p[i].blob_cache, p[i].victim_cache);
        cr_expect_gt(p[i].shared, p[i].blob_pages / 2, "mode none, %zu bytes: only %zu shared pages of %zu",
                     p[i].size, p[i].shared, p[i].blob_pages);
    }
    run_free(&r);
}

/* ---- layout: a linear overflow ---- */

struct overflow_result {
    int trials, intact, faulted, lines, damaged_lines, limit_lines;
};

static struct overflow_result read_overflow(const struct run *r) {
    struct overflow_result o = {0};
    const char *pos = NULL;
    char line[256];
    while (next_line(r->out, &pos, "overflow ", line, sizeof line)) {
        int t;
        char which[32], by[16];
        size_t wrote, damaged;
        if (sscanf(line, "overflow trials %d intact %d faulted %d", &o.trials, &o.intact, &o.faulted) == 3)
            continue;
        cr_assert_eq(sscanf(line, "overflow %d from %31s wrote %zu by %15s damaged %zu", &t, which, &wrote, by,
                            &damaged),
                     5, "%s", line);
        cr_expect(strcmp(by, "limit") == 0 ? wrote == 65536 : wrote < 65536, "%s", line);
        o.lines++;
        o.damaged_lines += damaged != 0;
        o.limit_lines += strcmp(by, "limit") == 0;
    }
    cr_assert_gt(o.trials, 0, "no overflow summary: %s", r->out);
    cr_expect_eq(o.lines, o.trials);
    return o;
}

/* Up to 64 KiB written forward from a blob (the highest, the lowest, the
 * last of runs of adjacent blobs, random ones), each in a child process
 * until SIGSEGV or the 64 KiB: every victim's contents stay as they were.
 * In the default preset many writes run the whole 64 KiB (through free
 * and unallocated slots of the blobs' own cache) and the ones from a
 * blob before a group guard stop there; with strict's guard after every
 * 16 KiB slab every write stops; with off none does until the blobs'
 * committed memory ends. */
Test(partitions, linear_overflow_from_a_blob_never_reaches_a_victim) {
    const char *presets[] = {NULL, "off", "strict"};
    for (int h = 0; h < 3; h++) {
        const char *preset = presets[h] ? presets[h] : "default";
        struct run r = run_layout("overflow", NULL, presets[h]);
        struct overflow_result o = read_overflow(&r);
        cr_expect_geq(o.trials, 14, "%s: %d trials", preset, o.trials);
        cr_expect_eq(o.intact, o.trials, "%s: victims damaged in %d of %d trials\n%s", preset, o.trials - o.intact,
                     o.trials, r.out);
        cr_expect_eq(o.damaged_lines, 0, "%s", preset);
        if (h == 0)
            cr_expect_gt(o.limit_lines, 0, "default: no write ran its 64 KiB: %s", r.out);
        if (h == 2)
            cr_expect_eq(o.faulted, o.trials, "strict: a 64 KiB write crossed no slab guard: %s", r.out);
        run_free(&r);
    }
}

Test(partitions, control_one_partition_overflow_reaches_victims) {
    struct run r = run_layout("overflow", "none", NULL);
    struct overflow_result o = read_overflow(&r);
    cr_expect_lt(o.intact, o.trials, "mode none: no overflow damaged a victim: %s", r.out);
    run_free(&r);
}

/* ---- layout: a spray ---- */

struct spray_result {
    size_t blobs, victims, adjacent;
    char blob_parts[256], victim_parts[256];
};

static struct spray_result read_spray(const struct run *r) {
    struct spray_result s;
    const char *pos = NULL;
    char line[1024];
    cr_assert(next_line(r->out, &pos, "spray ", line, sizeof line), "%s", r->out);
    cr_assert_eq(sscanf(line, "spray blobs %zu victims %zu adjacent %zu blob_partitions %255s victim_partitions %255s",
                        &s.blobs, &s.victims, &s.adjacent, s.blob_parts, s.victim_parts),
                 5, "%s", line);
    return s;
}

/* A million 32-byte blobs and a million 32-byte victims, allocated in
 * turn: no blob starts right after or right before a victim. Each kind is
 * in one partition, the blobs' in the lower half. */
Test(partitions, spray_never_places_a_blob_next_to_a_victim) {
    struct run r = run_layout("spray", NULL, NULL);
    struct spray_result s = read_spray(&r);
    cr_expect(s.blobs == 1000000 && s.victims == 1000000);
    cr_expect_eq(s.adjacent, 0, "%zu blobs are adjacent to a victim", s.adjacent);
    unsigned bp = 99, vp = 99;
    cr_expect_eq(sscanf(s.blob_parts, "{%u}", &bp), 1, "blobs in partitions %s", s.blob_parts);
    cr_expect_eq(sscanf(s.victim_parts, "{%u}", &vp), 1, "victims in partitions %s", s.victim_parts);
    cr_expect_lt(bp, 8);
    cr_expect(vp >= 8 && vp < 16, "victims in partition %u", vp);
    run_free(&r);
}

Test(partitions, control_one_partition_spray_is_adjacent) {
    struct run r = run_layout("spray", "none", NULL);
    struct spray_result s = read_spray(&r);
    cr_expect_gt(s.adjacent, 100000, "mode none: only %zu adjacent", s.adjacent);
    cr_expect_str_eq(s.blob_parts, "{0}");
    cr_expect_str_eq(s.victim_parts, "{0}");
    run_free(&r);
}

/* ---- site_search ---- */

enum { NSITES = 256 };

struct search {
    char base[64];
    unsigned victim_part;
    char victim_cache[32];
    unsigned part[NSITES];
    int shares_cache[NSITES], shares_page[NSITES];
    int colliding, first_hit;
    char sites[NSITES * 5];
    int mismatches;
    size_t foreign_pages;
    unsigned counts[64];
    int ncounts;
};

static void run_search(const char *mode, const char *seed, bool fixed_layout, struct search *s) {
    struct run r = run_program("site_search", mode, NULL, seed, fixed_layout, NULL);
    memset(s, 0, sizeof *s);
    static char line[4096];
    const char *pos = NULL;
    cr_assert(next_line(r.out, &pos, "base ", line, sizeof line));
    snprintf(s->base, sizeof s->base, "%.63s", line);
    pos = NULL;
    cr_assert(next_line(r.out, &pos, "victims ", line, sizeof line));
    cr_assert_eq(sscanf(line, "victims partition %u cache %31s", &s->victim_part, s->victim_cache), 2, "%s", line);
    pos = NULL;
    int got = 0;
    while (next_line(r.out, &pos, "site ", line, sizeof line)) {
        int k, sc, sp;
        unsigned p;
        cr_assert_eq(sscanf(line, "site %d partition %u shares_cache %d shares_page %d", &k, &p, &sc, &sp), 4, "%s",
                     line);
        cr_assert(k >= 0 && k < NSITES);
        s->part[k] = p, s->shares_cache[k] = sc, s->shares_page[k] = sp;
        got++;
    }
    cr_assert_eq(got, NSITES, "%d site lines", got);
    pos = NULL;
    cr_assert(next_line(r.out, &pos, "colliding ", line, sizeof line));
    cr_assert_eq(sscanf(line, "colliding %d first_hit %d sites %1279s", &s->colliding, &s->first_hit, s->sites), 3,
                 "%s", line);
    pos = NULL;
    cr_assert(next_line(r.out, &pos, "mismatches ", line, sizeof line));
    cr_assert_eq(sscanf(line, "mismatches %d", &s->mismatches), 1);
    pos = NULL;
    cr_assert(next_line(r.out, &pos, "foreign_pages ", line, sizeof line));
    cr_assert_eq(sscanf(line, "foreign_pages %zu", &s->foreign_pages), 1);
    pos = NULL;
    cr_assert(next_line(r.out, &pos, "partition_counts ", line, sizeof line));
    for (char *t = line + strlen("partition_counts "), *end; s->ncounts < 64; t = end + 1) {
        s->counts[s->ncounts++] = (unsigned)strtoul(t, &end, 10);
        if (*end != ',')
            break;
    }
    run_free(&r);
}

/* The search's outcome, whatever the mode: a blob shares the victims'
 * cache exactly when its site's partition is theirs (the program counts
 * disagreements per object in `mismatches`), and no blob of another
 * partition is ever on a page with a victim. */
static void expect_consistent(const struct search *s, const char *label) {
    cr_expect_eq(s->mismatches, 0, "%s: %d objects disagree with their partition", label, s->mismatches);
    cr_expect_eq(s->foreign_pages, 0, "%s: %zu blobs of another partition on a victim's page", label,
                 s->foreign_pages);
    int colliding = 0, first = -1;
    unsigned total = 0;
    for (int k = 0; k < NSITES; k++) {
        int same = s->part[k] == s->victim_part;
        cr_expect_eq(s->shares_cache[k], same, "%s: site %d (partition %u, victims %u) shares_cache %d", label, k,
                     s->part[k], s->victim_part, s->shares_cache[k]);
        if (!same)
            cr_expect_eq(s->shares_page[k], 0, "%s: site %d", label, k);
        colliding += same;
        if (same && first < 0)
            first = k;
    }
    for (int p = 0; p < s->ncounts; p++)
        total += s->counts[p];
    cr_expect_eq(total, NSITES, "%s: partition counts", label);
    cr_expect_eq(s->colliding, colliding, "%s", label);
    cr_expect_eq(s->first_hit, first, "%s", label);
    if (s->victim_part < (unsigned)s->ncounts)
        cr_expect_eq(s->counts[s->victim_part], (unsigned)colliding, "%s", label);
}

/* Random mode: the search succeeds at the sites whose partition is the
 * victims' and at no other; their number is binomial(256, 1/16): 16 on
 * average, standard deviation 3.9; accepted within 4.5 of them. A blob
 * from a colliding site does land on the victims' pages (the attack works
 * inside the partition). */
Test(partitions, random_mode_search_succeeds_only_within_the_partition) {
    const double mean = 256.0 / 16, sd = sqrt(256.0 * (1.0 / 16) * (15.0 / 16));
    const char *seeds[] = {"1", "2", "3", "4"};
    int total = 0;
    for (int i = 0; i < 4; i++) {
        static struct search s;
        char label[32];
        snprintf(label, sizeof label, "random, seed %s", seeds[i]);
        run_search("random", seeds[i], false, &s);
        cr_expect_eq(s.ncounts, 16, "%s", label);
        expect_consistent(&s, label);
        cr_expect(fabs(s.colliding - mean) <= 4.5 * sd, "%s: %d colliding sites of 256", label, s.colliding);
        int page_hits = 0;
        for (int k = 0; k < NSITES; k++)
            page_hits += s.shares_page[k];
        if (s.colliding > 0)
            cr_expect_gt(page_hits, 0, "%s: colliding sites never reached a victim's page", label);
        total += s.colliding;
    }
    /* four runs together: binomial(1024, 1/16) */
    cr_expect(fabs(total - 4 * mean) <= 4.5 * 2 * sd, "%d colliding sites in 4 runs", total);
}

static int same_sites(const struct search *a, const struct search *b) {
    return strcmp(a->sites, b->sites) == 0;
}

/* The colliding sites follow the secret: another seed, another set. With
 * the same seed and the same addresses (address randomization off, where
 * the kernel allows it) the set is the same. */
Test(partitions, random_mode_colliding_sites_change_with_the_seed) {
    static struct search a, b, c, a2;
    run_search("random", "11", true, &a);
    run_search("random", "12", true, &b);
    run_search("random", "13", true, &c);
    run_search("random", "11", true, &a2);
    cr_expect(!same_sites(&a, &b) || !same_sites(&a, &c), "three seeds, one set: %s", a.sites);
    cr_expect(!same_sites(&b, &c) || !same_sites(&a, &b), "three seeds, one set");
    if (strcmp(a.base, a2.base) == 0)
        cr_expect_str_eq(a.sites, a2.sites, "seed 11 twice at %s", a.base);
    else
        cr_log_warn("address randomization stayed on (%s, %s): same-seed check skipped", a.base, a2.base);
}

/* Typed mode: the token decides, so every blob site is in the blobs'
 * partition (lower half), never the victims' (upper half): the search
 * finds nothing. */
Test(partitions, typed_mode_search_never_succeeds) {
    static struct search s;
    run_search(NULL, NULL, false, &s);
    expect_consistent(&s, "typed");
    cr_expect_eq(s.colliding, 0);
    cr_expect_str_eq(s.sites, "-");
    cr_expect_geq(s.victim_part, 8);
    for (int k = 0; k < NSITES; k++)
        cr_expect(s.part[k] == s.part[0] && s.part[k] < 8, "site %d in partition %u", k, s.part[k]);
}

Test(partitions, control_one_partition_every_site_collides) {
    static struct search s;
    run_search("none", NULL, false, &s);
    expect_consistent(&s, "none");
    cr_expect_eq(s.colliding, NSITES);
    cr_expect_eq(s.first_hit, 0);
}
