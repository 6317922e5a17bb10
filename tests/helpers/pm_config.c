/* Prints the run-time configuration partmalloc settled on, one line:
 *   config mode=<typed|random|none> partitions=<N> token_max=<M>
 * (tests/integration/test_modes.c starts it with invalid options and reads what
 * it wrote to stdout and stderr.) */
#include <stdio.h>

#include "partmalloc.h"
#include "print_config.h"

int main(void) {
    print_config();
    return 0;
}
