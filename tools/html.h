/* A statistics dump written as a self-contained HTML page. */
#ifndef PM_TOOLS_HTML_H
#define PM_TOOLS_HTML_H

#include "dump.h"

/* Writes the page for `d` (with its labels, if attached) to `path`; 0, or
 * -1 with a one-line reason in err. */
int html_write(const struct dump *d, const char *path, char *err, size_t errlen);

#endif
