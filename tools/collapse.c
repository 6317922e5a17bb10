/* When isolation collapsed (collapse.h). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "collapse.h"
#include "symbolize.h"
#include "typeinfo.h"

/* What a dump says about its tokens. */
struct token_facts {
    uint64_t total;         /* slots handed out, per the census */
    bool built_with_tokens; /* some call carried a token */
    uint64_t void_token;
    uint64_t token_max;     /* 0: clang's default */
};

static bool is_unknown(const struct token_facts *f, uint64_t token) {
    return token == PM_CENSUS_NO_TOKEN || token == 0 || (f->token_max && token >= f->token_max) ||
           token == f->void_token;
}

static struct token_facts facts_of(const struct dump *d) {
    struct token_facts f = {.token_max = d->view.token_max};
    struct pm_type v = {(char *)"void", 0, pm_type_hash("void")};
    f.void_token = pm_type_token(&v, f.token_max);
    for (size_t i = 0; i < d->view.census_count; i++) {
        f.total += d->census[i].allocs;
        if (d->census[i].token != PM_CENSUS_NO_TOKEN)
            f.built_with_tokens = true;
    }
    return f;
}

static double percent(uint64_t part, uint64_t whole) {
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* "xmalloc (util.c:40) in /usr/bin/prog", or the address when the file has
 * no name for it; `function` gets the bare name ("" if none). */
static void describe_site(const struct pm_site_entry *s, char *out, size_t size, char *function, size_t fsize) {
    struct code_place place;
    function[0] = '\0';
    if (!s->module) {
        snprintf(out, size, "code at %#llx outside any file", (unsigned long long)s->site);
        return;
    }
    bool placed = symbolize_return_address(s->module, s->offset, &place);
    if (!placed || !place.function[0]) {
        snprintf(out, size, "code at offset %#llx of %s (no symbol there)", (unsigned long long)s->offset, s->module);
        return;
    }
    snprintf(function, fsize, "%s", place.function);
    if (place.source[0])
        snprintf(out, size, "%s (%s) in %s", place.function, place.source, s->module);
    else
        snprintf(out, size, "%s in %s", place.function, s->module);
}

/* The fix for a wrapper `function` found in `module`. */
static void fix_for(const struct dump *d, const struct pm_site_entry *s, const char *function, char *out,
                    size_t size) {
    if (!function[0]) {
        snprintf(out, size, "build with debug info (-g) to name the function, then `partmalloc cc --wrapper=NAME`");
        return;
    }
    bool in_program = s->module && d->exe && strcmp(s->module, d->exe) == 0;
    if (strchr(function, '(') || strchr(function, ':')) /* C++: the plugin takes C names */
        snprintf(out, size, "if %s is an allocation wrapper, declare it with __attribute__((malloc, alloc_size(...))) "
                 "and build with `partmalloc cc`", function);
    else if (in_program)
        snprintf(out, size, "if %s is an allocation wrapper, rebuild with `partmalloc cc --wrapper=%s`", function,
                 function);
    else
        snprintf(out, size, "%s is in a library: if it is an allocation wrapper, build that library with "
                 "`partmalloc cc --wrapper=%s`", function, function);
}

static int popcount64(uint64_t v) {
    return __builtin_popcountll(v);
}

/* One site made most allocations, for several size classes, and no type
 * tells its objects apart (a program without tokens, or the site's token
 * names no type): every object it returns shares a partition per class. */
static int busiest_site_line(const struct dump *d, const struct token_facts *f, const char *who, FILE *out) {
    if (!d->view.site_count)
        return 0;
    const struct pm_site_entry *s = &d->sites[0];
    int classes = popcount64(s->classes);
    if (percent(s->allocs, f->total) <= COLLAPSE_SHARE || classes < COLLAPSE_MIN_CLASSES ||
        (f->built_with_tokens && !is_unknown(f, s->token)))
        return 0;
    char where[1024], function[256], fix[512];
    describe_site(s, where, sizeof where, function, sizeof function);
    fix_for(d, s, function, fix, sizeof fix);
    fprintf(out,
            "partmalloc %s: isolation collapsed: one call site made %.1f%% of the %llu allocations, in %d size "
            "classes: %s. Every object it returns shares one partition of its size class, whatever its type; %s.\n",
            who, percent(s->allocs, f->total), (unsigned long long)f->total, classes, where, fix);
    return 1;
}

/* In a program built with tokens, most allocations of no known type; the
 * busiest such site is named unless the line before named it. */
static int unknown_line(const struct dump *d, const struct token_facts *f, const char *who, FILE *out,
                        bool site_named) {
    if (!f->built_with_tokens)
        return 0;
    uint64_t none = 0, fallback = 0, of_void = 0;
    for (size_t i = 0; i < d->view.census_count; i++) {
        uint64_t t = d->census[i].token, n = d->census[i].allocs;
        if (t == PM_CENSUS_NO_TOKEN)
            none += n;
        else if (t == f->void_token)
            of_void += n;
        else if (is_unknown(f, t))
            fallback += n;
    }
    uint64_t unknown = none + fallback + of_void;
    if (percent(unknown, f->total) <= COLLAPSE_SHARE)
        return 0;
    const struct pm_site_entry *busiest = NULL;
    for (size_t i = site_named ? 1 : 0; i < d->view.site_count && !busiest; i++)
        if (is_unknown(f, d->sites[i].token))
            busiest = &d->sites[i];
    char where[1024] = "", function[256] = "", fix[512] = "";
    if (busiest) {
        describe_site(busiest, where, sizeof where, function, sizeof function);
        fix_for(d, busiest, function, fix, sizeof fix);
    }
    fprintf(out,
            "partmalloc %s: isolation collapsed: %.1f%% of the %llu allocations have no known type (void %.1f%%, "
            "fallback token %.1f%%, no token %.1f%%), so they share the unknown partitions%s%s%s%s.\n",
            who, percent(unknown, f->total), (unsigned long long)f->total, percent(of_void, f->total),
            percent(fallback, f->total), percent(none, f->total),
            busiest ? (site_named ? "; the busiest other such site: " : "; the busiest such site: ") : "", where,
            busiest ? "; " : "", fix);
    return 1;
}

/* The name of `token` among the program's types, or "" if none has it. */
static void name_of_token(const struct dump *d, uint64_t token, char *out, size_t size) {
    out[0] = '\0';
    struct pm_type *types;
    size_t n;
    char err[256];
    if (!d->exe || !*d->exe || pm_types_read(d->exe, &types, &n, err, sizeof err) != 0)
        return;
    for (size_t i = 0; i < n && !out[0]; i++)
        if (pm_type_token(&types[i], d->view.token_max) == token)
            snprintf(out, size, "%s", types[i].name);
    pm_types_free(types, n);
}

/* One real type made most allocations, in several size classes: a wrapper
 * that casts its block (to `long *`, say) types every object alike. */
static int busiest_token_line(const struct dump *d, const struct token_facts *f, const char *who, FILE *out) {
    for (size_t i = 0; i < d->view.census_count; i++) {
        uint64_t token = d->census[i].token, allocs = 0, classes = 0;
        if (is_unknown(f, token))
            continue;
        bool first = true; /* each token once: at its first census row */
        for (size_t j = 0; j < i && first; j++)
            first = d->census[j].token != token;
        if (!first)
            continue;
        for (size_t j = i; j < d->view.census_count; j++)
            if (d->census[j].token == token)
                allocs += d->census[j].allocs;
        const struct pm_site_entry *busiest = NULL;
        for (size_t j = 0; j < d->view.site_count; j++)
            if (d->sites[j].token == token) {
                classes |= d->sites[j].classes;
                busiest = busiest ? busiest : &d->sites[j];
            }
        if (percent(allocs, f->total) <= COLLAPSE_SHARE || popcount64(classes) < COLLAPSE_MIN_CLASSES)
            continue;
        char name[256], where[1024] = "", function[256] = "", fix[512] = "";
        name_of_token(d, token, name, sizeof name);
        if (busiest) {
            describe_site(busiest, where, sizeof where, function, sizeof function);
            fix_for(d, busiest, function, fix, sizeof fix);
        }
        fprintf(out,
                "partmalloc %s: isolation collapsed: one type, %s, is the type of %.1f%% of the %llu allocations, in "
                "%d size classes; if these objects are not all of it, a cast around an allocator gives them its "
                "type%s%s%s%s.\n",
                who, name[0] ? name : "(a token no type of the program has)", percent(allocs, f->total),
                (unsigned long long)f->total, popcount64(classes), busiest ? "; the busiest site: " : "", where,
                busiest ? "; " : "", fix);
        return 1;
    }
    return 0;
}

int collapse_report(const struct dump *d, const char *who, FILE *out) {
    if (!d->census)
        return 0;
    struct token_facts f = facts_of(d);
    if (f.total < COLLAPSE_MIN_ALLOCS)
        return 0;
    int lines = busiest_site_line(d, &f, who, out);
    lines += unknown_line(d, &f, who, out, lines > 0);
    if (!lines && f.built_with_tokens)
        lines += busiest_token_line(d, &f, who, out);
    return lines;
}
