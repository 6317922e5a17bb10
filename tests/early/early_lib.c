/* A library whose constructor allocates before the program's own code runs
 * (and, listed first in LD_PRELOAD, possibly before partmalloc's). */
#include <stdlib.h>
#include <string.h>

void *early_pointer;
char *early_copy;

__attribute__((constructor(101))) static void allocate_early(void) {
    early_pointer = malloc(40);
    early_copy = strdup("allocated in a constructor");
    void *scratch = calloc(10, 100);
    free(scratch);
}
