/* Typed placement end to end: runs the programs built with clang-22
 * -fsanitize=alloc-token (tests/typed/, one per -falloc-token-max and ABI)
 * under several partition counts and modes. Each program checks its own
 * allocations with pm_ptr_info and exits nonzero on a mismatch (see
 * tests/typed/typed.c); here we choose the environment and read the result.
 */
#include "testutil.h" /* first: it defines _GNU_SOURCE */

#include <stdbool.h>
#include <stdint.h>

/* The last line starting with `prefix`, or "" (static buffer). */
static const char *line_starting(const char *text, const char *prefix) {
    static char line[512];
    line[0] = '\0';
    size_t plen = strlen(prefix);
    for (const char *s = text; s && *s;) {
        const char *end = strchr(s, '\n');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len >= plen && strncmp(s, prefix, plen) == 0) {
            size_t n = len < sizeof line - 1 ? len : sizeof line - 1;
            memcpy(line, s, n);
            line[n] = '\0';
        }
        s = end ? end + 1 : s + len;
    }
    return line;
}

/* The lines of `text` that start with "BAD" (static buffer, for messages). */
static const char *bad_lines(const char *text) {
    static char buf[2048];
    size_t used = 0;
    buf[0] = '\0';
    for (const char *s = text; s && *s;) {
        const char *end = strchr(s, '\n');
        size_t len = end ? (size_t)(end - s) + 1 : strlen(s);
        if (strncmp(s, "BAD", 3) == 0 && used + len < sizeof buf) {
            memcpy(buf + used, s, len);
            used += len;
            buf[used] = '\0';
        }
        s += len;
    }
    return buf;
}

/* ---- the typed programs ---- */

struct build {
    const char *name;    /* under $BUILD/tests/typed/ */
    const char *max;     /* its -falloc-token-max, NULL for none */
    bool cxx;            /* typed_cxx.cc: no section arguments */
};

static const struct build builds[] = {
    {"typed_max2", "2", false},   {"typed_max16", "16", false}, {"typed_max64", "64", false},
    {"typed_maxnone", NULL, false}, {"typed_fast16", "16", false}, {"typed_cxx16", "16", true},
};

static const struct build *find_build(const char *name) {
    for (size_t i = 0; i < sizeof builds / sizeof builds[0]; i++)
        if (strcmp(builds[i].name, name) == 0)
            return &builds[i];
    cr_assert_fail("no build %s", name);
    return NULL;
}

/* Runs a typed program. `token_max`: the PARTMALLOC_TOKEN_MAX value, or
 * NULL to leave it unset; `mode` and `partitions` likewise; `sections`: the
 * typed.c sections to run ("" for all; ignored by the C++ program). */
static struct run run_typed(const struct build *b, const char *token_max, const char *mode, const char *partitions,
                            const char *sections) {
    const struct setting settings[] = {
        {"TOKEN_MAX", token_max}, {"MODE", mode}, {"PARTITIONS", partitions}, {NULL, NULL}};
    /* the arguments: each word of `sections` */
    const char *args[8] = {NULL};
    char words[128];
    snprintf(words, sizeof words, "%s", b->cxx ? "" : sections);
    int na = 0;
    for (char *save = NULL, *w = strtok_r(words, " ", &save); w && na < 7; w = strtok_r(NULL, " ", &save))
        args[na++] = w;
    return run_built("tests/typed", b->name, args, settings, false);
}

static const char *const partition_counts[] = {"1", "2", "8", "16", "32", "64"};

/* Every placement check passes for every partition count, with
 * PARTMALLOC_TOKEN_MAX matching the build. */
static void placement_matrix(const char *name) {
    const struct build *b = find_build(name);
    const char *maxes[2] = {b->max, b->max ? NULL : "0"}; /* none: unset, and 0 */
    for (int m = 0; m < (b->max ? 1 : 2); m++) {
        for (size_t i = 0; i < sizeof partition_counts / sizeof partition_counts[0]; i++) {
            const char *n = partition_counts[i];
            struct run r = run_typed(b, maxes[m], NULL, n, b->cxx ? "placement spread fallback" : "placement spread fallback strings");
            const char *summary = line_starting(r.out, b->cxx ? "typed_cxx:" : "typed:");
            char want[128];
            snprintf(want, sizeof want, "mode=typed partitions=%s token_max=%s:", n, b->max ? b->max : "0");
            cr_expect_eq(exit_code(&r), 0, "%s, N=%s, PARTMALLOC_TOKEN_MAX=%s: exit %d\n%s%s", name, n,
                         maxes[m] ? maxes[m] : "(unset)", exit_code(&r), bad_lines(r.out), r.err);
            cr_expect(strstr(summary, want) != NULL, "%s: summary '%s' lacks '%s'", name, summary, want);
            cr_expect(strstr(summary, " 0 mismatches") != NULL, "%s: %s", name, summary);
            cr_expect_str_empty(r.err, "%s wrote to stderr: %s", name, r.err);
            run_free(&r);
        }
    }
}

