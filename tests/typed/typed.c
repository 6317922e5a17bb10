/* Typed placement: built by tests.mk with clang-22 -fsanitize=alloc-token for
 * -falloc-token-max 2, 16, 64 and none, and with the fast ABI for max 16.
 * The compiler turns each allocation below into __alloc_token_malloc(size,
 * token) (or __alloc_token_<token>_malloc(size)); partmalloc places it.
 *
 * Run with PARTMALLOC_TOKEN_MAX set to the max this build used (unset or 0
 * for none). For every allocation it checks, with pm_ptr_info:
 *   typed mode: types holding pointers sit in partitions [N/2, N), the others
 *               in [N/4, N/2), unknowns in [0, N/4) (N >= 4; for N = 2 the
 *               pointers and unknowns in 0, the others in 1; everything in
 *               0 for N = 1), and the
 *               partition is pm_token_partition(token) for the token Clang
 *               infers (__builtin_infer_alloc_token), which in turn is the
 *               documented mapping recomputed here;
 *   random mode: the token is ignored: 64 call sites of one type scatter
 *               over the partitions, and each site keeps its partition;
 *   none:       everything is in partition 0.
 * Clang 22 infers no type for posix_memalign and reallocarray and passes its
 * fallback token 0 there (the unknown group); those checks accept either
 * placement.
 * Prints one line per check and a closing "typed: ..." line; exits 1 on any
 * mismatch.
 *
 * Arguments choose sections (default: all of them):
 *   placement  the allocation shapes Clang infers a type from
 *   retype     realloc within the same size class to a different type
 *   spread     64 call sites allocating one type, each called twice
 *   fallback   tokens that name no type, and calls without one, go to the
 *              unknown group
 */
#define _DEFAULT_SOURCE /* posix_memalign, reallocarray, memalign under -std=c17 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "partmalloc.h"

/* The token ABI's entry point, called directly in the fallback section. */
void *__alloc_token_malloc(size_t size, size_t token);

/* ---- types that hold pointers ---- */
struct named { char *name; int id; };
struct node { struct node *next; long value; };           /* linked list */
struct table { void *slots[8]; size_t used; };            /* array of pointers */
struct callback { void (*fn)(void *); int flags; };      /* function pointer */
struct outer { int tag; struct named inner; };           /* nested pointer member */
union either { long number; char *text; };

/* ---- types that do not ---- */
struct ints { int a, b, c; };
struct text { char buf[40]; int len; };
struct matrix { double m[4][4]; };

static struct pm_config cfg;
static unsigned n_checked, n_bad;
static const char *mode_name(enum pm_mode m) {
    return m == PM_MODE_TYPED ? "typed" : m == PM_MODE_RANDOM ? "random" : m == PM_MODE_NONE ? "none" : "?";
}

/* The documented mapping (docs/tokens.md, docs/choosing-a-mode.md), written
 * out independently of the library: a partition, or -1 for "somewhere in
 * the unknown group, by call site". A token names no type when it is 0,
 * at or above the max, or void's: SipHash-2-4 of "void" modulo max/2. */
static int token_is_unknown(uint64_t token) {
    uint64_t max = cfg.token_max ? cfg.token_max : UINT64_MAX, half = max / 2;
    return token == 0 || token >= max || token == 0xca2f84459ea703e5ull % half;
}

static int documented_partition(uint64_t token) {
    uint64_t max = cfg.token_max ? cfg.token_max : UINT64_MAX, half = max / 2;
    unsigned n = cfg.partitions, q = n / 4;
    int unknown = token_is_unknown(token), pointers = !unknown && token >= half;
    if (n == 1)
        return 0;
    if (n == 2)
        return unknown || pointers ? 0 : 1;
    if (unknown)
        return -1;
    return pointers ? (int)(2 * q + (token - half) % (2 * q)) : (int)(q + token % q);
}

/* Typed mode's groups: unknown [0, N/4), no pointers [N/4, N/2), pointers
 * [N/2, N); for N = 2 the unknowns share 0 with the pointers; N = 1 is 0. */
