/* A program with two known types for the partmalloc command's tests, built
 * with `partmalloc cc`: it keeps 500 `struct with_ptrs` and 300 `struct
 * plain_data` alive and prints their tokens on stdout:
 *   tokens <with_ptrs> <plain_data>
 * With "wait" it then writes "ready" and waits for SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct with_ptrs {
    struct with_ptrs *next;
    void *payload;
};

struct plain_data {
    int values[6];
};

static struct with_ptrs *linked;
static struct plain_data *plain[300];

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0); /* no stdio buffer: every live object is one of ours */
    for (int i = 0; i < 500; i++) {
        struct with_ptrs *w = malloc(sizeof(struct with_ptrs));
        w->next = linked;
        w->payload = NULL;
        linked = w;
    }
    for (int i = 0; i < 300; i++)
        plain[i] = malloc(sizeof(struct plain_data));
    printf("tokens %zu %zu\n", __builtin_infer_alloc_token(sizeof(struct with_ptrs)),
           __builtin_infer_alloc_token(sizeof(struct plain_data)));
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        puts("ready");
        fflush(stdout);
        int sig;
        sigwait(&set, &sig);
    }
    return 0;
}
