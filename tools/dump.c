/* Reading the library's JSON statistics back (with jansson). */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

static uint64_t get_u64(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static int parse_mode(const char *name, enum pm_mode *out) {
    static const char *const names[] = {"typed", "random", "none"};
    for (int m = 0; m < 3; m++)
        if (name && strcmp(name, names[m]) == 0) {
            *out = (enum pm_mode)m;
            return 0;
        }
    return -1;
}

static int parse_kind(const char *name) {
    if (name && strcmp(name, "bucket") == 0)
        return PM_CACHE_BUCKET;
    if (name && strcmp(name, "dedicated") == 0)
        return PM_CACHE_DEDICATED;
    return PM_CACHE_KMALLOC;
}

static void parse_cache(json_t *c, struct pm_cache_stats *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", json_string_value(json_object_get(c, "name")) ?: "?");
    out->kind = parse_kind(json_string_value(json_object_get(c, "kind")));
#define READ_CACHE_FIELD(type, field, what) out->field = (type)get_u64(c, #field);
    PM_CACHE_STAT_FIELDS(READ_CACHE_FIELD)
#undef READ_CACHE_FIELD
}

static void parse_census(json_t *a, struct dump *d) {
    size_t n = json_array_size(a);
    d->census = calloc(n ? n : 1, sizeof *d->census);
    for (size_t i = 0; i < n && d->census; i++) {
        json_t *e = json_array_get(a, i);
        const char *token = json_string_value(json_object_get(e, "token"));
        d->census[i].partition = (unsigned)get_u64(e, "partition");
        d->census[i].token = token ? strtoull(token, NULL, 10) : PM_CENSUS_NO_TOKEN;
        d->census[i].allocs = get_u64(e, "allocs");
    }
    d->view.census = d->census;
    d->view.census_count = d->census ? n : 0;
}

static uint64_t get_u64_str(json_t *obj, const char *key) {
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? strtoull(v, NULL, 10) : 0;
}

static void parse_sites(json_t *a, struct dump *d) {
    size_t n = json_array_size(a);
    d->sites = calloc(n ? n : 1, sizeof *d->sites);
    for (size_t i = 0; i < n && d->sites; i++) {
        json_t *e = json_array_get(a, i);
        const char *token = json_string_value(json_object_get(e, "token"));
        const char *module = json_string_value(json_object_get(e, "module"));
        d->sites[i] = (struct pm_site_entry){
            .site = get_u64_str(e, "site"),
            .token = token ? strtoull(token, NULL, 10) : PM_CENSUS_NO_TOKEN,
            .allocs = get_u64(e, "allocs"),
            .classes = get_u64_str(e, "classes"),
            .module = module ? strdup(module) : NULL,
            .offset = get_u64_str(e, "offset"),
        };
    }
    d->view.sites = d->sites;
    d->view.site_count = d->sites ? n : 0;
}

int dump_parse(const char *text, struct dump *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "not a partmalloc statistics dump (line %d: %s)", jerr.line, jerr.text);
        return -1;
    }
    json_t *caches = json_object_get(root, "caches");
    if (!json_is_object(root) || !json_is_array(caches) ||
        parse_mode(json_string_value(json_object_get(root, "mode")), &d->view.mode) != 0) {
        snprintf(err, errlen, "not a partmalloc statistics dump (no mode or caches)");
        json_decref(root);
        return -1;
    }
    size_t n = json_array_size(caches);
    d->caches = calloc(n ? n : 1, sizeof *d->caches);
    d->exe = strdup(json_string_value(json_object_get(root, "exe")) ?: "");
    for (size_t i = 0; i < n; i++)
        parse_cache(json_array_get(caches, i), &d->caches[i]);
    d->view.caches = d->caches;
    d->view.count = n;
    d->view.partitions = (unsigned)get_u64(root, "partitions");
    if (d->view.partitions == 0 || d->view.partitions > PARTMALLOC_MAX_PARTITIONS)
        d->view.partitions = 1;
    d->view.token_max = get_u64(root, "token_max");
    d->view.plain_calls_unknown = json_is_true(json_object_get(root, "plain_calls_unknown"));
    d->view.pid = (long)get_u64(root, "pid");
    d->view.exe = d->exe;
    json_t *census = json_object_get(root, "census");
    if (json_is_array(census))
        parse_census(census, d);
    json_t *sites = json_object_get(root, "sites");
    if (json_is_array(sites))
        parse_sites(sites, d);
    d->view.sites_seen = get_u64(root, "sites_seen");
    json_t *large = json_object_get(root, "large");
    d->view.large.active_blocks = get_u64(large, "active_blocks");
    d->view.large.active_bytes = get_u64(large, "active_bytes");
    d->view.large.kept_blocks = get_u64(large, "kept_blocks");
    d->view.large.allocs = get_u64(large, "allocs");
    d->view.large.frees = get_u64(large, "frees");
    d->view.large.peak_blocks = get_u64(large, "peak_blocks");
    d->view.large.peak_bytes = get_u64(large, "peak_bytes");
    json_t *small = json_object_get(root, "small");
    d->view.small.active_bytes = get_u64(small, "active_bytes");
    d->view.small.peak_bytes = get_u64(small, "peak_bytes");
    json_decref(root);
    return 0;
}

int dump_load(const char *path, struct dump *d, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(f);
    fclose(mem);
    char why[256];
    int rc = dump_parse(text, d, why, sizeof why);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", path, why);
    free(text);
    return rc;
}

void dump_free(struct dump *d) {
    if (d->labels)
        for (unsigned p = 0; p < d->view.partitions; p++)
            free(d->labels[p]);
    free(d->labels);
    free(d->caches);
    free(d->census);
    for (size_t i = 0; d->sites && i < d->view.site_count; i++)
        free((char *)d->sites[i].module);
    free(d->sites);
    free(d->exe);
    memset(d, 0, sizeof *d);
}

static bool to_stream(void *ctx, const char *text, size_t len) {
    return fwrite(text, 1, len, ctx) == len;
}

bool dump_print(const struct dump *d, enum pm_stats_format format, FILE *out) {
    struct pm_stats_view v = d->view;
    v.partition_labels = (const char *const *)d->labels;
    v.width = pm_stats_width(fileno(out));
    bool ok = pm_stats_render(&v, format, to_stream, out);
    return fflush(out) == 0 && ok;
}