static int in_unknown_group(unsigned part) {
    return cfg.partitions < 4 ? part == 0 : part < cfg.partitions / 4;
}
static int in_group(unsigned part, int holds_ptr) {
    unsigned n = cfg.partitions;
    if (n == 1)
        return part == 0;
    if (n == 2)
        return part == (holds_ptr ? 0u : 1u);
    return holds_ptr ? part >= n / 2 : part >= n / 4 && part < n / 2;
}

/* Where a typed-mode allocation with `token` may be: its documented
 * partition, or for an unknown token any partition of the unknown group
 * (pm_token_partition says the group's first, 0). */
static int placed_as_documented(unsigned part, uint64_t token) {
    int doc = documented_partition(token);
    unsigned want = pm_token_partition(token);
    if (doc < 0)
        return in_unknown_group(part) && want == 0;
    return part == want && want == (unsigned)doc;
}

static void report(int ok, const char *label, const char *fmt_detail, unsigned part, size_t token) {
    n_checked++;
    if (!ok)
        n_bad++;
    printf("%-4s %-46s token=%zu partition=%u %s\n", ok ? "ok" : "BAD", label, token, part, fmt_detail);
}

/* Where `p` must be, given it was allocated with `token` for a type that
 * does (holds_ptr) or does not hold pointers. `alt_token` is a second token
 * Clang may pass instead (its fallback, for calls it infers nothing from),
 * or the same token. */
static void check2(const char *label, const void *p, int holds_ptr, size_t token, size_t alt_token) {
    struct pm_ptr_info info;
    char detail[160];
    if (!p) {
        report(0, label, "allocation failed", 0, token);
        return;
    }
    if (!pm_ptr_info(p, &info) || !info.is_small || !info.live || info.start != p) {
        snprintf(detail, sizeof detail, "pm_ptr_info: small=%d live=%d start=%p", info.is_small, info.live,
                 info.start);
        report(0, label, detail, info.partition, token);
        return;
    }
    unsigned part = info.partition, n = cfg.partitions;
    int ok = part < n;
    if (cfg.mode == PM_MODE_NONE) {
        ok = ok && part == 0;
        snprintf(detail, sizeof detail, "(mode none: want 0)");
    } else if (cfg.mode == PM_MODE_RANDOM) {
        snprintf(detail, sizeof detail, "(mode random: from the call site)");
    } else {
        unsigned want = pm_token_partition(token);
        int doc = documented_partition(token);
        int unknown = token_is_unknown(token);
        int group_ok = unknown ? in_unknown_group(part) : in_group(part, holds_ptr);
        int main_ok = placed_as_documented(part, token) && group_ok;
        int alt_ok = alt_token != token && placed_as_documented(part, alt_token);
        ok = ok && (main_ok || alt_ok);
        if (alt_ok && !main_ok)
            snprintf(detail, sizeof detail, "want=%u or the unknown group: Clang passed its fallback token %zu",
                     want, alt_token);
        else
            snprintf(detail, sizeof detail, "want=%u (documented %d) in the %s group%s", want, doc,
                     unknown ? "unknown" : holds_ptr ? "pointer" : "plain", group_ok ? "" : ": WRONG GROUP");
    }
    report(ok, label, detail, part, token);
}

static void check(const char *label, const void *p, int holds_ptr, size_t token) {
    check2(label, p, holds_ptr, token, token);
}

#define TOKEN(T) __builtin_infer_alloc_token(sizeof(T))

/* Keeps the compiler from dropping or merging allocations. */
static void *volatile sink;
static volatile size_t one = 1;

