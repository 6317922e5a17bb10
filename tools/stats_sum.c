/* Summing the statistics dumps of many processes (stats_sum.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "collapse.h"
#include "labels.h"
#include "stats_sum.h"

/* Grows an array by one element; false when memory ran out. */
static bool grow(void **array, size_t count, size_t size) {
    void *p = realloc(*array, (count + 1) * size);
    if (!p)
        return false;
    *array = p;
    return true;
}

static void add_cache(struct pm_cache_stats *into, const struct pm_cache_stats *c) {
    /* every field counts something, except those that say what the cache is */
    struct pm_cache_stats shape = *into;
#define ADD_CACHE_FIELD(type, field, what) into->field += c->field;
    PM_CACHE_STAT_FIELDS(ADD_CACHE_FIELD)
#undef ADD_CACHE_FIELD
    into->partition = shape.partition;
    into->size_class = shape.size_class;
    into->object_size = shape.object_size;
    into->objs_per_slab = shape.objs_per_slab;
    into->pages_per_slab = shape.pages_per_slab;
}

static void add_caches(struct dump *sum, const struct dump *d) {
    for (size_t i = 0; i < d->view.count; i++) {
        const struct pm_cache_stats *c = &d->caches[i];
        size_t at = 0;
        while (at < sum->view.count && !(sum->caches[at].kind == c->kind && !strcmp(sum->caches[at].name, c->name)))
            at++;
        if (at == sum->view.count) {
            if (!grow((void **)&sum->caches, at, sizeof *sum->caches))
                continue;
            sum->caches[at] = *c;
            sum->view.count++;
        } else {
            add_cache(&sum->caches[at], c);
        }
    }
    sum->view.caches = sum->caches;
}

static void add_census(struct dump *sum, const struct dump *d) {
    if (!d->census)
        return;
    if (!sum->census && !(sum->census = calloc(1, sizeof *sum->census)))
        return;
    for (size_t i = 0; i < d->view.census_count; i++) {
        const struct pm_census_entry *e = &d->census[i];
        size_t at = 0, n = sum->view.census_count;
        while (at < n && !(sum->census[at].partition == e->partition && sum->census[at].token == e->token))
            at++;
        if (at == n) {
            if (!grow((void **)&sum->census, n, sizeof *sum->census))
                continue;
            sum->census[at] = *e;
            sum->view.census_count++;
        } else {
            sum->census[at].allocs += e->allocs;
        }
    }
    sum->view.census = sum->census;
}

/* The same call site in two processes: the same offset in the same file
 * (addresses move with ASLR), or the same address outside any file. */
static bool same_site(const struct pm_site_entry *a, const struct pm_site_entry *b) {
    if (a->module || b->module)
        return a->module && b->module && a->offset == b->offset && strcmp(a->module, b->module) == 0;
    return a->site == b->site;
}

static void add_sites(struct dump *sum, const struct dump *d) {
    if (!d->sites)
        return;
    if (!sum->sites && !(sum->sites = calloc(1, sizeof *sum->sites)))
        return;
    for (size_t i = 0; i < d->view.site_count; i++) {
        const struct pm_site_entry *e = &d->sites[i];
        size_t at = 0, n = sum->view.site_count;
        while (at < n && !same_site(&sum->sites[at], e))
            at++;
        if (at == n) {
            if (!grow((void **)&sum->sites, n, sizeof *sum->sites))
                continue;
            sum->sites[at] = *e;
            sum->sites[at].module = e->module ? strdup(e->module) : NULL;
            sum->view.site_count++;
        } else {
            sum->sites[at].allocs += e->allocs;
            sum->sites[at].classes |= e->classes;
        }
    }
    sum->view.sites = sum->sites;
    /* how many distinct sites all the processes had is not known: at least
     * the most one of them had, and those told apart here */
    if (d->view.sites_seen > sum->view.sites_seen)
        sum->view.sites_seen = d->view.sites_seen;
    if (sum->view.site_count > sum->view.sites_seen)
        sum->view.sites_seen = sum->view.site_count;
}

static void add_large_and_small(struct pm_stats_view *sum, const struct pm_stats_view *v) {
    sum->large.active_blocks += v->large.active_blocks;
    sum->large.active_bytes += v->large.active_bytes;
    sum->large.kept_blocks += v->large.kept_blocks;
    sum->large.allocs += v->large.allocs;
    sum->large.frees += v->large.frees;
    sum->large.peak_blocks += v->large.peak_blocks; /* an upper bound: the peaks need not coincide */
    sum->large.peak_bytes += v->large.peak_bytes;
    sum->small.active_bytes += v->small.active_bytes;
    sum->small.peak_bytes += v->small.peak_bytes;
}

void stats_sum_add(struct dump *sum, const struct dump *d) {
    if (!sum->exe) { /* the first dump gives the configuration */
        sum->view.mode = d->view.mode;
        sum->view.partitions = d->view.partitions;
        sum->view.token_max = d->view.token_max;
        sum->view.plain_calls_unknown = d->view.plain_calls_unknown;
        sum->exe = strdup(d->exe ? d->exe : "");
        sum->view.exe = sum->exe;
        sum->view.pid = 0; /* a sum is no one process */
    }
    add_caches(sum, d);
    add_census(sum, d);
    add_sites(sum, d);
    add_large_and_small(&sum->view, &d->view);
}

