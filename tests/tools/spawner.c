/* A program that starts children, for `partmalloc run --processes sum`,
 * built with `partmalloc cc`:
 *   spawner K [mixed]
 * keeps 100 `struct node` alive, then runs itself K times as child i
 * (1..K), each keeping i * 100 nodes and one 2 MiB block alive, one after
 * the other. With "mixed", the last child runs with PARTMALLOC_PARTITIONS=4.
 * Prints on stdout "token <node's token>". */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct node {
    struct node *next;
    long value;
};

static struct node *kept;

static void keep_nodes(long n) {
    for (long i = 0; i < n; i++) {
        struct node *e = malloc(sizeof(struct node));
        e->next = kept;
        e->value = i;
        kept = e;
    }
}

static int run_child(long i, bool other_partitions) {
    pid_t pid = fork();
    if (pid == 0) {
        if (other_partitions)
            setenv("PARTMALLOC_PARTITIONS", "4", 1);
        char arg[32];
        snprintf(arg, sizeof arg, "%ld", i);
        execl("/proc/self/exe", "spawner", "child", arg, (char *)NULL);
        _exit(127);
    }
    int status;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        long i = atol(argv[2]);
        keep_nodes(i * 100);
        static char *block;
        block = malloc(2 << 20); /* above 1 MiB: a large block */
        block[0] = 1;
        return 0;
    }
    if (argc < 2)
        return 2;
    long k = atol(argv[1]);
    bool mixed = argc > 2 && strcmp(argv[2], "mixed") == 0;
    keep_nodes(100);
    int failed = 0;
    for (long i = 1; i <= k; i++)
        failed |= run_child(i, mixed && i == k);
    printf("token %zu\n", __builtin_infer_alloc_token(sizeof(struct node)));
    return failed;
}
