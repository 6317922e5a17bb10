/* Type names for the partitions of a statistics dump. */
#ifndef PM_TOOLS_LABELS_H
#define PM_TOOLS_LABELS_H

#include "dump.h"

/* Labels each partition of `d` with the program's type names, read from the
 * debug info of `exe`: with the counting build's census, the types whose
 * tokens were seen there (random mode: most allocations first; typed mode:
 * every type that maps there when `all_types`); without it, in typed mode,
 * the types whose token maps there. Returns 0, or -1 with a one-line reason
 * in err (no debug info, ...) and the labels the census alone gives. */
int labels_attach(struct dump *d, const char *exe, bool all_types, char *err, size_t errlen);

#endif