Test(typed, placement_max2) { placement_matrix("typed_max2"); }
Test(typed, placement_max16) { placement_matrix("typed_max16"); }
Test(typed, placement_max64) { placement_matrix("typed_max64"); }
Test(typed, placement_max_none) { placement_matrix("typed_maxnone"); }
Test(typed, placement_fast_abi_max16) { placement_matrix("typed_fast16"); }
Test(typed, placement_cxx_max16) { placement_matrix("typed_cxx16"); }

/* The checks have teeth: told the wrong max (none instead of 16), the
 * library sorts pointer types among the pointer-free ones and the programs see it. */
Test(typed, wrong_token_max_is_caught) {
    const char *names[] = {"typed_max16", "typed_fast16", "typed_cxx16"};
    for (int i = 0; i < 3; i++) {
        struct run r = run_typed(find_build(names[i]), NULL, NULL, "16", "placement");
        cr_expect_eq(exit_code(&r), 1, "%s without PARTMALLOC_TOKEN_MAX: exit %d", names[i], exit_code(&r));
        cr_expect(strstr(r.out, "WRONG GROUP") != NULL, "%s: no misplaced pointer type reported", names[i]);
        run_free(&r);
    }
}

/* realloc that stays in its size class but changes the type (char[48] ->
 * struct node *[6], struct table -> struct ints[6]) must still put the
 * result where the realloc's token says. */
Test(typed, realloc_to_another_type_follows_the_token) {
    const char *names[] = {"typed_max2", "typed_max16", "typed_max64", "typed_maxnone", "typed_fast16"};
    for (int i = 0; i < 5; i++) {
        const struct build *b = find_build(names[i]);
        struct run r = run_typed(b, b->max, NULL, "16", "retype");
        cr_expect_eq(exit_code(&r), 0, "%s: realloc kept the object in the old type's partition:\n%s", names[i],
                     bad_lines(r.out));
        run_free(&r);
    }
}

/* A token that names no type (0, void's, one at or above the max: an
 * unreduced -mllvm -alloc-token-fallback) goes to the unknown group, not
 * to token % max, in every build and N; so do calls without a token. */

/* strdup's and strndup's copies go where char's token goes (the
 * pointer-free group), in every build and N; with N = 64 and max 64 char's
 * token is a known one, so the check is not the unknown group's. */
Test(typed, strdup_copies_are_char_strings) {
    const char *names[] = {"typed_max16", "typed_max64", "typed_maxnone"};
    for (int i = 0; i < 3; i++) {
        const struct build *b = find_build(names[i]);
        for (int n = 0; n < 3; n++) {
            const char *parts = (const char *[]){"2", "16", "64"}[n];
            struct run r = run_typed(b, b->max, NULL, parts, "strings");
            cr_expect_eq(exit_code(&r), 0, "%s N=%s:\n%s", names[i], parts, bad_lines(r.out));
            cr_expect(strstr(r.out, "ok   strdup(text)") != NULL, "%s: no strdup check ran", names[i]);
            cr_expect(strstr(r.out, "ok   strndup(text, 8)") != NULL, "%s: no strndup check ran", names[i]);
            run_free(&r);
        }
    }
}
Test(typed, tokens_naming_no_type_go_to_the_unknown_group) {
    const char *names[] = {"typed_max2", "typed_max16", "typed_max64", "typed_maxnone", "typed_fast16"};
    for (int i = 0; i < 5; i++) {
        const struct build *b = find_build(names[i]);
        for (int n = 0; n < 3; n++) {
            const char *parts = (const char *[]){"2", "16", "64"}[n];
            struct run r = run_typed(b, b->max, NULL, parts, "fallback");
            cr_expect_eq(exit_code(&r), 0, "%s N=%s:\n%s", names[i], parts, bad_lines(r.out));
            cr_expect(strstr(r.out, "ok   fallback __alloc_token_malloc") != NULL, "%s: no fallback checks ran",
                      names[i]);
            cr_expect(strstr(r.out, "ok   fallback getcwd") != NULL, "%s: no getcwd check ran", names[i]);
            cr_expect(strstr(r.out, "ok   fallback (void *)malloc") != NULL, "%s: no void check ran", names[i]);
            run_free(&r);
        }
    }
}

/* Random mode ignores tokens: one type from 64 call sites scatters over the
 * partitions (both halves), each site keeping its own. Checked by the
 * programs' "spread" section. */
Test(typed, random_mode_ignores_tokens) {
    for (size_t i = 0; i < sizeof builds / sizeof builds[0]; i++) {
        const struct build *b = &builds[i];
        for (int n = 0; n < 3; n++) {
            const char *parts = (const char *[]){"2", "16", "64"}[n];
            struct run r = run_typed(b, b->max, "random", parts, "placement spread");
            char want[64];
            snprintf(want, sizeof want, "mode=random partitions=%s ", parts);
            cr_expect_eq(exit_code(&r), 0, "%s random N=%s:\n%s", b->name, parts, bad_lines(r.out));
            cr_expect(strstr(r.out, want) != NULL, "%s: %s", b->name, r.out);
            cr_expect(strstr(r.out, "ok   spread") != NULL, "%s: spread check missing or failed", b->name);
            run_free(&r);
        }
    }
}

