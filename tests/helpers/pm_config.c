/* Prints the run-time configuration partmalloc settled on, one line:
 *   config mode=<typed|random|none> partitions=<N> token_max=<M>
 * (tests/unit/test_modes.c starts it with invalid options and reads what
 * it wrote to stdout and stderr.) */
#include <stdio.h>

#include "partmalloc.h"

static const char *mode_name(enum pm_mode m) {
    return m == PM_MODE_TYPED ? "typed" : m == PM_MODE_RANDOM ? "random" : m == PM_MODE_NONE ? "none" : "?";
}

int main(void) {
    struct pm_config c;
    pm_get_config(&c);
    printf("config mode=%s partitions=%u token_max=%llu\n", mode_name(c.mode), c.partitions,
           (unsigned long long)c.token_max);
    return 0;
}
