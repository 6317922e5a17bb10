/* Partition labels from DWARF type names (typeinfo.h) and the census. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "typed_map.h"
#include "typeinfo.h"

#define LABEL_MAX 120
#define NAMES_PER_PARTITION 6

struct named_token {
    uint64_t token;
    int rank;           /* 0: one word (a struct, typedef or "int"), 1: several, 2: a pointer */
    const char *name;
};

static int name_rank(const char *name) {
    return strchr(name, '*') ? 2 : strchr(name, ' ') ? 1 : 0;
}

static int by_token(const void *a, const void *b) {
    const struct named_token *x = a, *y = b;
    if (x->token != y->token)
        return x->token < y->token ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    return strcmp(x->name, y->name);
}

/* Names left out: those the C and C++ standards reserve (_X..., __x...),
 * the C library's own; qualified variants of other names; libdw's names
 * for nameless base types. */
static bool left_out(const char *name) {
    return (name[0] == '_' && (name[1] == '_' || (name[1] >= 'A' && name[1] <= 'Z'))) ||
           strncmp(name, "const ", 6) == 0 || strncmp(name, "volatile ", 9) == 0 || strncmp(name, "DW_", 3) == 0;
}

/* Every type with its token under the dump's token max, plus "void", which
 * clang names when a call's type is `void *`. */
static struct named_token *token_table(const struct pm_type *types, size_t n, uint64_t token_max, size_t *out_n) {
    struct named_token *t = calloc(n + 1, sizeof *t);
    size_t k = 0;
    for (size_t i = 0; t && i < n; i++)
        if (!left_out(types[i].name))
            t[k++] = (struct named_token){pm_type_token(&types[i], token_max), name_rank(types[i].name),
                                          types[i].name};
    struct pm_type v = {(char *)"void", 0, pm_type_hash("void")};
    if (t)
        t[k++] = (struct named_token){pm_type_token(&v, token_max), 0, "void"};
    if (t)
        qsort(t, k, sizeof *t, by_token);
    *out_n = k;
    return t;
}

/* A label lists type names separated by NAME_SEP and groups (a census
 * row, the count without a token) separated by GROUP_SEP. C++ names hold
 * ", " (std::map<int, long>) but never ';' or '|'. */
#define NAME_SEP "; "
#define GROUP_SEP " | "

/* Appends `sep` (when the label is not empty) and `text` together, or,
 * once `max` characters are near, ends the label with " ..." and takes
 * nothing more: a separator never stands without its text. */
static void label_add_within(char *label, size_t max, const char *sep, const char *text) {
    size_t len = strlen(label), add = (len ? strlen(sep) : 0) + strlen(text);
    if (len >= 4 && strcmp(label + len - 4, " ...") == 0)
        return;
    if (len + add + 4 >= max) {
        if (len == 0 && max > 8) /* one name longer than the column: its start */
            snprintf(label, max, "%.*s ...", (int)(max - 6), text);
        else if (len + 4 < max)
            strcat(label, " ...");
        return;
    }
    if (len)
        strcat(label, sep);
    strcat(label, text);
}

static void label_add(char *label, const char *sep, const char *text) {
    label_add_within(label, LABEL_MAX, sep, text);
}

/* The first entry of the table (sorted by token) with `token`, or n. */
static size_t first_of_token(const struct named_token *t, size_t n, uint64_t token) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t[mid].token < token)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* "a, b, c +K": the names of `token`, best ranked first. */
static void names_of_token(const struct named_token *t, size_t n, uint64_t token, size_t most, char *out,
                           size_t size) {
    size_t lo = first_of_token(t, n, token), shown = 0, more = 0;
    out[0] = '\0';
    for (size_t i = lo; i < n && t[i].token == token; i++) {
        size_t len = strlen(out);
        if (shown < most)
            snprintf(out + len, size - len, "%s%s", shown++ ? NAME_SEP : "", t[i].name);
        else
            more++;
    }
    if (more) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, " +%zu", more);
    }
}

struct census_row {
    uint64_t token, allocs;
};

static int by_allocs(const void *a, const void *b) {
    const struct census_row *x = a, *y = b;
    return x->allocs < y->allocs ? 1 : x->allocs > y->allocs ? -1 : 0;
}

/* The census rows of partition p, most allocations first; returns the count. */
static size_t census_rows(const struct dump *d, unsigned p, struct census_row *rows) {
    size_t k = 0;
    for (size_t i = 0; i < d->view.census_count; i++)
        if (d->view.census[i].partition == p)
            rows[k++] = (struct census_row){d->view.census[i].token, d->view.census[i].allocs};
    qsort(rows, k, sizeof *rows, by_allocs);
    return k;
}

