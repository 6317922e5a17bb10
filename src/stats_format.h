/* Rendering of statistics as the histogram, /proc/slabinfo or JSON.
 *
 * Shared by the library (at exit, on a signal: so it never allocates and
 * formats numbers itself) and by the partmalloc command (which reads a JSON
 * dump back and adds type names). Output goes through a callback.
 */
#ifndef PM_STATS_FORMAT_H
#define PM_STATS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "partmalloc.h"

/* The counting build's census: allocations per (partition, token). */
#define PM_CENSUS_NO_TOKEN UINT64_MAX /* a plain allocation, placed by its call site */
struct pm_census_entry {
    uint64_t token;
    unsigned partition;
    uint64_t allocs;
};

/* The counting build's call sites: slots handed out per allocation call
 * site (the return address into the caller), with the token of the site's
 * latest call and the size classes it asked for (bit k: class k % 64).
 * `module` and `offset` place the site in its file, where the library could
 * read /proc/self/maps: the same site has the same offset in every run. */
struct pm_site_entry {
    uint64_t site;
    uint64_t token;               /* PM_CENSUS_NO_TOKEN: a call without one */
    uint64_t allocs;
    uint64_t classes;
    const char *module;           /* NULL: not in a file mapping */
    uint64_t offset;              /* in the module's file */
};

/* Returns false if a write failed; rendering stops there. */
typedef bool (*pm_stats_out)(void *ctx, const char *text, size_t len);

struct pm_stats_view {
    const struct pm_cache_stats *caches;
    size_t count;
    struct pm_large_stats large;
    struct pm_small_stats small;
    enum pm_mode mode;
    unsigned partitions;
    uint64_t token_max;           /* 0: Clang's default (no -falloc-token-max) */
    /* Typed mode: calls without a token go to the unknown group (the
     * program was built with tokens), not over all N partitions. */
    bool plain_calls_unknown;
    long pid;
    const char *exe;              /* may be NULL */
    const struct pm_census_entry *census; /* NULL: not the counting build */
    size_t census_count;
    /* The call sites with the most slots, most first (the counting build;
     * NULL elsewhere), and how many distinct sites there were in all. */
    const struct pm_site_entry *sites;
    size_t site_count;
    uint64_t sites_seen;
    /* The histogram counts allocations made so far instead of objects
     * allocated now (for a program that has freed everything by exit). */
    bool count_allocations;
    /* The command's additions, NULL in the library: per partition, the
     * program's type names that map to it, already joined ("node, list"). */
    const char *const *partition_labels;
    /* The histogram's lines are at most this many columns (0: no limit);
     * pm_stats_width gives the terminal's. */
    unsigned width;
};

/* The widest and narrowest line the histogram takes. */
#define PM_STATS_WIDTH_MAX 500u
#define PM_STATS_WIDTH_MIN 20u

/* The width for output to `fd`: COLUMNS when it holds a number from
 * PM_STATS_WIDTH_MIN to PM_STATS_WIDTH_MAX, else the terminal's when fd is
 * one, else 80. */
unsigned pm_stats_width(int fd);

/* PARTMALLOC_VERBOSE's report of the effective configuration. */
struct pm_config_feature {
    const char *name;
    bool on;
};
struct pm_config_view {
    enum pm_mode mode;
    unsigned partitions;
    uint64_t token_max;           /* 0: Clang's default */
    long pid;
    const char *preset;           /* PARTMALLOC_HARDEN's preset */
    const struct pm_config_feature *features;
    size_t feature_count;
};
bool pm_config_render(const struct pm_config_view *view, pm_stats_out out, void *ctx);

/* The histogram's number per partition (objects live, or allocations made
 * when count_allocations) into objs; returns the partitions counted. */
unsigned pm_stats_partition_counts(const struct pm_stats_view *v, uint64_t objs[PARTMALLOC_MAX_PARTITIONS]);

bool pm_stats_render(const struct pm_stats_view *view, enum pm_stats_format format, pm_stats_out out, void *ctx);

/* Names accepted for formats: "histogram", "slabinfo", "json". */
bool pm_stats_format_parse(const char *name, size_t len, enum pm_stats_format *out);

#endif