/* The configuration field in which two dumps differ, or NULL. */
static const char *differing_field(const struct pm_stats_view *a, const struct pm_stats_view *b) {
    if (a->mode != b->mode)
        return "mode";
    if (a->partitions != b->partitions)
        return "partitions";
    if (a->token_max != b->token_max)
        return "token max";
    if (a->plain_calls_unknown != b->plain_calls_unknown)
        return "where calls without a token go (programs built with tokens or without)";
    return NULL;
}

/* The processes of one configuration. */
struct sum_group {
    struct dump sum;
    size_t processes;
    const char *first_field;    /* how it differs from the first group */
};

static int by_allocs_most_first(const void *a, const void *b) {
    const struct pm_site_entry *x = a, *y = b;
    return x->allocs < y->allocs ? 1 : x->allocs > y->allocs ? -1 : 0;
}

/* Reads stats-PID.json of `pid` and adds it to its group; false when it
 * could not be read (said on `out`). */
static bool add_dump_file(const char *dir, long pid, struct sum_group **groups, size_t *ngroups, FILE *out) {
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/stats-%ld.json", dir, pid);
    struct dump d;
    if (dump_load(path, &d, err, sizeof err) != 0) {
        fprintf(out, "partmalloc run: no statistics from process %ld: %s\n", pid, err);
        return false;
    }
    size_t g = 0;
    while (g < *ngroups && differing_field(&(*groups)[g].sum.view, &d.view))
        g++;
    if (g == *ngroups) {
        if (!grow((void **)groups, g, sizeof **groups)) {
            dump_free(&d);
            return false;
        }
        (*groups)[g] = (struct sum_group){.first_field = g ? differing_field(&(*groups)[0].sum.view, &d.view) : NULL};
        (*ngroups)++;
    }
    stats_sum_add(&(*groups)[g].sum, &d);
    (*groups)[g].processes++;
    dump_free(&d);
    return true;
}

/* The pids of the dumps in `dir`, the main program's first if it is there. */
static size_t dump_pids(const char *dir, pid_t main_pid, long **pids) {
    DIR *dp = opendir(dir);
    size_t n = 0;
    *pids = NULL;
    for (struct dirent *e; dp && (e = readdir(dp));) {
        long pid;
        int end = 0;
        if (sscanf(e->d_name, "stats-%ld.json%n", &pid, &end) != 1 || e->d_name[end] != '\0' ||
            !grow((void **)pids, n, sizeof **pids))
            continue;
        (*pids)[n++] = pid;
        if (pid == main_pid) { /* swap it to the front */
            (*pids)[n - 1] = (*pids)[0];
            (*pids)[0] = pid;
        }
    }
    if (dp)
        closedir(dp);
    return n;
}

static void print_group(const struct stats_sum_request *req, struct sum_group *g, bool with_main, FILE *out) {
    struct dump *d = &g->sum;
    if (d->sites)
        qsort(d->sites, d->view.site_count, sizeof *d->sites, by_allocs_most_first);
    d->view.count_allocations = true; /* most programs free nearly everything by exit */
    if (req->format != PM_STATS_JSON) {
        fprintf(out,
                "partmalloc run: the sum of %zu process%s%s: counts are totals; peaks are the sum of each "
                "process's peak, an upper bound on the peak at any one moment%s%s\n",
                g->processes, g->processes == 1 ? "" : "es",
                with_main ? (g->processes == 1 ? " (the program)" : " (the program and those it started)")
                          : " started by the program",
                g->first_field ? "; they differ from the first sum in " : "", g->first_field ? g->first_field : "");
        char err[512];
        const char *exe = d->exe && *d->exe ? d->exe : req->program;
        if (labels_attach(d, exe, req->all_types, err, sizeof err) != 0)
            fprintf(out, "partmalloc run: no type names: %s\n", err);
    }
    dump_print(d, req->format, out);
    if (req->format != PM_STATS_JSON)
        collapse_report(d, "run", out);
}

size_t stats_sum_print(const struct stats_sum_request *req, FILE *out) {
    long *pids;
    size_t npids = dump_pids(req->dir, req->main_pid, &pids), summed = 0, ngroups = 0;
    struct sum_group *groups = NULL;
    bool main_first = false; /* the first group holds the program's own dump */
    for (size_t i = 0; i < npids; i++) {
        bool added = add_dump_file(req->dir, pids[i], &groups, &ngroups, out);
        summed += added;
        main_first |= i == 0 && added && pids[0] == req->main_pid;
    }
    free(pids);
    if (summed == 0)
        fprintf(out, "partmalloc run: no statistics from any process to sum\n");
    if (ngroups > 1 && req->format != PM_STATS_JSON)
        fprintf(out, "partmalloc run: the %zu processes ran in %zu configurations, not summed together: one sum for each\n",
                summed, ngroups);
    for (size_t g = 0; g < ngroups; g++) {
        print_group(req, &groups[g], g == 0 && main_first, out);
        dump_free(&groups[g].sum);
    }
    free(groups);
    return summed;
}
