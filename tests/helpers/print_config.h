/* Prints the configuration partmalloc settled on, one line:
 *   config mode=<typed|random|none> partitions=<N> token_max=<M> */
#include <stdio.h>

#include "partmalloc.h"

static inline void print_config(void) {
    struct pm_config c;
    pm_get_config(&c);
    const char *mode = c.mode == PM_MODE_TYPED ? "typed" : c.mode == PM_MODE_RANDOM ? "random" : "none";
    printf("config mode=%s partitions=%u token_max=%llu\n", mode, c.partitions, (unsigned long long)c.token_max);
}