/* Random mode: "types: count" for each token seen in the partition. */
static void census_label(const struct dump *d, unsigned p, const struct named_token *t, size_t tn, char *label,
                         struct census_row *rows) {
    size_t k = census_rows(d, p, rows);
    uint64_t max = d->view.token_max ? d->view.token_max : UINT64_MAX;
    for (size_t i = 0; i < k; i++) {
        char names[200], item[260];
        if (rows[i].token == PM_CENSUS_NO_TOKEN)
            snprintf(names, sizeof names, "no token");
        else if (rows[i].token >= max)
            snprintf(names, sizeof names, "fallback");
        else
            names_of_token(t, tn, rows[i].token, 2, names, sizeof names);
        if (!names[0])
            snprintf(names, sizeof names, "token %llu", (unsigned long long)rows[i].token);
        snprintf(item, sizeof item, "%s: %llu", names, (unsigned long long)rows[i].allocs);
        label_add(label, GROUP_SEP, item);
    }
}

/* Whether typed mode may put `token` in partition p: its own, or any of
 * the unknown group's for a token that names no type. */
static bool token_in_partition(const struct dump *d, uint64_t token, unsigned p) {
    unsigned n = d->view.partitions, at = pm_type_partition(token, n, d->view.token_max);
    return at == p || (at == PM_TOKEN_UNKNOWN_PART && pm_group_of_partition(p, n) == PM_GROUP_UNKNOWN);
}

/* Whether the census rows of a partition hold allocations with `token`. */
static bool token_allocated(const struct census_row *rows, size_t n, uint64_t token) {
    for (size_t i = 0; i < n; i++)
        if (rows[i].token == token && rows[i].allocs)
            return true;
    return false;
}

/* Typed mode: the types whose token maps to the partition, best ranked
 * first (with a census and not `all`, only those allocated there); with a
 * census, also the allocations that came without a token. */
static void typed_label(const struct dump *d, unsigned p, const struct named_token *t, size_t tn, bool all,
                        char *label, struct census_row *rows) {
    /* the count without a token is kept whatever the names take; tokens
     * the debug info names no type with are counted together */
    char no_token[64] = "", unnamed[64] = "";
    uint64_t unnamed_allocs = 0;
    size_t n = d->view.census ? census_rows(d, p, rows) : 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = first_of_token(t, tn, rows[i].token);
        if (rows[i].token == PM_CENSUS_NO_TOKEN)
            snprintf(no_token, sizeof no_token, "%sno token: %llu", GROUP_SEP, (unsigned long long)rows[i].allocs);
        else if (at == tn || t[at].token != rows[i].token)
            unnamed_allocs += rows[i].allocs;
    }
    if (unnamed_allocs)
        snprintf(unnamed, sizeof unnamed, "unnamed: %llu", (unsigned long long)unnamed_allocs);
    size_t names_max = LABEL_MAX - strlen(no_token);
    const struct named_token **mine = calloc(tn + 1, sizeof *mine);
    size_t k = 0, shown = 0;
    for (size_t i = 0; mine && i < tn; i++)
        if (token_in_partition(d, t[i].token, p) && (all || !d->view.census || token_allocated(rows, n, t[i].token)))
            mine[k++] = &t[i];
    for (int rank = 0; rank <= 2; rank++)
        for (size_t i = 0; i < k; i++)
            if (mine[i]->rank == rank && shown++ < NAMES_PER_PARTITION)
                label_add_within(label, names_max, NAME_SEP, mine[i]->name);
    if (shown > NAMES_PER_PARTITION) {
        char more[32];
        snprintf(more, sizeof more, "+%zu", shown - NAMES_PER_PARTITION);
        label_add_within(label, names_max, " ", more);
    }
    free(mine);
    if (unnamed[0])
        label_add_within(label, names_max, GROUP_SEP, unnamed);
    if (no_token[0])
        strcat(label, label[0] ? no_token : no_token + strlen(GROUP_SEP));
}

int labels_attach(struct dump *d, const char *exe, bool all_types, char *err, size_t errlen) {
    struct pm_type *types = NULL;
    size_t ntypes = 0;
    int rc = pm_types_read(exe, &types, &ntypes, err, errlen);
    bool census = d->view.census && d->view.census_count;
    if (rc != 0 && !census)
        return -1;
    if (!census && d->view.mode != PM_MODE_TYPED) {
        pm_types_free(types, ntypes);
        return 0; /* random placement follows call sites: types say nothing without a census */
    }
    size_t tn = 0;
    struct named_token *t = token_table(types, rc == 0 ? ntypes : 0, d->view.token_max, &tn);
    struct census_row *rows = calloc(d->view.census_count + 1, sizeof *rows);
    d->labels = calloc(d->view.partitions, sizeof *d->labels);
    for (unsigned p = 0; d->labels && rows && p < d->view.partitions; p++) {
        d->labels[p] = calloc(1, LABEL_MAX + 1);
        if (!d->labels[p])
            continue;
        if (d->view.mode == PM_MODE_TYPED)
            typed_label(d, p, t, tn, all_types, d->labels[p], rows);
        else
            census_label(d, p, t, tn, d->labels[p], rows);
    }
    free(rows);
    free(t);
    pm_types_free(types, ntypes);
    return rc;
}