static void section_placement(void) {
    size_t n = one * 5;

    /* malloc(sizeof(T)) */
    struct named *a = malloc(sizeof(struct named));
    check("malloc(sizeof(struct named))", a, 1, TOKEN(struct named));
    struct node *b = malloc(sizeof(struct node));
    check("malloc(sizeof(struct node))", b, 1, TOKEN(struct node));
    struct outer *c = malloc(sizeof(struct outer));
    check("malloc(sizeof(struct outer))", c, 1, TOKEN(struct outer));
    union either *d = malloc(sizeof(union either));
    check("malloc(sizeof(union either))", d, 1, TOKEN(union either));
    struct ints *e = malloc(sizeof(struct ints));
    check("malloc(sizeof(struct ints))", e, 0, TOKEN(struct ints));
    struct text *f = malloc(sizeof(struct text));
    check("malloc(sizeof(struct text))", f, 0, TOKEN(struct text));
    double *g = malloc(sizeof(double));
    check("malloc(sizeof(double))", g, 0, TOKEN(double));
    char *h = malloc(sizeof(char[40]));
    check("malloc(sizeof(char[40]))", h, 0, TOKEN(char[40]));
    free(a), free(b), free(c), free(d), free(e), free(f), free(g), free(h);

    /* (T *)malloc(...) with a size that names no type */
    size_t raw = 48 + one - 1;
    sink = (struct node *)malloc(raw);
    check("(struct node *)malloc(48)", sink, 1, TOKEN(struct node));
    free(sink);
    sink = (struct callback *)malloc(raw);
    check("(struct callback *)malloc(48)", sink, 1, TOKEN(struct callback));
    free(sink);
    sink = (struct matrix *)malloc(raw * 3);
    check("(struct matrix *)malloc(144)", sink, 0, TOKEN(struct matrix));
    free(sink);
    sink = (int *)malloc(raw);
    check("(int *)malloc(48)", sink, 0, TOKEN(int));
    free(sink);

    /* T *p = malloc(...): the declared type */
    struct table *t = malloc(raw * 2);
    check("struct table *t = malloc(96)", t, 1, TOKEN(struct table));
    free(t);
    struct ints *ti = malloc(raw * 2);
    check("struct ints *t = malloc(96)", ti, 0, TOKEN(struct ints));
    free(ti);

    /* calloc(n, sizeof(T)) */
    struct node *cn = calloc(n, sizeof(struct node));
    check("calloc(n, sizeof(struct node))", cn, 1, TOKEN(struct node));
    struct table *ct = calloc(n, sizeof(struct table));
    check("calloc(n, sizeof(struct table))", ct, 1, TOKEN(struct table));
    double *cd = calloc(n, sizeof(double));
    check("calloc(n, sizeof(double))", cd, 0, TOKEN(double));
    struct ints *cs = calloc(n, sizeof(struct ints));
    check("calloc(n, sizeof(struct ints))", cs, 0, TOKEN(struct ints));
    free(cn), free(ct), free(cd), free(cs);

    /* malloc(sizeof(T) * n) and malloc(n * sizeof(T)) */
    char **v = malloc(sizeof(char *) * n);
    check("malloc(sizeof(char *) * n)", v, 1, TOKEN(char *));
    struct named *vn = malloc(n * sizeof(struct named));
    check("malloc(n * sizeof(struct named))", vn, 1, TOKEN(struct named));
    uintptr_t *vu = malloc(sizeof(uintptr_t) * n); /* Clang counts uintptr_t as a pointer */
    check("malloc(sizeof(uintptr_t) * n)", vu, 1, TOKEN(uintptr_t));
    int *vi = malloc(sizeof(int) * n);
    check("malloc(sizeof(int) * n)", vi, 0, TOKEN(int));
    struct text *vt = malloc(n * sizeof(struct text));
    check("malloc(n * sizeof(struct text))", vt, 0, TOKEN(struct text));
    free(v), free(vn), free(vu), free(vi), free(vt);

    /* realloc to another size class: a fresh object placed by the
     * realloc's own token */
    struct node *r = malloc(sizeof(struct node));
    r = realloc(r, sizeof(struct node) * 8 * n);
    check("realloc(p, sizeof(struct node) * 40)", r, 1, TOKEN(struct node));
    free(r);
    int *ri = malloc(sizeof(int) * 2);
    ri = realloc(ri, sizeof(int) * 64 * n);
    check("realloc(p, sizeof(int) * 320)", ri, 0, TOKEN(int));
    free(ri);
    struct table *rt = malloc(sizeof(struct table));
    rt = realloc(rt, sizeof(struct table) * n);
    check("realloc(p, sizeof(struct table) * 5)", rt, 1, TOKEN(struct table));
    free(rt);

    /* aligned_alloc */
    struct named *al = aligned_alloc(64, sizeof(struct named));
    check("aligned_alloc(64, sizeof(struct named))", al, 1, TOKEN(struct named));
    free(al);
    struct table *at = aligned_alloc(256, sizeof(struct table) * 2);
    check("aligned_alloc(256, sizeof(struct table) * 2)", at, 1, TOKEN(struct table));
    free(at);
    double *ad = aligned_alloc(32, sizeof(double) * 8);
    check("aligned_alloc(32, sizeof(double) * 8)", ad, 0, TOKEN(double));
    free(ad);

    /* memalign (glibc) */
    struct node *mn = memalign(64, sizeof(struct node));
    check("memalign(64, sizeof(struct node))", mn, 1, TOKEN(struct node));
    free(mn);
    struct ints *mi = memalign(128, sizeof(struct ints) * n);
    check("memalign(128, sizeof(struct ints) * n)", mi, 0, TOKEN(struct ints));
    free(mi);

    /* reallocarray: like posix_memalign below, Clang 22 passes the fallback
     * token 0 */
    struct named *ra = malloc(sizeof(struct named));
    ra = reallocarray(ra, n * 4, sizeof(struct named));
    check2("reallocarray(p, 20, sizeof(struct named))", ra, 1, TOKEN(struct named), 0);
    free(ra);

    /* posix_memalign: Clang 22 infers no type here and passes its fallback
     * token 0 (no type: the unknown group), so either placement is accepted. */
    void *pm = NULL;
    int rc = posix_memalign(&pm, 64, sizeof(struct node));
    check2("posix_memalign(&p, 64, sizeof(struct node))", rc ? NULL : pm, 1, TOKEN(struct node), 0);
    free(pm);
    rc = posix_memalign(&pm, 128, sizeof(struct ints) * n);
    check2("posix_memalign(&p, 128, sizeof(struct ints) * n)", rc ? NULL : pm, 0, TOKEN(struct ints), 0);
    free(pm);
}

