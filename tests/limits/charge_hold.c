/* Holds `mib` MiB in `size`-byte blocks, each written, then says "ready"
 * and waits for its standard input to close, so that its mappings can be
 * read meanwhile. Usage: charge_hold MIB SIZE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: charge_hold MIB SIZE\n");
        return 2;
    }
    size_t bytes = strtoull(argv[1], NULL, 10) << 20, size = strtoull(argv[2], NULL, 10);
    size_t count = size ? bytes / size : 0;
    void **blocks = count ? malloc(count * sizeof *blocks) : NULL;
    for (size_t i = 0; i < count; i++) {
        if (!(blocks[i] = malloc(size))) {
            fprintf(stderr, "charge_hold: block %zu of %zu failed\n", i, count);
            return 1;
        }
        memset(blocks[i], 1, size);
    }
    printf("ready\n");
    fflush(stdout);
    while (getchar() != EOF)
        ;
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}
