/* A program whose allocations go through its own wrappers, for the
 * partmalloc command's collapse findings. Built three ways (tests.mk): with
 * plain clang-22 (no tokens), with `partmalloc cc`, and with `partmalloc cc
 * --wrapper=xmalloc,lmalloc`. It allocates 400 objects of each of five
 * struct types, of five size classes, through one path chosen by argv[1]:
 *   wrap    xmalloc, a `void *` wrapper
 *   cast    lmalloc, a wrapper that casts its block to `long *`
 *   direct  malloc(sizeof(T)), one call site per type
 * and frees them. With "wait" as argv[2] it then writes "ready" and waits
 * for SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* noinline and a check after the call: the call to malloc stays in the
 * wrapper (a tail call would return to the wrapper's caller instead). */
__attribute__((noinline)) static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

__attribute__((noinline)) static long *lmalloc(size_t n) {
    long *p = (long *)malloc(n);
    if (!p)
        abort();
    return p;
}

struct link { struct link *next; char tag[8]; };
struct record { char *name; long fields[6]; };
struct matrix { double cells[20]; };
struct samples { double values[40]; };
struct table { void *slots[60]; };

enum path { WRAP, CAST, DIRECT };

#define ALLOC_ONE(T, path)                                                                              \
    ((path) == WRAP ? xmalloc(sizeof(T)) : (path) == CAST ? (void *)lmalloc(sizeof(T)) : malloc(sizeof(T)))

/* One function per type: the direct calls stay apart, one site each. */
#define ALLOCATOR(T)                                                                                    \
    __attribute__((noinline)) static void *alloc_##T(enum path p) {                                    \
        void *o = ALLOC_ONE(struct T, p);                                                              \
        memset(o, 0, sizeof(struct T));                                                                \
        return o;                                                                                      \
    }
ALLOCATOR(link)
ALLOCATOR(record)
ALLOCATOR(matrix)
ALLOCATOR(samples)
ALLOCATOR(table)

static void *objects[2000];

int main(int argc, char **argv) {
    enum path p = argc > 1 && strcmp(argv[1], "cast") == 0 ? CAST : argc > 1 && strcmp(argv[1], "direct") == 0 ? DIRECT : WRAP;
    void *(*const allocators[5])(enum path) = {alloc_link, alloc_record, alloc_matrix, alloc_samples, alloc_table};
    for (int i = 0; i < 2000; i++)
        objects[i] = allocators[i % 5](p);
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        setvbuf(stdout, NULL, _IONBF, 0);
        printf("ready\n");
        int sig;
        sigwait(&set, &sig);
    }
    for (int i = 0; i < 2000; i++)
        free(objects[i]);
    return 0;
}