/* Mode none: one partition, everything in it, tokens or not. */
Test(typed, none_mode_puts_everything_in_partition_0) {
    for (size_t i = 0; i < sizeof builds / sizeof builds[0]; i++) {
        const struct build *b = &builds[i];
        struct run r = run_typed(b, b->max, "none", "16", "placement spread fallback");
        cr_expect_eq(exit_code(&r), 0, "%s mode none:\n%s", b->name, bad_lines(r.out));
        cr_expect(strstr(r.out, "mode=none partitions=1 ") != NULL, "%s: %s", b->name,
                  line_starting(r.out, b->cxx ? "typed_cxx:" : "typed:"));
        run_free(&r);
    }
}

/* A program may state its max by defining partmalloc_token_max (the helper
 * says 16); PARTMALLOC_TOKEN_MAX overrides it. */
Test(typed, token_max_from_the_program_symbol) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/helpers/token_max_sym", build_dir());
    const char *argv[] = {path, NULL};
    static const struct {
        const char *env;
        const char *config;
    } cases[] = {
        {NULL, "config mode=typed partitions=16 token_max=16\n"},
        {"PARTMALLOC_TOKEN_MAX=64", "config mode=typed partitions=16 token_max=64\n"},
        {"PARTMALLOC_TOKEN_MAX=0", "config mode=typed partitions=16 token_max=0\n"},
    };
    for (int c = 0; c < 3; c++) {
        const char *env[] = {cases[c].env, NULL};
        struct run r = run_env(argv, env, false);
        cr_assert_eq(exit_code(&r), 0, "%s", r.err);
        cr_expect(strncmp(r.out, cases[c].config, strlen(cases[c].config)) == 0, "env %s: got %s",
                  cases[c].env ? cases[c].env : "(none)", r.out);
        /* every allocation where pm_token_partition says */
        for (const char *s = strstr(r.out, "token "); s; s = strstr(s + 1, "\ntoken ")) {
            unsigned long long t;
            unsigned part, want;
            cr_assert(sscanf(s + (*s == '\n'), "token %llu partition %u expected %u", &t, &part, &want) == 3);
            uint64_t max = (const uint64_t[]){16, 64, UINT64_MAX}[c];
            bool no_type = t == 0 || t >= max || t == UINT64_C(0xca2f84459ea703e5) % (max / 2);
            if (no_type) /* the unknown group, [0, 4), by call site */
                cr_expect(part < 4 && want == 0, "token %llu: partition %u, pm_token_partition %u", t, part, want);
            else
                cr_expect_eq(part, want, "token %llu: partition %u, pm_token_partition %u", t, part, want);
            if (c == 0) { /* max 16, N 16: the documented mapping (void's token is 5) */
                bool unknown = t == 0 || t >= 16 || t == 5;
                unsigned doc = unknown ? 0 : t >= 8 ? 8 + (unsigned)(t - 8) % 8 : 4 + (unsigned)t % 4;
                if (unknown)
                    cr_expect_lt(part, 4, "token %llu with max 16: partition %u, want the unknown group", t, part);
                else
                    cr_expect_eq(part, doc, "token %llu with max 16: partition %u, want %u", t, part, doc);
            }
        }
        run_free(&r);
    }
}

/* In this process (config from the runner's environment): the documented
 * mapping, token by token, including the edges of both halves. */
Test(typed, token_partition_is_the_documented_mapping) {
    struct pm_config c;
    pm_get_config(&c);
    if (c.mode != PM_MODE_TYPED) {
        for (uint64_t t = 0; t < 1000; t++)
            cr_expect_eq(pm_token_partition(t), 0);
        return;
    }
    uint64_t max = c.token_max ? c.token_max : UINT64_MAX, half = max / 2;
    uint64_t void_token = UINT64_C(0xca2f84459ea703e5) % half;
    unsigned n = c.partitions, q = n / 4;
    uint64_t probes[] = {0, 1, 2, 3, 7, 31, 63, half - 1, half, half + 1, half + 7, max - 2, max - 1, max,
                         max + 1, UINT64_MAX - 1, UINT64_MAX, void_token};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        uint64_t t = probes[i];
        bool unknown = t == 0 || t >= max || t == void_token, pointers = !unknown && t >= half;
        unsigned want = n == 1 ? 0
                        : n == 2 ? (unknown || pointers ? 0 : 1)
                        : unknown ? 0
                        : pointers ? 2 * q + (unsigned)((t - half) % (2 * q))
                                   : q + (unsigned)(t % q);
        cr_expect_eq(pm_token_partition(t), want, "token %llu (max %llu, N %u)", (unsigned long long)t,
                     (unsigned long long)max, c.partitions);
        enum pm_group g = unknown ? PM_GROUP_UNKNOWN : pointers ? PM_GROUP_POINTERS : PM_GROUP_NO_POINTERS;
        cr_expect_eq(pm_token_group(t), g, "token %llu: group", (unsigned long long)t);
    }
}