/* strdup and strndup, which Clang does not rewrite: a C string's copy
 * goes where `char *s = malloc(n)` goes, the pointer-free group. */
static void section_strings(void) {
    static const char *volatile text = "a string of some length";
    char *s = strdup(text);
    check("strdup(text)", s, 0, TOKEN(char));
    if (s && strcmp(s, text) != 0)
        report(0, "strdup(text): the copy differs", "", 0, TOKEN(char));
    char *t = strndup(text, one * 8);
    check("strndup(text, 8)", t, 0, TOKEN(char));
    if (t && strcmp(t, "a string") != 0)
        report(0, "strndup(text, 8): the copy differs", "", 0, TOKEN(char));
    free(s);
    free(t);
}

/* realloc that stays in its size class but changes the type: a pointer-free
 * buffer becomes an array of pointers, and back. The result must sit where
 * the realloc's token says, like any other allocation of that type. */
static void section_retype(void) {
    char *buf = malloc(sizeof(char[48]));
    memset(buf, 'x', 48);
    struct node **slots = realloc(buf, sizeof(struct node *) * 6); /* 48 bytes, same class */
    check("realloc(char[48] -> struct node *[6])", slots, 1, TOKEN(struct node *));
    free(slots);

    struct table *t = malloc(sizeof(struct table)); /* 72 bytes */
    struct ints *ints = realloc(t, sizeof(struct ints) * 6); /* 72 bytes, same class */
    check("realloc(struct table -> struct ints[6])", ints, 0, TOKEN(struct ints));
    free(ints);
}

