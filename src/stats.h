/* Per-cache statistics (stats.c): at exit and on a signal, as the options
 * ask; the reads themselves are the pm_stats_* calls of partmalloc.h. */
#ifndef PM_STATS_H
#define PM_STATS_H

#include "options.h"

#pragma GCC visibility push(hidden)

void pm_stats_configure(const struct pm_options *o); /* at initialization */
void pm_stats_install_signal(void);                   /* from the constructor */

#pragma GCC visibility pop

#endif /* PM_STATS_H */
