/* A statistics dump (the library's JSON) read back into a view that
 * src/stats_format.c renders. */
#ifndef PM_TOOLS_DUMP_H
#define PM_TOOLS_DUMP_H

#include "stats_format.h"

struct dump {
    struct pm_stats_view view;
    struct pm_cache_stats *caches;
    struct pm_census_entry *census;
    struct pm_site_entry *sites;  /* their module names are malloc'ed */
    char *exe;
    char **labels;              /* per partition, or NULL */
};

/* Parses JSON text; 0, or -1 with a one-line reason in err. */
int dump_parse(const char *text, struct dump *d, char *err, size_t errlen);
/* Reads and parses a dump file. */
int dump_load(const char *path, struct dump *d, char *err, size_t errlen);
void dump_free(struct dump *d);
/* Renders to stdio stream `out`; false if writing failed. */
bool dump_print(const struct dump *d, enum pm_stats_format format, FILE *out);

#endif