/* 64 distinct call sites allocating the same pointer-holding type. */
#define SITE(k) out[k] = malloc(sizeof(struct node));
#define SITE4(k) SITE(k) SITE(k + 1) SITE(k + 2) SITE(k + 3)
#define SITE16(k) SITE4(k) SITE4(k + 4) SITE4(k + 8) SITE4(k + 12)
#define SITE64 SITE16(0) SITE16(16) SITE16(32) SITE16(48)
enum { NSITES = 64 };

__attribute__((noinline)) static void spread_sites(void **out) {
    SITE64
}

static void section_spread(void) {
    void *first[NSITES], *second[NSITES];
    spread_sites(first);
    spread_sites(second); /* the same call sites again */
    unsigned parts[NSITES], seen = 0, lower = 0, n = cfg.partitions;
    unsigned long long used = 0;
    int stable = 1;
    for (int i = 0; i < NSITES; i++) {
        struct pm_ptr_info a, b;
        if (!first[i] || !second[i] || !pm_ptr_info(first[i], &a) || !pm_ptr_info(second[i], &b)) {
            report(0, "spread: allocation or pm_ptr_info failed", "", 0, TOKEN(struct node));
            return;
        }
        parts[i] = a.partition;
        stable &= a.partition == b.partition;
        used |= 1ull << a.partition;
        lower += n >= 2 && a.partition < n / 2;
    }
    for (unsigned p = 0; p < 64; p++)
        seen += (used >> p) & 1;
    char detail[160];
    snprintf(detail, sizeof detail, "distinct=%u in-lower-half=%u same-site-same-partition=%s", seen, lower,
             stable ? "yes" : "NO");
    int ok = stable;
    if (cfg.mode == PM_MODE_TYPED) {
        /* one type, one token: one partition, whatever the call site */
        for (int i = 0; i < NSITES; i++)
            ok &= parts[i] == pm_token_partition(TOKEN(struct node));
        for (int i = 0; i < NSITES; i++)
            ok &= in_group(parts[i], 1);
    } else if (cfg.mode == PM_MODE_NONE) {
        ok &= used == 1;
    } else if (n >= 2) {
        /* tokens ignored: the pointer type also lands in the lower half, and
         * 64 sites over N >= 2 partitions use more than one */
        ok &= seen >= (n >= 8 ? 4u : 2u) && lower > 0 && lower < NSITES;
    }
    report(ok, "spread: 64 sites of struct node, twice", detail, parts[0], TOKEN(struct node));
    for (int i = 0; i < NSITES; i++) {
        free(first[i]);
        free(second[i]);
    }
}

/* Tokens that name no type go to the unknown group in typed mode, chosen
 * there by call site: the fallback 0, one at or above the max
 * (-mllvm -alloc-token-fallback=N is not reduced), void's. And so do calls
 * without a token, this program being built with tokens: libc's own
 * allocation inside getcwd, a plain malloc through a pointer the compiler
 * cannot see. (strdup's copies are strings: section_strings.) */
