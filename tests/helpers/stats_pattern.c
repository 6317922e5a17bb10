/* Allocates a known pattern and keeps it until exit, for the statistics
 * tests: with PARTMALLOC_TOKEN_MAX=16 and 16 partitions, each partition p
 * that a known type's token reaches (04-15: the unknown group 00-03 is
 * chosen by call site) gets (p + 1) * 10 objects of 64 bytes, through the
 * first token that maps there. Prints nothing, so nothing else allocates.
 *   stats_pattern          allocate, exit (statistics at exit)
 *   stats_pattern wait     allocate, write "ready" to stdout, wait for SIGTERM
 *   stats_pattern free     allocate, free it all, exit
 *   stats_pattern large    allocate, and 3 large blocks of 1100000 bytes of
 *                          which the first is freed, exit
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "partmalloc.h"

#define PATTERN_PARTITIONS 16

static void *objects[PATTERN_PARTITIONS * (PATTERN_PARTITIONS + 1) * 10 / 2];

static void allocate_pattern(void) {
    size_t at = 0;
    for (unsigned p = 0; p < PATTERN_PARTITIONS; p++)
        for (size_t t = 1; t < 2 * PATTERN_PARTITIONS; t++)
            if (pm_token_group(t) != PM_GROUP_UNKNOWN && pm_token_partition(t) == p) {
                for (unsigned i = 0; i < (p + 1) * 10; i++)
                    objects[at++] = pm_malloc_token(64, t);
                break;
            }
}

#define LARGE_BLOCKS 3
#define LARGE_SIZE 1100000

static void large_blocks(void) {
    void *blocks[LARGE_BLOCKS];
    for (int i = 0; i < LARGE_BLOCKS; i++)
        blocks[i] = pm_malloc(LARGE_SIZE);
    pm_free(blocks[0]);
}

int main(int argc, char **argv) {
    allocate_pattern();
    if (argc > 1 && strcmp(argv[1], "free") == 0)
        for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++)
            pm_free(objects[i]);
    if (argc > 1 && strcmp(argv[1], "large") == 0)
        large_blocks();
    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        if (write(STDOUT_FILENO, "ready\n", 6) != 6)
            return 1;
        int sig;
        sigwait(&set, &sig);
    }
    return 0;
}
