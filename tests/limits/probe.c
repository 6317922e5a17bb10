/* What a process can do under a limit, with whichever allocator it runs
 * (built without partmalloc; tests/scripts/limits.sh runs it with and
 * without LD_PRELOAD). One command per run, one line of output:
 *   start                 a few allocations: prints "started"
 *   fill SIZE MIB         SIZE-byte blocks from one call site until NULL
 *                         or MIB MiB, then all freed and allocated again:
 *                         "held=<MiB> errno=<name> again=<MiB>"
 *   count SIZE MAX        live SIZE-byte blocks until NULL or MAX of them,
 *                         then malloc(24) from another site, and the
 *                         footprint while they are live:
 *                         "blocks=<n> small=<ok|NULL> rss=<KiB> maps=<n>"
 *   churn THREADS ROUNDS  THREADS threads at a time allocating and freeing,
 *                         ROUNDS times: "rss=<KiB>,<KiB> maps=<n>,<n>
 *                         warm=<KiB>", after the first round and after the
 *                         last, and the largest after one of the first 5
 *   aligned0              aligned_alloc(65536, 0) and posix_memalign(65536,
 *                         0) each grown by realloc to 40000 bytes: "grown"
 *   guard_marks           whether the kernel has guard marks
 *                         (MADV_GUARD_INSTALL): "yes" or "no"
 * Exits 0 when the command ran to its end, 1 otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const char *errno_name(int e) {
    return e == ENOMEM ? "ENOMEM" : e == 0 ? "0" : strerror(e);
}

/* The pointer tables are mapped, not allocated: what they take from the
 * limit is the same with either allocator. */
static void **table(size_t n) {
    void *t = mmap(NULL, n * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return t == MAP_FAILED ? NULL : t;
}

__attribute__((noinline)) static void *one_site(size_t size) {
    return malloc(size);
}

__attribute__((noinline)) static void *other_site(size_t size) {
    return malloc(size);
}

/* Allocates up to `max` blocks into t; how many it got, errno of the NULL. */
static size_t fill_table(void **t, size_t max, size_t size, int *err) {
    size_t n = 0;
    *err = 0;
    while (n < max) {
        errno = 0;
        if (!(t[n] = one_site(size))) {
            *err = errno;
            break;
        }
        n++;
    }
    return n;
}

static int fill(size_t size, size_t mib) {
    size_t max = (mib << 20) / size;
    void **t = table(max);
    if (!t)
        return 1;
    int err, err_again;
    size_t held = fill_table(t, max, size, &err);
    for (size_t i = 0; i < held; i++)
        free(t[i]);
    size_t again = fill_table(t, held, size, &err_again);
    printf("held=%zu errno=%s again=%zu\n", held * size >> 20, errno_name(err), again * size >> 20);
    return 0;
}

static void footprint(long *rss_kib, long *maps);

static int count(size_t size, size_t max) {
    void **t = table(max);
    if (!t)
        return 1;
    int err;
    size_t n = fill_table(t, max, size, &err);
    void *small = other_site(24);
    long rss, maps;
    footprint(&rss, &maps);
    printf("blocks=%zu small=%s rss=%ld maps=%ld\n", n, small ? "ok" : "NULL", rss, maps);
    free(small);
    for (size_t i = 0; i < n; i++)
        free(t[i]);
    return 0;
}

static void *churn_thread(void *arg) {
    (void)arg;
    void *p[16];
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < 16; i++)
            if ((p[i] = malloc((size_t)16 << (i % 12))))
                memset(p[i], i, 16);
        for (int i = 0; i < 16; i++)
            free(p[i]);
    }
    return NULL;
}

/* Resident KiB and mapping count of this process. */
static void footprint(long *rss_kib, long *maps) {
    long pages = 0, size;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &pages) != 2)
            pages = 0;
        fclose(f);
    }
    *rss_kib = pages * 4;
    *maps = 0;
    f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    for (int c; (c = getc(f)) != EOF;)
        *maps += c == '\n';
    fclose(f);
}

/* The first rounds, whose largest resident set is "warm" in the output. */
#define CHURN_WARM_ROUNDS 5
static int churn(int threads, int rounds) {
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    long rss[2], maps[2], warm_max = 0;
    if (!tid)
        return 1;
    for (int r = 0; r < rounds; r++) {
        int started = 0;
        for (; started < threads; started++)
            if (pthread_create(&tid[started], NULL, churn_thread, NULL) != 0)
                break;
        for (int i = 0; i < started; i++)
            pthread_join(tid[i], NULL);
        if (started < threads) {
            printf("only %d threads started in round %d\n", started, r);
            return 1;
        }
        long rss_r, maps_r;
        footprint(&rss_r, &maps_r);
        if (r == 0) {
            rss[0] = rss_r;
            maps[0] = maps_r;
        }
        if (r < CHURN_WARM_ROUNDS && rss_r > warm_max)
            warm_max = rss_r;
    }
    footprint(&rss[1], &maps[1]);
    printf("rss=%ld,%ld maps=%ld,%ld warm=%ld\n", rss[0], rss[1], maps[0], maps[1], warm_max);
    free(tid);
    return 0;
}

static int grow_zero_aligned(void) {
    void *a = aligned_alloc(65536, 0), *b = NULL;
    if (posix_memalign(&b, 65536, 0) != 0)
        b = NULL;
    void *a2 = realloc(a, 40000), *b2 = realloc(b, 40000);
    if (!a2 || !b2) {
        printf("realloc of a zero-size 64 KiB-aligned block: %s (errno %s)\n", a2 ? "posix_memalign's NULL" : "aligned_alloc's NULL", errno_name(errno));
        return 1;
    }
    memset(a2, 1, 40000);
    memset(b2, 2, 40000);
    free(a2);
    free(b2);
    printf("grown\n");
    return 0;
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
static int has_guard_marks(void) {
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool yes = m != MAP_FAILED && madvise(m, 4096, MADV_GUARD_INSTALL) == 0;
    if (m != MAP_FAILED)
        munmap(m, 4096);
    puts(yes ? "yes" : "no");
    return 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "";
    size_t x = argc > 2 ? strtoull(argv[2], NULL, 0) : 0, y = argc > 3 ? strtoull(argv[3], NULL, 0) : 0;
    if (!strcmp(cmd, "start")) {
        char *s = strdup("started");
        void *p = malloc(100000);
        if (!s || !p)
            return 1;
        puts(s);
        free(p);
        free(s);
        return 0;
    }
    if (!strcmp(cmd, "fill") && x && y)
        return fill(x, y);
    if (!strcmp(cmd, "count") && x && y)
        return count(x, y);
    if (!strcmp(cmd, "churn") && x && y)
        return churn((int)x, (int)y);
    if (!strcmp(cmd, "aligned0"))
        return grow_zero_aligned();
    if (!strcmp(cmd, "guard_marks"))
        return has_guard_marks();
    fprintf(stderr, "usage: probe start | fill SIZE MIB | count SIZE MAX | churn THREADS ROUNDS | aligned0 | guard_marks\n");
    return 2;
}
