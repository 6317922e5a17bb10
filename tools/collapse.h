/* Says when a program's isolation collapsed: one call site (an allocation
 * wrapper, most likely) or one type making most of its allocations, or, in
 * a program built with tokens, most allocations of no known type. Read
 * from the counting build's census and call sites; `partmalloc run` prints
 * it at exit and `partmalloc stat` after the statistics. */
#ifndef PM_TOOLS_COLLAPSE_H
#define PM_TOOLS_COLLAPSE_H

#include <stdio.h>

#include "dump.h"

/* Below this many allocations nothing is judged. */
#define COLLAPSE_MIN_ALLOCS 100
/* "Most": more than this share, in percent. */
#define COLLAPSE_SHARE 50
/* A site or type asking for this many size classes allocates for many
 * types: a wrapper's, not one struct's. */
#define COLLAPSE_MIN_CLASSES 3

/* Writes one line per finding to `out`, each starting "partmalloc WHO: ";
 * returns how many it wrote (0 without a census: the plain library). */
int collapse_report(const struct dump *d, const char *who, FILE *out);

#endif