static void section_fallback(void) {
    uint64_t max = cfg.token_max ? cfg.token_max : UINT64_MAX;
    uint64_t tokens[8];
    int count = 0;
    tokens[count++] = 0;
    tokens[count++] = 0xca2f84459ea703e5ull % (max / 2); /* void */
    tokens[count++] = max;
    if (max != UINT64_MAX) {
        tokens[count++] = max + max / 2;     /* modulo max: a pointer-type token */
        tokens[count++] = 2 * max - 1;       /* modulo max: the last pointer token */
        tokens[count++] = max * 1000 + 1;
    }
    tokens[count++] = UINT64_MAX;
    const char *detail = cfg.mode == PM_MODE_RANDOM ? "(mode random: from the call site)" : "want: the unknown group";
    for (int i = 0; i < count; i++) {
        void *p = __alloc_token_malloc(40, tokens[i]);
        struct pm_ptr_info info;
        int ok = p && pm_ptr_info(p, &info) && info.is_small;
        unsigned part = ok ? info.partition : 0;
        if (cfg.mode == PM_MODE_TYPED)
            ok = ok && in_unknown_group(part) && pm_token_partition(tokens[i]) == 0 &&
                 pm_token_group(tokens[i]) == PM_GROUP_UNKNOWN;
        else if (cfg.mode == PM_MODE_NONE)
            ok = ok && part == 0;
        report(ok, "fallback __alloc_token_malloc, no type", detail, part, tokens[i]);
        free(p);
        p = pm_malloc_token(40, tokens[i]);
        ok = p && pm_ptr_info(p, &info) && info.is_small;
        part = ok ? info.partition : 0;
        if (cfg.mode == PM_MODE_TYPED)
            ok = ok && in_unknown_group(part);
        else if (cfg.mode == PM_MODE_NONE)
            ok = ok && part == 0;
        report(ok, "fallback pm_malloc_token, no type", detail, part, tokens[i]);
        free(p);
    }
    /* clang's own void token: a call cast to void * */
    size_t raw = 40 + one - 1;
    sink = (void *)malloc(raw);
    struct pm_ptr_info info;
    int ok = sink && pm_ptr_info(sink, &info);
    unsigned part = ok ? info.partition : 0;
    if (cfg.mode == PM_MODE_TYPED)
        ok = ok && in_unknown_group(part);
    report(ok, "fallback (void *)malloc(40)", detail, part, tokens[1]);
    free(sink);
    /* calls without a token: all from one site in libc, or through a
     * pointer; in typed mode the unknown group (the program has tokens) */
    void *(*volatile plain_malloc)(size_t) = malloc;
    for (int i = 0; i < 2; i++) {
        void *q = i ? getcwd(NULL, 0) : plain_malloc(raw);
        ok = q && pm_ptr_info(q, &info);
        part = ok ? info.partition : 0;
        if (cfg.mode == PM_MODE_TYPED)
            ok = ok && in_unknown_group(part);
        report(ok, i ? "fallback getcwd (libc, no token)" : "fallback malloc through a pointer (no token)", detail,
               part, 0);
        free(q);
    }
    if (cfg.mode == PM_MODE_TYPED) {
        struct pm_group_range u = cfg.groups[PM_GROUP_UNKNOWN];
        ok = cfg.plain_calls_unknown == (cfg.partitions >= 2) && u.first == 0 &&
             u.count == (cfg.partitions >= 4 ? cfg.partitions / 4 : 1);
        report(ok, "fallback pm_get_config: the unknown group", "", u.count, 0);
    }
}

int main(int argc, char **argv) {
    pm_get_config(&cfg);
    /* Read before any call with a token that names no type (which would
     * prove it too): start-up found this program's tokens in its dynamic
     * symbols, so calls without a token go to the unknown group. */
    if (cfg.mode == PM_MODE_TYPED)
        report(cfg.plain_calls_unknown == (cfg.partitions >= 2), "start-up: the program has tokens",
               cfg.plain_calls_unknown ? "calls without a token: the unknown group" : "calls without a token: all N",
               0, 0);
    static const struct {
        const char *name;
        void (*fn)(void);
    } sections[] = {{"placement", section_placement},
                    {"strings", section_strings},
                    {"retype", section_retype},
                    {"spread", section_spread},
                    {"fallback", section_fallback}};
    enum { NSECTIONS = sizeof sections / sizeof sections[0] };
    for (int s = 0; s < NSECTIONS; s++) {
        int wanted = argc < 2;
        for (int i = 1; i < argc; i++)
            wanted |= strcmp(argv[i], sections[s].name) == 0;
        if (wanted)
            sections[s].fn();
    }
    for (int i = 1; i < argc; i++) {
        int known = 0;
        for (int s = 0; s < NSECTIONS; s++)
            known |= strcmp(argv[i], sections[s].name) == 0;
        if (!known) {
            fprintf(stderr, "typed: unknown section '%s'\n", argv[i]);
            return 2;
        }
    }
    printf("typed: mode=%s partitions=%u token_max=%llu: %u checks, %u mismatches\n", mode_name(cfg.mode),
           cfg.partitions, (unsigned long long)cfg.token_max, n_checked, n_bad);
    return n_bad ? 1 : 0;
}
