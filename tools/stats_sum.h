/* The statistics of every process a program started, summed into one
 * report (`partmalloc run --processes sum`). Counts add up; each peak is the
 * sum of the processes' peaks, an upper bound on the peak at any one moment.
 * Processes whose configurations differ (mode, partitions, token max, or
 * where calls without a token go) are not summed bucket by bucket: each
 * configuration gets a sum of its own. */
#ifndef PM_TOOLS_STATS_SUM_H
#define PM_TOOLS_STATS_SUM_H

#include <stdio.h>
#include <sys/types.h>

#include "dump.h"

struct stats_sum_request {
    const char *dir;            /* holds stats-PID.json, one per process */
    pid_t main_pid;             /* the program run started: its group first */
    const char *program;        /* its name, for the type names when its dump has no exe */
    enum pm_stats_format format;
    bool all_types;
};

/* Adds dump `d` into `sum` (which starts zeroed): caches matched by name and
 * kind, census rows by partition and token, call sites by place in their
 * file. `sum` owns copies of everything; dump_free frees it. */
void stats_sum_add(struct dump *sum, const struct dump *d);

/* Prints the sums of every dump in the directory on `out`; returns how many
 * processes were summed. */
size_t stats_sum_print(const struct stats_sum_request *req, FILE *out);

#endif
